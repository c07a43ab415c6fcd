"""Spin an rclpy executor until shutdown, treating every way shutdown arrives as normal.

The node, the replay tool and the benchmark's relay all spin a ``SingleThreadedExecutor``
until SIGINT/SIGTERM.  rclpy's signal handler shuts the context down asynchronously; if that
lands between the executor's ``context.ok()`` check and its wait-set creation, rclpy raises
``RCLError: failed to initialize wait set: the given context is not valid`` instead of
``ExternalShutdownException`` (ros2/rclpy#1166 family; CI once saw it as a traceback and exit
code 1 on SIGTERM).  rclpy offers no race-free spin, so this module owns the handling.
rclpy is imported lazily so the command line tool loads without ROS.
"""

from __future__ import annotations

from typing import Any


def spin_until_shutdown(executor: Any) -> None:
    """Spin ``executor`` (an ``rclpy.executors.Executor``) until its context shuts down.

    An error raised once the context is no longer ok is the shutdown race, not a fault; an
    error while the context is still ok is re-raised so real bugs stay visible.
    """
    from rclpy.executors import ExternalShutdownException

    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:  # rclpy's RCLError subclasses RuntimeError on Humble and later
        if executor.context.ok():
            raise
