"""Console script ``depth_node``: a quiet exit on SIGINT/SIGTERM from the first moment.

Importing the node takes a noticeable time (rclpy, ONNX Runtime, OpenCV, numpy: about
0.3 s on the 2-core test machine, more on a Jetson).  A signal in that time used to end
in a ``KeyboardInterrupt`` traceback from whatever import was running (SIGINT) or a kill
(SIGTERM), although the same signal a second later is a clean stop.  This module imports
nothing heavy: it turns both signals into a quiet exit while the node module is imported,
then restores the previous handlers (``rclpy.init`` installs its own, and ``node.main``
handles a signal during start-up from there on).

``python -m fastdepth_ros.entry`` is the same (``resources.console_command`` falls back to it
where no ``depth_node`` script is on the path).
"""

from __future__ import annotations

import importlib
import signal
from typing import Any, List, Optional

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _run(module: str, args: Optional[List[str]]) -> int:
    try:
        previous = {sig: signal.signal(sig, _interrupt) for sig in _SIGNALS}
        try:
            node_main = importlib.import_module(module, __package__).main
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return node_main(args)
    except KeyboardInterrupt:  # a signal before the node was up (or a second one while stopping)
        return 0


def main(args: Optional[List[str]] = None) -> int:
    return _run(".node", args)


def lifecycle_main(args: Optional[List[str]] = None) -> int:
    """Console script ``depth_lifecycle_node`` (:mod:`fastdepth_ros.lifecycle`), as quiet."""
    return _run(".lifecycle", args)


if __name__ == "__main__":
    import sys

    sys.exit(main())
