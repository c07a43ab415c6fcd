"""The depth node as users run it: console script subprocess, real DDS (SHM, private domain).

One node process serves the whole module (start-up costs seconds); tests that change
parameters put them back.  No timing assertions: latency figures belong to the benchmark
(``fastdepth-ros bench``); here "no queue" is counted from the node's own diagnostics.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Iterator, List, Tuple

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

from fastdepth_ros.geometry import project
from fastdepth_ros.imaging import image_to_numpy

pytestmark = [pytest.mark.ros, pytest.mark.slow]
rclpy = need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

OK, WARN, ERROR = 0, 1, 2
W, H = 640, 480
NS = "/fdtest_%d" % os.getpid()
NODE = NS + "/fastdepth"
TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def setup(shipped_model: Path) -> Iterator[Tuple[NodeProcess, Client]]:
    params = ["-p", "model_path:=%s" % shipped_model]
    with node_and_client(NS, params, reliable=(IMAGE, INFO)) as (proc, client):
        # Right after matching, Fast DDS may lose the first best-effort samples; prime the path
        # with fresh frames so no test sees that (and no stale resend skews frame-age stats).
        primer = Frames(client)
        for _ in range(30):
            sent = primer.send()
            if wait_for(lambda s=sent: client.depth_for(s.header.stamp), 1.0):
                break
        else:
            pytest.fail("no depth for a good frame after discovery; node output:\n" + proc.output())
        yield proc, client


class Frames:
    """Stamps from the client's clock (frame age is then near zero), one per call."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.rgb = scene_rgb8(W, H)
        self.info = camera_info(W, H, fx=518.9, fy=519.5, cx=325.6, cy=253.7, frame_id="cam_optical")

    def now_ns(self) -> int:
        return self.client.node.get_clock().now().nanoseconds

    def send(self, msg: Any = None, info: Any = "default") -> Any:
        msg = msg if msg is not None else image_msg(self.rgb, self.now_ns(), frame_id="cam_optical")
        if info == "default":
            info = self.info
        if info is not None:
            info.header = msg.header
        self.client.publish(msg, info)
        return msg

    def served(self, msg: Any = None, info: Any = "default") -> Any:
        """Publish a frame and return its depth (fails when none comes back)."""
        for _ in range(3):  # a frame may race discovery: send the same one again (same stamp)
            msg = self.send(msg, info)
            depth = wait_for(lambda s=msg: self.client.depth_for(s.header.stamp), 5.0)
            if depth is not None:
                return depth
        pytest.fail("no depth for a good frame")


@pytest.fixture
def frames(setup: Tuple[NodeProcess, Client]) -> Frames:
    return Frames(setup[1])


def _depth_array(msg: Any) -> np.ndarray:
    return image_to_numpy(msg)


def test_depth_has_input_header_encoding_size_and_range(setup, frames: Frames) -> None:
    proc, client = setup
    sent = image_msg(frames.rgb, frames.now_ns(), frame_id="cam_optical")
    depth = frames.served(sent)  # looked up by the sent stamp: exact stamp match
    assert stamp_key(depth.header.stamp) == stamp_key(sent.header.stamp), proc.output()
    assert depth.header.frame_id == "cam_optical"
    assert depth.encoding == "32FC1"
    assert (depth.width, depth.height) == (224, 224)  # output_size: model
    d = _depth_array(depth)
    finite = np.isfinite(d)
    assert finite.mean() > 0.9, "mostly valid depth expected for an indoor scene"
    assert d[finite].min() >= 0.1 and d[finite].max() <= 10.0  # min/max_range_m
    assert np.all(np.isnan(d[~finite]) | np.isinf(d[~finite]))  # REP 117 flags only


def _expected_uv(xy: np.ndarray) -> np.ndarray:
    """Input pixel centres -> depth pixel centres for the paper crop of 640x480 -> 224x224,
    written out from the official steps: resize 480 -> 250 rows (640 -> 333 cols), centre
    crop 228x304 (offsets 11, 14), resize to 224x224.  Edge coordinates: centre + 0.5."""
    u = ((xy[:, 0] + 0.5) * 333 / 640 - 14) * 224 / 304 - 0.5
    v = ((xy[:, 1] + 0.5) * 250 / 480 - 11) * 224 / 228 - 0.5
    return np.stack([u, v], axis=1)


def test_depth_camera_info_matches_depth_grid(setup, frames: Frames) -> None:
    _, client = setup
    depth = frames.served()
    info = wait_for(lambda: client.info_for(depth.header.stamp), TIMEOUT_S)
    assert info is not None
    assert info.header.frame_id == depth.header.frame_id
    assert (info.width, info.height) == (depth.width, depth.height)
    assert info.binning_x == 0 and info.binning_y == 0 and info.roi.width == 0
    k_in = np.array(frames.info.k).reshape(3, 3)
    k_out = np.array(info.k).reshape(3, 3)
    p_out = np.array(info.p).reshape(3, 4)
    points = np.array([[0.0, 0.0, 2.0], [0.3, -0.2, 1.5], [-0.5, 0.4, 3.0], [0.1, 0.1, 0.8]])
    uv_depth = project(k_out, points)
    assert np.allclose(uv_depth, _expected_uv(project(k_in, points)), atol=1e-6)
    assert np.allclose(project(p_out[:, :3], points), uv_depth, atol=1e-6)


def test_diagnostics_report_rates_latency_provider_and_model(setup, frames: Frames) -> None:
    _, client = setup
    for _ in range(5):
        frames.served()
    since = time.perf_counter()
    frames.served()
    assert wait_for(lambda: client.find_status("latency", since), 5.0)
    by_name = {s.name.split(": ", 1)[1]: s for s in client.statuses(since)}
    assert {"input", "depth output", "frame age", "latency", "engine", "camera_info", "qos"} <= set(by_name)
    for s in by_name.values():  # diagnostic_updater: "<fully qualified name, no leading />: task"
        assert s.name.startswith(NODE.lstrip("/") + ": ")
        assert s.hardware_id == ""  # diagnostic_updater's default
    eng = status_values(by_name["engine"])
    assert eng["Execution provider"] == "CPUExecutionProvider"
    assert eng["Model name"] == "fastdepth"  # the shipped models/fastdepth.onnx
    assert eng["Model input size (WxH)"] == "224x224"
    assert eng["ORT intra-op spinning"] == "False"  # the shipped default (an onboard computer's)
    lat = status_values(by_name["latency"])
    for stage in ("convert", "preprocess", "inference", "postprocess", "publish", "side_outputs", "total"):
        for stat in ("p50", "p95", "max"):
            value = float(lat["%s %s (ms)" % (stage, stat)])
            assert math.isfinite(value) and 0.0 <= value < 10000.0, (stage, stat, value)
    assert float(lat["inference p50 (ms)"]) > 0.0
    # units: "total" (receive -> depth published) fits inside the client's send -> depth
    # arrival of the same frames, and is no 100x smaller than it: seconds (1000x) would fail
    round_trips_ms = _round_trips_ms(client)
    assert float(lat["total max (ms)"]) <= max(round_trips_ms) + 1.0, (lat, max(round_trips_ms))
    assert float(lat["total p50 (ms)"]) >= min(round_trips_ms) / 100.0, (lat, min(round_trips_ms))
    # total = receive -> depth published, so it holds every stage before the depth went out
    assert float(lat["total max (ms)"]) >= float(lat["inference p50 (ms)"])
    inp = status_values(by_name["input"])
    assert int(inp["Frames received"]) >= 6
    assert float(inp["Actual frequency (Hz)"]) > 0.0
    out = status_values(by_name["depth output"])
    assert int(out["Depth images published"]) >= 6
    age = status_values(by_name["frame age"])
    assert 0.0 <= float(age["Latest timestamp delay (s)"]) < 5.0
    assert by_name["camera_info"].level[0] == OK, by_name["camera_info"].message


def _round_trips_ms(client: Client) -> List[float]:
    """Send -> depth arrival (ms, the client's clock) of every frame the client got depth for."""
    with client.lock:
        arrivals = {stamp_key(m.header.stamp): t for t, m in client.depth}
        return [(arrivals[k] - client.sent_at[k]) * 1e3 for k in arrivals if k in client.sent_at]


def test_depth_equals_the_offline_pipeline_on_the_same_frame(setup, frames: Frames,
                                                             shipped_model: Path) -> None:
    """The node's depth for a frame is what fastdepth_ros.pipeline computes offline from the
    same pixels and camera_info with the shipped settings (float tolerance: ORT threads may
    sum in another order): a node that computes anything else fails."""
    from fastdepth_ros.engine import Engine, EngineConfig
    from fastdepth_ros.geometry import CameraIntrinsics
    from fastdepth_ros.pipeline import DepthPipeline, PipelineConfig

    node_depth = _depth_array(frames.served())
    offline = DepthPipeline(Engine(str(shipped_model), EngineConfig(providers=["cpu"], warmup_runs=0)),
                            PipelineConfig())
    expected = offline.process(frames.rgb, CameraIntrinsics.from_msg(frames.info)).depth
    assert node_depth.shape == expected.shape and node_depth.dtype == expected.dtype
    np.testing.assert_array_equal(np.isnan(node_depth), np.isnan(expected))
    np.testing.assert_allclose(node_depth, expected, rtol=1e-4, atol=1e-5, equal_nan=True)


def _ok(results) -> bool:
    return bool(results) and all(r.successful for r in results)


def test_runtime_parameters_apply_and_bad_ones_are_rejected(setup, frames: Frames, tmp_path: Path) -> None:
    _, client = setup
    try:
        assert _ok(client.set_parameters(NODE, output_encoding="16UC1"))
        depth = frames.served()
        assert depth.encoding == "16UC1"
        mm = _depth_array(depth)
        assert mm.dtype == np.uint16 and np.all((mm == 0) | ((mm >= 100) & (mm <= 10000)))

        assert _ok(client.set_parameters(NODE, output_size="320x240", output_encoding="32FC1"))
        depth = frames.served()
        info = wait_for(lambda: client.info_for(depth.header.stamp), TIMEOUT_S)
        assert (depth.width, depth.height, depth.encoding) == (320, 240, "32FC1")
        assert (info.width, info.height) == (320, 240)

        assert _ok(client.set_parameters(NODE, output_size="input", input_mode="full"))
        depth = frames.served()
        info = wait_for(lambda: client.info_for(depth.header.stamp), TIMEOUT_S)
        assert (depth.width, depth.height) == (W, H)
        assert np.allclose(np.array(info.k), np.array(frames.info.k))  # the camera's own grid

        bad = {
            "output_encoding": ("rgb8", "encoding"),
            "output_size": ("12xfoo", "output size"),
            "input_mode": ("zoom", "input_mode"),
            "min_range_m": (50.0, "min_range_m"),  # above max_range_m (10)
            "model_path": (str(tmp_path / "missing.onnx"), "missing.onnx"),
        }
        for name, (value, why) in bad.items():
            results = client.set_parameters(NODE, **{name: value})
            assert not results[0].successful, name
            assert why in results[0].reason, (name, results[0].reason)
        corrupt = tmp_path / "corrupt.onnx"
        corrupt.write_bytes(b"not an onnx graph" * 10)
        since = time.perf_counter()
        client.set_parameters(NODE, model_path=str(corrupt))  # loads in the background, then fails
        status = wait_for(lambda: client.find_status("engine", since, ERROR, "corrupt.onnx"), 10.0)
        assert status is not None and "model reload failed" in status.message
        results = client.set_parameters(NODE, providers=["cuda"])
        assert not results[0].successful  # read-only: needs a restart
        results = client.set_parameters(NODE, max_range_m=5)  # int for a double parameter
        assert not results[0].successful
        depth = frames.served()  # the node still serves with the previous settings
        assert (depth.width, depth.height, depth.encoding) == (W, H, "32FC1")
    finally:
        client.set_parameters(NODE, output_encoding="32FC1", output_size="model", input_mode="crop")


def _output_counts(client: Client, published_at_least: int) -> Tuple[int, int]:
    """(depth published, colored published) from the first ``depth output`` status that
    counts ``published_at_least`` depth images: the colored image of a frame is published
    before its depth is counted, so the pair is complete for every frame counted."""
    since = time.perf_counter()

    def counted() -> Any:
        for s in client.statuses(since):
            if s.name.endswith("depth output"):
                v = status_values(s)
                if int(v["Depth images published"]) >= published_at_least:
                    return int(v["Depth images published"]), int(v["Colored images published"])
        return None

    counts = wait_for(counted, TIMEOUT_S)
    assert counts is not None, "no depth output status counting %d images" % published_at_least
    return counts


def _colored_of(client: Client, sent: Any) -> Any:
    with client.lock:
        found = [m for _, m in client.colored if stamp_key(m.header.stamp) == stamp_key(sent.header.stamp)]
    return found[0] if found else None


def test_colored_only_while_subscribed_and_enabled(setup, frames: Frames) -> None:
    """depth/colored is computed only while it has a subscriber and publish_colored is true:
    counted by the node itself (its "Colored images published"), not by what reached us."""
    _, client = setup
    published, colored = _output_counts(client, 0)
    for _ in range(3):  # nobody subscribes depth/colored: nothing is rendered
        frames.served()
    published, after = _output_counts(client, published + 3)
    assert after == colored, "depth/colored rendered without a subscriber"
    client.subscribe_colored()
    try:
        def colored_frame():
            sent = frames.send()
            return wait_for(lambda: _colored_of(client, sent), 3.0)

        msg = wait_for(colored_frame, TIMEOUT_S, interval_s=0.0)
        assert msg is not None and msg.encoding == "rgb8" and (msg.width, msg.height) == (224, 224)
        published, colored = _output_counts(client, 0)
        assert colored > after
        # publish_colored:=false: a subscriber, but nothing rendered
        assert _ok(client.set_parameters(NODE, publish_colored=False))
        published, colored = _output_counts(client, 0)
        depths = [frames.served() for _ in range(3)]
        published, after = _output_counts(client, published + 3)
        assert after == colored, "depth/colored rendered with publish_colored false"
        assert not any(_colored_of(client, d) for d in depths)
        assert _ok(client.set_parameters(NODE, publish_colored=True))
        assert wait_for(colored_frame, TIMEOUT_S, interval_s=0.0) is not None  # back on
    finally:
        client.set_parameters(NODE, publish_colored=True)
        client.unsubscribe_colored()

    def rendered() -> bool:  # until the node has seen the subscriber go
        published, colored = _output_counts(client, 0)
        frames.served()
        return _output_counts(client, published + 1)[1] == colored

    assert wait_for(rendered, 4 * TIMEOUT_S, interval_s=0.0), "depth/colored rendered after unsubscribing"
    published, colored = _output_counts(client, 0)
    for _ in range(3):
        frames.served()
    assert _output_counts(client, published + 3)[1] == colored


def _bad_images(good: Any):
    """(label, message, expected text) for every malformed image the issue lists."""
    from sensor_msgs.msg import Image

    def clone(**fields: Any) -> Any:
        m = Image()
        m.header = good.header
        m.height, m.width, m.encoding, m.step = good.height, good.width, good.encoding, good.step
        m.data = good.data
        for k, v in fields.items():
            setattr(m, k, v)
        return m

    short = clone()
    short.data = good.data[: len(good.data) // 2]
    return [
        ("wrong encoding", clone(encoding="xyz123"), "unsupported encoding"),
        ("depth encoding", clone(encoding="32FC1", step=W * 4, height=H * 3 // 4), "depth encoding"),
        ("short buffer", short, "short buffer"),
        ("zero size", clone(width=0, height=0, step=0), "zero-size"),
        ("absurd size", clone(width=100000, height=100000, step=300000), "absurd image size"),
    ]


def test_bad_images_give_error_diagnostic_and_next_good_frame_is_served(setup, frames: Frames) -> None:
    _, client = setup
    frames.served()
    for label, bad, text in _bad_images(image_msg(frames.rgb, frames.now_ns(), frame_id="cam_optical")):
        since = time.perf_counter()
        frames.send(bad, info=None)
        status = wait_for(lambda t=text, s=since: client.find_status("input", s, ERROR, t), 5.0)
        assert status is not None, "no ERROR diagnostic for %s" % label
        assert frames.served() is not None


@pytest.mark.parametrize(
    "label,info_fields,text",
    [
        ("NaN intrinsics", {"k": [math.nan] * 9}, "NaN"),
        ("zero focal length", {"k": [0.0, 0.0, 320.0, 0.0, 0.0, 240.0, 0.0, 0.0, 1.0]}, "focal"),
        ("size mismatch", {"width": 1280, "height": 720}, "describes a"),
    ],
)
def test_bad_camera_info_errors_but_depth_is_still_published(setup, frames: Frames, label, info_fields,
                                                             text) -> None:
    _, client = setup
    bad = camera_info(W, H, frame_id="cam_optical")
    for k, v in info_fields.items():
        setattr(bad, k, v)
    since = time.perf_counter()
    depth = frames.served(info=bad)  # depth still comes, for the very frame with bad info
    assert wait_for(lambda: client.find_status("camera_info", since, ERROR, text), 5.0), label
    good = frames.served()
    # depth/camera_info is one reliable, ordered stream: once the next frame's has arrived,
    # one for the bad frame would have arrived before it
    assert wait_for(lambda: client.info_for(good.header.stamp), 5.0) is not None
    assert client.info_for(depth.header.stamp) is None  # no wrong camera_info was published


def test_burst_drops_frames_without_building_a_queue(setup, frames: Frames) -> None:
    _, client = setup
    # A reliable writer (into the node's best-effort subscription): from the harness's
    # best-effort writer a back-to-back burst sometimes lost its last ~30 frames in DDS,
    # which says nothing about the node's queueing.
    client.reliable_images()
    frames.served()
    counts_before = _idle_counts(client)
    n = 120
    sent = []
    start_ns = frames.now_ns()
    for i in range(n):  # back to back: far above the model's rate
        msg = image_msg(frames.rgb, start_ns + i * 1000, frame_id="cam_optical")
        frames.send(msg)
        sent.append(stamp_key(msg.header.stamp))
    sent_set = set(sent)
    counts_after = _idle_counts(client)  # the node has finished with the burst
    received = [stamp_key(m.header.stamp) for _, m in list(client.depth)
                if stamp_key(m.header.stamp) in sent_set]
    # The input is best effort: DDS itself may discard frames of a burst (even its last one),
    # so the node's promise is about what it receives: the newest one, no queue.
    assert received, "no depth for any frame of the burst"
    assert sent.index(received[-1]) >= n * 3 // 4, "the last output must be one of the newest frames"
    assert received == sorted(received) and len(set(received)) == len(received), "newest-first, no repeats"
    # No queue, counted by the node itself: idle again, every frame it took in was either
    # published or replaced in the slot (none waits anywhere).  How many were replaced
    # depends on this machine's speed; that the books balance does not.
    took_in, published, dropped = (a - b for a, b in zip(counts_after, counts_before))
    assert published >= len(received) and took_in >= len(received)
    assert took_in == published + dropped, (took_in, published, dropped)


def _frame_counts(client: Client) -> Tuple[int, int, int]:
    """(frames received, depth published, frames dropped) from the node's next diagnostics."""
    since = time.perf_counter()
    inp = wait_for(lambda: client.find_status("input", since), TIMEOUT_S)
    out = wait_for(lambda: client.find_status("depth output", since), TIMEOUT_S)
    assert inp is not None and out is not None, "no diagnostics update"
    inp_v, out_v = status_values(inp), status_values(out)
    return (int(inp_v["Frames received"]), int(out_v["Depth images published"]),
            int(inp_v["Frames dropped (replaced before processing)"]))


def _idle_counts(client: Client) -> Tuple[int, int, int]:
    """The node's frame counts once two consecutive diagnostics updates (1 Hz) agree: it
    has been idle for an update period, so all it published has reached the client."""
    previous = None
    deadline = time.monotonic() + 4 * TIMEOUT_S
    while time.monotonic() < deadline:
        counts = _frame_counts(client)
        if counts == previous:
            return counts
        previous = counts
    pytest.fail("the node never went idle: %s" % (previous,))


def test_outputs_are_image_transport_siblings(setup) -> None:
    """image_transport pairs an image with getCameraInfoTopic(image): the depth image's own
    camera_info, not the input camera's (/ns/camera_info) -- resolved as image_transport does."""
    from fastdepth_ros.topics import camera_info_topic

    _, client = setup
    pubs = dict(wait_for(lambda: client.node.get_publisher_names_and_types_by_node("fastdepth", NS), 5.0))
    depth_image = NS + "/depth/image"
    assert pubs[depth_image] == ["sensor_msgs/msg/Image"]
    assert pubs[camera_info_topic(depth_image)] == ["sensor_msgs/msg/CameraInfo"]
    assert camera_info_topic(depth_image) == NS + "/depth/camera_info"
    assert pubs[NS + "/depth/colored"] == ["sensor_msgs/msg/Image"]
    assert NS + "/depth" not in pubs  # the old parent topic would pair with /ns/camera_info


def test_distorted_camera_is_rectified_and_its_camera_info_says_so(setup, frames: Frames) -> None:
    """rectify: auto with a non-zero D: depth/camera_info is the pinhole model of the depth
    grid (D = 0, R = I, K = P's 3x3), never the input's distortion on a rectified grid."""
    _, client = setup
    distorted = camera_info(W, H, fx=518.9, fy=519.5, cx=325.6, cy=253.7, frame_id="cam_optical")
    distorted.d = [-0.28, 0.09, 0.001, -0.0015, -0.012]
    depth = frames.served(info=distorted)
    info = wait_for(lambda: client.info_for(depth.header.stamp), TIMEOUT_S)
    assert info is not None
    assert list(info.d) == [0.0] * 5 and info.distortion_model == "plumb_bob"
    assert np.allclose(np.array(info.r).reshape(3, 3), np.eye(3))
    p = np.array(info.p).reshape(3, 4)
    assert np.allclose(np.array(info.k).reshape(3, 3), p[:, :3])
    # same grid as the pinhole case: K follows the paper crop of the camera's P
    points = np.array([[0.0, 0.0, 2.0], [0.3, -0.2, 1.5]])
    k_in = np.array(distorted.p).reshape(3, 4)[:, :3]
    assert np.allclose(project(p[:, :3], points), _expected_uv(project(k_in, points)), atol=1e-6)
    since = time.perf_counter()
    frames.served(info=distorted)
    out = wait_for(lambda: client.find_status("depth output", since), 5.0)
    assert int(status_values(out)["Depth images rectified"]) >= 1
    try:  # rectify is dynamically typed: `-p rectify:=false` arrives as a bool
        assert _ok(client.set_parameters(NODE, rectify=False))
        depth = frames.served(info=distorted)
        info = wait_for(lambda: client.info_for(depth.header.stamp), TIMEOUT_S)
        assert np.allclose(info.d, distorted.d)  # not rectified: the distortion is passed through
        assert not client.set_parameters(NODE, rectify="sometimes")[0].successful
    finally:
        client.set_parameters(NODE, rectify="auto")
