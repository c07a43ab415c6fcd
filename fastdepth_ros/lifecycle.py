"""Managed (lifecycle) variant of the depth node: ``depth_lifecycle_node``.

The same :class:`~fastdepth_ros.node.DepthNode` (parameters, pipeline, diagnostics, lazy
processing, QoS) with its two start-up steps run as ROS 2 lifecycle transitions
(``rclpy.lifecycle``, Humble and later), so a launch system or nav2's lifecycle manager
decides when the model loads and when the node works:

* configure: load the model and build the ONNX Runtime session (where a TensorRT engine is
  built: minutes on a first Jetson start, better done before the flight than on the
  first frame), start the model loader (runtime ``model_path`` changes) and create the
  output topics as lifecycle publishers, so they stay in the graph while inactive;
* activate: activate the publishers, subscribe camera_info (and the image, or lazily),
  start the worker;
* deactivate: stop work (image and camera_info unsubscribed, worker joined); the model,
  its loader and the topics stay, so a ``model_path`` change while inactive still loads;
* cleanup: free the session (GPU memory), stop the loader, remove the output topics;
* shutdown (from any state) and error handling: the same teardown to unconfigured.

``/diagnostics`` is published in every state: level OK with the state as the message
outside ``active`` (``DepthNode.collect_statuses``).

A failed configure (missing model, bad parameter, a bad ``qos_overrides`` value: all checked
there) returns FAILURE with the reason logged (one ERROR line), and the node stays
unconfigured (ready for a corrected configure).  Parameters set while unconfigured are the
ones configure uses.  An exception in any transition (activate included) is logged in one
line, and the node is torn down to unconfigured (``on_error``).
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional

from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from .engine import ModelLoadError
from .node import DepthNode
from .node import main as _main


class LifecycleDepthNode(DepthNode, LifecycleNode):
    """DepthNode whose configure/activate are lifecycle transitions (MRO: DepthNode's
    ``super().__init__`` reaches LifecycleNode, which sets up the lifecycle services)."""

    managed = True

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (ModelLoadError, ValueError, FileNotFoundError, ParameterException) as exc:
            self.get_logger().error("configure failed: %s" % exc)
            self._cleanup()
            return TransitionCallbackReturn.FAILURE
        except Exception as exc:  # unexpected: said here, then on_error tears down
            return self._transition_error("configure", exc)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # the lifecycle publishers
        if result != TransitionCallbackReturn.SUCCESS:
            return result
        try:
            self._activate()
        except Exception as exc:  # e.g. a subscription's QoS override rclpy refuses
            return self._transition_error("activate", exc)
        return TransitionCallbackReturn.SUCCESS

    def _transition_error(self, transition: str, exc: BaseException) -> TransitionCallbackReturn:
        """rclpy turns an exception in a transition callback into ERROR without logging
        it; say why in one line, and let on_error tear down to unconfigured."""
        self.get_logger().error("%s failed: %s" % (transition, str(exc) or repr(exc)))
        return TransitionCallbackReturn.ERROR

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()  # the worker first: it must not publish on deactivated publishers
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        self._finalized = True
        self.get_logger().info("shut down (finalized): model freed, output topics removed")
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: back to unconfigured (SUCCESS), ready for a new configure."""
        self.get_logger().error("error during a lifecycle transition (from %s): back to unconfigured"
                                % state.label)
        self._teardown()
        return TransitionCallbackReturn.SUCCESS


def main(args: Optional[List[str]] = None) -> Any:
    """Console script ``depth_lifecycle_node``: starts unconfigured; drive it through
    ``<node>/change_state`` (``ros2 lifecycle set /fastdepth configure``, then ``activate``)."""
    return _main(args, node_class=LifecycleDepthNode)


if __name__ == "__main__":
    sys.exit(main())
