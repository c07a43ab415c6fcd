"""Node start-up and shutdown, and the non-default inputs: each needs its own process.

* a missing model is a clear fatal error naming the path (exit code 1, no traceback);
* compressed input + sim time + no camera_info + a provider that is not available:
  depth is still published with the input stamp, diagnostics say WARN for the missing
  camera_info and for the provider fallback, frame age follows /clock;
* SIGTERM stops the node cleanly (exit 0, no traceback), also when the shutdown races the
  executor (``fastdepth_ros.spinning``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from deps import need
from ros_harness import (
    Client,
    NodeProcess,
    image_msg,
    isolate_dds,
    scene_rgb8,
    status_values,
    wait_for,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

WARN = 1


def test_missing_model_is_a_clear_fatal_error(tmp_path: Path) -> None:
    env = isolate_dds()
    missing = tmp_path / "no_such_model.onnx"
    proc = NodeProcess(["-p", "model_path:=%s" % missing, "-r", "__ns:=/fdmissing_%d" % os.getpid()], env)
    try:
        rc = proc.wait(60.0)
        out = proc.output()
        assert rc == 1, out
        assert str(missing) in out and "FATAL" in out
        assert "Traceback" not in out
    finally:
        proc.close()


def test_compressed_sim_time_no_camera_info_and_provider_fallback(shipped_model: Path) -> None:
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    from fastdepth_ros.imaging import numpy_to_compressed

    env = isolate_dds()
    ns = "/fdvariant_%d" % os.getpid()
    proc = NodeProcess(
        ["-p", "model_path:=%s" % shipped_model, "-p", "image_transport:=compressed",
         "-p", "providers:=[tensorrt]", "-p", "use_sim_time:=true",
         "-r", "__ns:=%s" % ns, "-r", "image:=%s/cam/image_raw" % ns],
        env,
    )
    client = None
    try:
        client = Client(ns, ns + "/cam/image_raw/compressed", ns + "/cam/camera_info", compressed=True)
        clock_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        clock_pub = client.node.create_publisher(Clock, "/clock", clock_qos)
        assert client.wait_subscribed(40.0), proc.output()
        rgb = scene_rgb8()
        first_depth = None
        start = time.perf_counter()
        age_delay = None
        i = 0
        while time.perf_counter() - start < 20.0 and (first_depth is None or age_delay is None):
            clock = Clock()
            clock.clock.sec = 1000 + i  # sim time: t = 1000 s, advancing 1 s per frame
            clock_pub.publish(clock)
            raw = image_msg(rgb, (1000 + i) * 1_000_000_000 - 100_000_000, frame_id="cam_optical")
            msg = numpy_to_compressed(rgb, "rgb8", "jpeg", header=raw.header)  # 0.1 s old
            client.publish(msg)
            depth = wait_for(lambda m=msg: client.depth_for(m.header.stamp), 0.2)
            if depth is not None and i >= 3:
                first_depth = first_depth or depth
                for status in client.statuses(start):
                    values = status_values(status)
                    if status.name.endswith("frame age") and "Latest timestamp delay (s)" in values:
                        age_delay = float(values["Latest timestamp delay (s)"])
            i += 1
        assert first_depth is not None, proc.output()
        assert first_depth.header.frame_id == "cam_optical" and first_depth.encoding == "32FC1"
        assert age_delay is not None and 0.0 <= age_delay < 2.0, "frame age must follow /clock"
        since = time.perf_counter()
        info = wait_for(lambda: client.find_status("camera_info", since), 5.0)
        assert info is not None and info.level[0] == WARN and "No camera_info" in info.message
        assert not client.depth_info, "no camera_info in, none out"
        engine = client.find_status("engine", since)
        assert engine.level[0] == WARN and "not requested" in engine.message
        assert "TensorrtExecutionProvider" in status_values(engine)["Provider notes"]

        rc = proc.stop(signal.SIGTERM, timeout_s=15.0)
        out = proc.output()
        assert rc == 0, out
        assert "Traceback" not in out
    finally:
        if client is not None:
            client.close()
        proc.close()


def test_shutdown_racing_the_executor_is_a_clean_stop() -> None:
    """The signal handler may shut the context down after spin()'s ok-check but before the
    wait set is built; rclpy then raises RCLError. The node's spin loop must treat that as a
    normal stop (CI once saw a traceback and exit 1 on SIGTERM), but never hide an error
    raised while the context is still valid."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from fastdepth_ros.spinning import spin_until_shutdown

    class RacedExecutor(SingleThreadedExecutor):
        """spin() as rclpy runs it, with the shutdown landing inside the race window."""

        def spin(self) -> None:
            assert self._context.ok()  # the check rclpy's spin() does first
            self._context.shutdown()  # what the signal handler does
            self.spin_once(timeout_sec=0.1)  # builds the wait set on the dead context

    class FaultyExecutor(SingleThreadedExecutor):
        def spin(self) -> None:
            raise RuntimeError("a real fault while the context is valid")

    @contextlib.contextmanager
    def raced_executor() -> Iterator[Any]:
        """A RacedExecutor with a node on a fresh context (the race shuts the context down)."""
        context = Context()
        rclpy.init(context=context)
        node = rclpy.create_node("race_probe", context=context)
        try:
            executor = RacedExecutor(context=context)
            executor.add_node(node)
            yield executor
            assert not context.ok()
        finally:
            node.destroy_node()
            rclpy.try_shutdown(context=context)

    with raced_executor() as raced:
        with pytest.raises(RuntimeError, match="real fault"):
            spin_until_shutdown(FaultyExecutor(context=raced.context))
        with pytest.raises(RuntimeError, match="context is not valid"):
            raced.spin()  # the race itself is real: rclpy raises
    with raced_executor() as raced:
        spin_until_shutdown(raced)  # must not raise
