"""A private, local-only ROS 2 graph for the processes this package starts itself.

The demo, the benchmark and the tests start ``depth_node`` next to a publisher of their own.
Their traffic must not meet other graphs on the machine or the network, and 640x480 frames
must cross processes reliably.  The recipe, in one place:

* a private ``ROS_DOMAIN_ID`` (chosen from the process id unless given, so concurrent runs
  on one machine do not meet);
* ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (Iron and later; ``ROS_LOCALHOST_ONLY`` is the
  deprecated Humble spelling and is removed so the two cannot disagree);
* Fast DDS with the package's shared-memory profile ``config/fastdds_shm.xml`` (16 MiB
  segments, built-in transports off): with the default transports 25-40 % of 640x480 rgb8
  frames were lost between processes at 30 Hz on the development machine.

The variables must be set before ``rclpy.init`` in this process and passed to every child.
Users running the node on a robot set the same variables in their shell (docs/node.md, Fast DDS profile).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Mapping, Optional


def shm_profile() -> Optional[Path]:
    """The package's Fast DDS shared-memory profile, or None when it cannot be found."""
    from .resources import share_dir

    try:
        path = share_dir() / "config" / "fastdds_shm.xml"
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


def private_graph_env(
    domain_id: Optional[int] = None,
    profile: Optional[Path] = None,
    base: Optional[Mapping[str, str]] = None,
    apply: bool = False,
) -> Dict[str, str]:
    """Environment for a private local graph: ``base`` (default ``os.environ``) plus the recipe.

    ``domain_id`` None picks 100 + pid % 100; ``profile`` None uses :func:`shm_profile`.
    ``apply`` also updates ``os.environ`` (needed when this process itself joins the graph).
    """
    env = dict(os.environ if base is None else base)
    env["ROS_DOMAIN_ID"] = str(domain_id if domain_id is not None else 100 + os.getpid() % 100)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.pop("ROS_LOCALHOST_ONLY", None)
    env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
    profile = profile if profile is not None else shm_profile()
    if profile is not None:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    env["PYTHONUNBUFFERED"] = "1"  # children's logs arrive as they happen
    if apply:
        os.environ.pop("ROS_LOCALHOST_ONLY", None)
        os.environ.update(env)
    return env
