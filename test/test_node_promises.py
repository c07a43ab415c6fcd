"""Promises of docs/node.md that no other test checks, against one real ``depth_node``.

The node starts with non-default read-only settings so that each one is observable:
``lazy: false``, ``hardware_id``, ``diagnostic_window: 2`` and a ``max_input_pixels``
budget of 100000 (a 320x240 frame fits, a 640x480 one does not).  Runtime parameters a test
changes are put back.  Models with known output (``fault_models``) make depth values and
colours predictable: ``mean_depth`` gives 1 + 4 x the pixel's channel mean, in metres.
No timing assertions: every wait is for an event (a depth image, a diagnostic update).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pytest
from deps import need
from ros_harness import (
    IMAGE,
    INFO,
    Client,
    NodeProcess,
    camera_info,
    image_msg,
    node_and_client,
    scene_rgb8,
    stamp_key,
    status_values,
    wait_for,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")
need("onnx", reason="onnx not installed (scripts/venv.sh runtime,ros,test)")

import fault_models  # noqa: E402  (needs onnx)

from fastdepth_ros.imaging import image_to_numpy  # noqa: E402

OK, WARN, ERROR = 0, 1, 2
W, H = 320, 240
BUDGET = 100000  # max_input_pixels at start: 320x240 = 76800 fits, 640x480 = 307200 does not
NS = "/fdpromise_%d" % os.getpid()
NODE = NS + "/fastdepth"
HARDWARE_ID = "fdtest_hw"
TIMEOUT_S = 15.0


class Rig:
    """The node process, its client and the frames the tests send."""

    def __init__(self, proc: NodeProcess, client: Client, model_dir: Path, shipped: Path) -> None:
        self.proc, self.client, self.model_dir, self.shipped = proc, client, model_dir, shipped
        self.rgb = scene_rgb8(W, H)
        self.info = camera_info(W, H, fx=262.0, fy=262.0, frame_id="cam")
        self.throttle: Optional[Tuple[float, int, int]] = None  # first error: time, lines, count

    def now_ns(self) -> int:
        return self.client.node.get_clock().now().nanoseconds

    def frame(self, rgb: Optional[np.ndarray] = None, stamp_ns: Optional[int] = None) -> Any:
        return image_msg(self.rgb if rgb is None else rgb, self.now_ns() if stamp_ns is None else stamp_ns,
                         frame_id="cam")

    def send(self, msg: Any, info: Any = "default") -> Any:
        info = self.info if info == "default" else info
        if info is not None:
            info.header = msg.header
        self.client.publish(msg, info)
        return msg

    def served(self, msg: Any = None, info: Any = "default") -> Any:
        """Publish ``msg`` (a fresh frame by default) and return its depth, or fail."""
        for _ in range(3):  # a best-effort frame may be lost: resend the same one
            msg = self.send(msg if msg is not None else self.frame(), info)
            depth = wait_for(lambda s=msg: self.client.depth_for(s.header.stamp), 5.0)
            if depth is not None:
                return depth
        pytest.fail("no depth for a good frame; node output:\n" + self.proc.output()[-3000:])

    def status(self, suffix: str, since: float, level: Optional[int] = None, text: str = "",
               timeout_s: float = TIMEOUT_S) -> Any:
        return wait_for(lambda: self.client.find_status(suffix, since, level, text), timeout_s)

    def status_where(self, suffix: str, since: float, check: Callable[[Any], bool],
                     timeout_s: float = TIMEOUT_S) -> Any:
        def found() -> Any:
            for s in self.client.statuses(since):
                if s.name.endswith(suffix) and check(s):
                    return s
            return None

        return wait_for(found, timeout_s)

    def set(self, **values: Any) -> None:
        results = self.client.set_parameters(NODE, **values)
        assert results and all(r.successful for r in results), [r.reason for r in results]

    def use_model(self, path: Path) -> None:
        """model_path at runtime; returns once the engine diagnostic names the new model."""
        since = time.perf_counter()
        self.set(model_path=str(path))
        loaded = self.status_where("engine", since,
                                   lambda s: status_values(s).get("Model path") == str(path), 60.0)
        assert loaded is not None, self.proc.output()[-3000:]


@pytest.fixture(scope="module")
def rig(shipped_model: Path, tmp_path_factory) -> Iterator[Rig]:
    params = ["-p", "model_path:=%s" % shipped_model, "-p", "lazy:=false",
              "-p", "hardware_id:=%s" % HARDWARE_ID, "-p", "diagnostic_window:=2",
              "-p", "max_input_pixels:=%d" % BUDGET]
    # no output subscription yet: the first test checks that lazy:false works without one
    with node_and_client(NS, params, reliable=(IMAGE, INFO), subscribed_within_s=None,
                         subscribe_outputs=False) as (proc, client):
        yield Rig(proc, client, tmp_path_factory.mktemp("promise_models"), shipped_model)


@pytest.fixture
def subscribed(rig: Rig) -> Rig:
    if rig.client._depth_sub is None:
        rig.client.subscribe_outputs()
        assert rig.client.wait_subscribed(40.0), rig.proc.output()
    return rig


def _published(rig: Rig, since: float) -> int:
    status = rig.status("depth output", since)
    assert status is not None, "no diagnostics; node output:\n" + rig.proc.output()[-3000:]
    return int(status_values(status)["Depth images published"])


# ------------------------------------------------------------------------- lazy: false


def test_lazy_false_processes_frames_without_any_subscriber(rig: Rig) -> None:
    client = rig.client
    assert client._depth_sub is None  # nobody subscribes to any output
    assert wait_for(lambda: client.image_pub.get_subscription_count() > 0, 40.0), rig.proc.output()
    before = _published(rig, time.perf_counter())

    def processed() -> bool:
        rig.send(rig.frame())
        return _published(rig, time.perf_counter()) > before

    assert wait_for(processed, 4 * TIMEOUT_S, interval_s=0.0), rig.proc.output()[-3000:]
    since = time.perf_counter()
    for suffix in ("input", "depth output"):
        status = rig.status(suffix, since)
        assert "idle" not in status.message, status.message
    assert status_values(rig.status("input", since))["Subscribed"] == "True"
    assert status_values(rig.status("depth output", since))["Lazy (process only while subscribed)"] == "False"


# ------------------------------------------------------------------------ log throttling

DECODE_LINE = "dropping bad input image"


def _throttle_first_window(rig: Rig) -> None:
    """Three input errors of one kind (one log line) and one camera_info error (its own
    line at once); remembers when, for the check after the period."""
    start_lines = rig.proc.output().count(DECODE_LINE)
    t_first = time.monotonic()
    errors = []
    for i in range(3):  # three of one kind, each acknowledged by the node's error diagnostic
        since = time.perf_counter()
        bad = rig.frame()
        bad.encoding = "xyz%d" % i
        rig.send(bad, info=None)
        status = rig.status("input", since, ERROR, "xyz%d" % i)
        assert status is not None, i
        errors.append(int(status_values(status)["Errors since startup"]))
    assert rig.proc.output().count(DECODE_LINE) == start_lines + 1, rig.proc.output()[-2000:]
    since = time.perf_counter()
    broken = camera_info(W, H, frame_id="cam")
    broken.k = [0.0] * 9
    rig.served(info=broken)  # another kind: logged at once
    assert rig.status("camera_info", since, ERROR)
    assert wait_for(lambda: "bad camera_info" in rig.proc.output(), 5.0), rig.proc.output()[-2000:]
    rig.throttle = (t_first, start_lines, errors[0])


def test_errors_are_logged_throttled_per_kind(subscribed: Rig) -> None:
    """First of a kind at once, repeats suppressed, another kind at once (the follow-up after
    the 5 s period is the module's last test, so nobody waits for it)."""
    _throttle_first_window(subscribed)


# ---------------------------------------------------------------- max_input_pixels


def test_max_input_pixels_at_start_and_at_runtime(subscribed: Rig) -> None:
    rig = subscribed
    big = scene_rgb8(640, 480)
    big_info = camera_info(640, 480, frame_id="cam")
    rig.served()
    since = time.perf_counter()
    refused = rig.send(rig.frame(big), big_info)
    status = rig.status("input", since, ERROR, "exceeds the pixel budget of %d" % BUDGET)
    assert status is not None, "the start-up budget was not applied"
    assert status_values(status)["Pixel budget (max_input_pixels)"] == str(BUDGET)
    good = rig.served()  # the stream goes on; the refused frame got no depth
    assert rig.client.depth_for(refused.header.stamp) is None and good is not None
    try:
        rig.set(max_input_pixels=640 * 480)
        depth = rig.served(rig.frame(big), big_info)
        assert (depth.width, depth.height) == (224, 224)
        rig.set(max_input_pixels=640 * 480 - 1)
        since = time.perf_counter()
        rig.send(rig.frame(big), big_info)
        assert rig.status("input", since, ERROR, "exceeds the pixel budget of %d" % (640 * 480 - 1))
        assert not rig.client.set_parameters(NODE, max_input_pixels=0)[0].successful
    finally:
        rig.set(max_input_pixels=BUDGET)


# ------------------------------------------------------------ diagnostics parameters


def test_hardware_id_is_on_every_status(subscribed: Rig) -> None:
    rig = subscribed
    since = time.perf_counter()
    rig.served()
    assert rig.status("latency", since) is not None
    statuses = rig.client.statuses(since)
    assert {s.hardware_id for s in statuses} == {HARDWARE_ID}


def _updates_after(rig: Rig, since: float, suffix: str) -> List[Any]:
    return [s for s in rig.client.statuses(since) if s.name.endswith(": " + suffix)]


def test_diagnostic_window_of_two_updates(subscribed: Rig) -> None:
    """The rate window is ``diagnostic_window`` updates: once frames stop, the input rate
    reads "No events recorded." by the third update (with the default 5, by the sixth)."""
    rig = subscribed
    rig.served()
    last = time.perf_counter()
    quiet = rig.status("input", last, ERROR, "No events recorded.", timeout_s=4 * TIMEOUT_S)
    assert quiet is not None
    inputs = _updates_after(rig, last, "input")
    assert inputs.index(quiet) <= 2, [s.message for s in inputs]


def _stream_until(rig: Rig, done: Callable[[], Any], timeout_s: float = 4 * TIMEOUT_S) -> Any:
    """Serve frames one after the other (each sent once the previous one's depth is back)
    until ``done()`` returns something."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rig.served()
        found = done()
        if found:
            return found
    return None


def test_expected_rate_and_tolerance_set_the_rate_verdict(subscribed: Rig) -> None:
    rig = subscribed
    try:
        rig.set(expected_rate_hz=1000.0)  # lock-step serving is far slower
        since = time.perf_counter()
        low = _stream_until(rig, lambda: rig.client.find_status("depth output", since, WARN,
                                                                 "Frequency too low."))
        assert low is not None
        rig.set(rate_tolerance=0.999)  # now at least 1 Hz is acceptable
        since = time.perf_counter()
        fine = _stream_until(rig, lambda: [s for s in _updates_after(rig, since, "depth output")][1:])
        assert all(s.level[0] == OK for s in fine), [s.message for s in fine]
    finally:
        rig.set(expected_rate_hz=10.0, rate_tolerance=0.1)


def test_max_latency_ms_sets_the_latency_verdict(subscribed: Rig) -> None:
    rig = subscribed
    try:
        rig.set(max_latency_ms=1e-6)  # every real frame takes longer
        since = time.perf_counter()
        slow = _stream_until(rig, lambda: rig.client.find_status("latency", since, WARN, "Latency too high"))
        assert slow is not None, "no latency WARN with max_latency_ms 1e-6"
        rig.set(max_latency_ms=0.0)  # off
        since = time.perf_counter()
        rig.served()
        status = rig.status("latency", since)
        assert status.level[0] == OK, status.message
    finally:
        rig.set(max_latency_ms=150.0)


def test_frame_age_bounds(subscribed: Rig) -> None:
    rig = subscribed
    future_ns = 30 * 1_000_000_000  # 30 s ahead of the client's clock
    try:
        since = time.perf_counter()
        rig.served(rig.frame(stamp_ns=rig.now_ns() + future_ns))
        assert rig.status("frame age", since, ERROR, "future"), "a frame 30 s ahead was accepted"
        rig.set(min_frame_age_ms=-60000.0)
        since = time.perf_counter()
        ahead = rig.served(rig.frame(stamp_ns=rig.now_ns() + future_ns))
        assert ahead is not None
        status = rig.status("frame age", since)
        assert status.level[0] == OK, status.message
        rig.set(max_frame_age_ms=1e-6)  # every frame is older than a nanosecond when published
        since = time.perf_counter()
        old = _stream_until(rig, lambda: rig.client.find_status("frame age", since, ERROR, "past"))
        assert old is not None
    finally:
        rig.set(min_frame_age_ms=-1000.0, max_frame_age_ms=500.0)


# ------------------------------------------------------------------ camera_info pairing


def _pairing(rig: Rig, since: float) -> Dict[str, int]:
    status = rig.status("camera_info", since)
    values = status_values(status)
    return {"exact": int(values["Paired by exact stamp"]),
            "latest": int(values["Paired with latest (no exact stamp)"])}


def test_camera_info_exact_stamp_pairing_then_latest_fallback(subscribed: Rig) -> None:
    """A frame whose camera_info (same stamp) came first is paired exactly; a frame with no
    camera_info of its own stamp gets the latest one (its depth/camera_info then carries
    the frame's stamp); each counted.  (A node that waits briefly for the exact-stamp info
    still falls back here: none with that stamp is ever sent.)"""
    rig = subscribed
    rig.served()
    before = _pairing(rig, time.perf_counter())
    paired = rig.served()  # camera_info published just before the image, same stamp
    info = wait_for(lambda: rig.client.info_for(paired.header.stamp), TIMEOUT_S)
    assert info is not None
    after_exact = _pairing(rig, time.perf_counter())
    assert after_exact["exact"] >= before["exact"] + 1
    assert after_exact["latest"] == before["latest"], (before, after_exact)

    lone = rig.served(info=None)  # no camera_info with this stamp
    lone_info = wait_for(lambda: rig.client.info_for(lone.header.stamp), TIMEOUT_S)
    assert lone_info is not None, "no depth/camera_info from the latest camera_info"
    assert stamp_key(lone_info.header.stamp) == stamp_key(lone.header.stamp)
    assert list(lone_info.k) == list(info.k)  # the same camera, the same depth grid
    after_latest = _pairing(rig, time.perf_counter())
    assert after_latest["latest"] == after_exact["latest"] + 1, (after_exact, after_latest)
    assert after_latest["exact"] == after_exact["exact"]


# ---------------------------------------------------------------- SetParametersAtomically


def _set_atomically(rig: Rig, **values: Any) -> Any:
    from rcl_interfaces.srv import SetParametersAtomically
    from rclpy.parameter import Parameter

    cli = rig.client.node.create_client(SetParametersAtomically, NODE + "/set_parameters_atomically")
    try:
        assert cli.wait_for_service(timeout_sec=10.0)
        req = SetParametersAtomically.Request()
        req.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        future = cli.call_async(req)
        assert wait_for(future.done, 20.0), "set_parameters_atomically timed out"
        return future.result().result
    finally:
        rig.client.node.destroy_client(cli)


def test_set_parameters_atomically(subscribed: Rig) -> None:
    """min 20 m / max 30 m cannot be set one by one from 0.1 / 10 (min above max in between);
    atomically they can.  An atomic set with one bad value changes nothing."""
    rig = subscribed
    try:
        assert not rig.client.set_parameters(NODE, min_range_m=20.0)[0].successful
        result = _set_atomically(rig, min_range_m=20.0, max_range_m=30.0)
        assert result.successful, result.reason
        depth = image_to_numpy(rig.served())
        assert np.all(~np.isfinite(depth)), "indoor depth below 20 m is all flagged too near"
        assert np.all(np.isneginf(depth) | np.isnan(depth))
        result = _set_atomically(rig, min_range_m=0.1, max_range_m=10.0, output_encoding="rgb8")
        assert not result.successful
        depth = image_to_numpy(rig.served())
        assert np.all(~np.isfinite(depth)), "a rejected atomic set changed the range"
    finally:
        assert _set_atomically(rig, min_range_m=0.1, max_range_m=10.0).successful
    assert np.isfinite(image_to_numpy(rig.served())).mean() > 0.9


# ------------------------------------------------- depth/colored content, canonical focal


def _grey(levels: Tuple[int, int]) -> np.ndarray:
    """Left half at one grey level, right half at another (the crop keeps both halves)."""
    rgb = np.empty((H, W, 3), dtype=np.uint8)
    rgb[:, : W // 2] = levels[0]
    rgb[:, W // 2:] = levels[1]
    return rgb


def _colored_of(rig: Rig, sent: Any) -> Any:
    with rig.client.lock:
        found = [m for _, m in rig.client.colored
                 if stamp_key(m.header.stamp) == stamp_key(sent.header.stamp)]
    return found[0] if found else None


def _colored(rig: Rig, rgb: np.ndarray) -> np.ndarray:
    def once() -> Any:
        sent = rig.send(rig.frame(rgb), info=None)
        return wait_for(lambda: _colored_of(rig, sent), 3.0)

    msg = wait_for(once, TIMEOUT_S, interval_s=0.0)
    assert msg is not None, "no depth/colored"
    assert msg.encoding == "rgb8"
    return image_to_numpy(msg)


def test_colored_near_warm_far_cool_fixed_scale_invalid_black(subscribed: Rig) -> None:
    """With ``mean_depth`` (1 + 4 x grey/255 m): black is 1 m, grey 128 about 3 m, white 5 m.
    The colour of 1 m is the same in frames whose far depth differs: the scale is fixed."""
    rig = subscribed
    model = fault_models.mean_depth(rig.model_dir / "per_pixel.onnx")
    rig.use_model(model)
    rig.client.subscribe_colored()
    try:
        rig.set(max_range_m=5.5)  # the colour scale: 0.1 .. 5.5 m
        near_far = _colored(rig, _grey((0, 255)))  # 1 m | 5 m
        near, far = near_far[112, 40].astype(int), near_far[112, 180].astype(int)
        assert near[0] > near[2] + 50, ("near must be warm (red over blue)", near)
        assert far[2] > far[0] + 50, ("far must be cool (blue over red)", far)
        other = _colored(rig, _grey((0, 128)))  # 1 m | 3 m: another frame, another far
        np.testing.assert_array_equal(other[112, 40], near_far[112, 40])  # 1 m: one colour
        assert not np.array_equal(other[112, 180], near_far[112, 180])
        rig.set(max_range_m=4.0)  # 5 m is now beyond the range: +Inf, invalid
        invalid = _colored(rig, _grey((0, 255)))
        assert np.all(invalid[:, 130:] == 0), "invalid depth must be black"
        assert invalid[112, 40].any()  # the valid half is not
    finally:
        rig.client.unsubscribe_colored()
        rig.set(max_range_m=10.0)
        rig.use_model(rig.shipped)


def test_canonical_focal_px_scales_the_depth_values(subscribed: Rig) -> None:
    """A model without canonical metadata: no focal scaling by default; with
    ``canonical_focal_px`` the depth is multiplied by f_camera / f_canonical, f_camera being
    the focal length on the model input grid (the depth grid's K at output_size model)."""
    rig = subscribed
    model = fault_models.mean_depth(rig.model_dir / "per_pixel_focal.onnx")
    rig.use_model(model)
    black = np.zeros((H, W, 3), dtype=np.uint8)  # the model says 1 m everywhere
    try:
        depth_msg = rig.served(rig.frame(black))
        assert np.allclose(image_to_numpy(depth_msg), 1.0)  # no metadata: not scaled
        info = wait_for(lambda: rig.client.info_for(depth_msg.header.stamp), TIMEOUT_S)
        f_model_px = float(np.sqrt(info.k[0] * info.k[4]))
        for canonical in (200.0, 400.0):
            rig.set(canonical_focal_px=canonical)
            depth = image_to_numpy(rig.served(rig.frame(black)))
            np.testing.assert_allclose(depth, f_model_px / canonical, rtol=1e-5)
    finally:
        rig.set(canonical_focal_px=0.0)
        rig.use_model(rig.shipped)


# ----------------------------------------------------------- inference failing on a frame


def test_inference_failing_on_one_frame_is_an_engine_error_and_the_next_is_tried(subscribed: Rig) -> None:
    rig = subscribed
    model = fault_models.fails_on_bright(rig.model_dir / "fails_on_bright.onnx")
    rig.use_model(model)
    dark = np.full((H, W, 3), 60, dtype=np.uint8)
    bright = dark.copy()
    bright[100:140, 100:140] = 255
    try:
        rig.served(rig.frame(dark))
        since = time.perf_counter()
        failing = rig.send(rig.frame(bright))
        status = rig.status("engine", since, ERROR, "inference failed on CPUExecutionProvider")
        assert status is not None, rig.proc.output()[-3000:]
        assert "\n" not in status.message
        assert wait_for(lambda: "inference failed on CPUExecutionProvider" in rig.proc.output(), 5.0)
        after = rig.served(rig.frame(dark))  # the next frame is tried, and served
        assert np.allclose(image_to_numpy(after), 1.0 + 4.0 * 60 / 255, atol=1e-5)
        assert rig.client.depth_for(failing.header.stamp) is None
        assert rig.proc.alive() and "Traceback" not in rig.proc.output()
    finally:
        rig.use_model(rig.shipped)


# --------------------------------------------------- log throttling, after the period


def _decode_lines(rig: Rig) -> List[str]:
    return [line for line in rig.proc.output().splitlines() if DECODE_LINE in line]


def _log_time_s(line: str) -> float:
    """The ROS log line's stamp ("[INFO] [1796208936.79] [node]: ...", system time)."""
    return float(line.split("] [", 2)[1])


def test_throttled_errors_say_how_many_were_suppressed_after_the_period(subscribed: Rig) -> None:
    """Once the documented 5 s have passed since the last logged input error, the next one
    is logged at once, and the logged lines account for every error: each says how many
    were suppressed since the one before (the first window's two are in the next line)."""
    rig = subscribed
    if rig.throttle is None:  # run on its own
        _throttle_first_window(rig)
    _, start_lines, _ = rig.throttle
    quiet_until = _log_time_s(_decode_lines(rig)[-1]) + 5.2
    time.sleep(max(0.0, quiet_until - time.time()))  # usually 0: other tests ran meanwhile
    lines_before = len(_decode_lines(rig))
    since = time.perf_counter()
    bad = rig.frame()
    bad.encoding = "xyz9"
    rig.send(bad, info=None)
    status = rig.status("input", since, ERROR, "xyz9")
    assert status is not None
    assert wait_for(lambda: len(_decode_lines(rig)) == lines_before + 1, 5.0), rig.proc.output()[-2000:]
    lines = _decode_lines(rig)
    assert "xyz9" in lines[-1]

    def suppressed(line: str) -> int:
        if "similar suppressed)" not in line:
            return 0
        return int(line.split("(")[-1].split(" similar suppressed)")[0])

    assert suppressed(lines[start_lines + 1]) >= 2, lines[start_lines:]  # the first window's two
    total = int(status_values(status)["Errors since startup"])
    assert sum(1 + suppressed(line) for line in lines) == total, lines
