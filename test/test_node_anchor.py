"""Metric scale anchoring through the real node (depth_node subprocess, DDS): anchor/depth,
anchor/camera_info and anchor/range in, anchored depth/image and the "metric scale"
diagnostic out.

The frame is a real RealSense office frame (validation data, never trained on), where the
shipped model's depth is about 3x too far; the anchors come from its ground truth x 2 (a
world the model cannot know), so only anchoring can put the output there.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, List, Optional

import cv2
import numpy as np
import pytest
from deps import need
from ros_harness import (
    REPO,
    Client,
    NodeProcess,
    camera_info,
    image_msg,
    isolate_dds,
    node_and_client,
    status_values,
    wait_for,
)

from fastdepth_ros.imaging import image_to_numpy, numpy_to_image
from fastdepth_ros.metrics import compute_metrics, median_scaled
from fastdepth_ros.replay.anchor_sim import range_reading, sparse_anchor

pytestmark = [pytest.mark.ros, pytest.mark.slow]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

NS = "/fdanchor_%d" % os.getpid()
NODE = NS + "/fastdepth"
MODEL = REPO / "models" / "fastdepth.onnx"
MAX_AGE_S = 0.4
WORLD = 2.0  # the anchors' world: ground truth x 2
FOV_RAD = 0.15


class Rig:
    """The node, a client, the frame and its ground truth."""

    def __init__(self, proc: NodeProcess, client: Client, rgb: np.ndarray, gt: np.ndarray,
                 k: np.ndarray, ns: str = NS) -> None:
        from sensor_msgs.msg import CameraInfo, Image, Range

        self.proc, self.client, self.rgb, self.gt, self.k = proc, client, rgb, gt, k
        self.info = camera_info(640, 480, fx=k[0, 0], fy=k[1, 1], cx=k[0, 2], cy=k[1, 2], frame_id="cam")
        qos = client.image_pub.qos_profile
        node = client.node
        self.depth_pub = node.create_publisher(Image, ns + "/anchor/depth", qos)
        self.range_pub = node.create_publisher(Range, ns + "/anchor/range", qos)
        self.anchor_info_pub = node.create_publisher(CameraInfo, ns + "/anchor/camera_info", qos)
        self.plain: Optional[np.ndarray] = None

    def frame(self, anchors: List[Any] = (), tries: int = 20, want_anchored: bool = True) -> Any:
        """Publish the anchors (stamped like the frame), then the frame; the depth message.
        Resent (new stamp) while the output is unanchored when ``want_anchored`` (best-effort
        samples may be lost)."""
        for _ in range(tries):
            stamp = self.client.node.get_clock().now().nanoseconds
            img = image_msg(self.rgb, stamp, frame_id="cam")
            for a in anchors:
                a.header.stamp = img.header.stamp
                (self.range_pub if hasattr(a, "field_of_view") else self.depth_pub).publish(a)
            time.sleep(0.1)  # DDS orders nothing across topics: the anchors first
            self.info.header = img.header
            self.client.publish(img, self.info)
            out = wait_for(lambda m=img: self.client.depth_for(m.header.stamp), 2.0)
            if out is None:
                continue
            depth = image_to_numpy(out).astype(np.float32)
            if not want_anchored or self.plain is None or not np.allclose(depth, self.plain, rtol=1e-5):
                return out
        raise AssertionError("no (anchored) depth; node output:\n" + self.proc.output())

    def settle(self) -> None:
        """Let the previous test's anchors age out (each test pairs only with its own)."""
        time.sleep(MAX_AGE_S + 0.1)

    def scale_status(self, since: float, text: str = "") -> Any:
        return wait_for(lambda: self.client.find_status("metric scale", since, text=text), 5.0)


@pytest.fixture(scope="module")
def rig(realdata: Path):
    root = realdata / "realsense_office"
    rgb = np.ascontiguousarray(cv2.imread(str(root / "rgb" / "00000.jpg"))[:, :, ::-1])
    gt = cv2.imread(str(root / "depth" / "00000.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
    k = np.array([[617.25, 0, 317.392], [0, 617.549, 245.980], [0, 0, 1.0]])
    params = ["-p", "model_path:=%s" % MODEL, "-p", "anchor.max_age_s:=%g" % MAX_AGE_S,
              "-p", "anchor.smoothing_s:=0.0"]
    reliable = ("cam/image", "anchor/depth", "anchor/range", "anchor/camera_info")
    with node_and_client(NS, params, reliable=reliable, image="cam/image") as (proc, client):
        r = Rig(proc, client, rgb, gt, k)
        assert wait_for(lambda: r.depth_pub.get_subscription_count() > 0
                        and r.range_pub.get_subscription_count() > 0, 20.0), proc.output()
        since = time.perf_counter()
        r.plain = image_to_numpy(r.frame(want_anchored=False)).astype(np.float32)
        status = r.scale_status(since, "No anchors")
        assert status is not None and status.level[0] == 0, client.statuses(since)
        yield r


def gt_on_grid(rig: Rig) -> np.ndarray:
    from fastdepth_ros.geometry import plan_sampling

    plan = plan_sampling(rig.gt.shape, (224, 224), "crop")
    return rig.gt[plan.row_indices[:, None], plan.col_indices[None, :]]


def anchor_image(depth_m: np.ndarray, encoding: str = "32FC1") -> Any:
    if encoding == "16UC1":
        return numpy_to_image(np.nan_to_num(depth_m * 1000.0).round().astype(np.uint16), "16UC1")
    return numpy_to_image(depth_m.astype(np.float32), "32FC1")


def test_sparse_anchors_put_the_output_in_the_anchors_world(rig: Rig) -> None:
    rig.settle()
    gt = gt_on_grid(rig) * WORLD
    plain_d1 = compute_metrics(rig.plain, gt).delta1
    shape_d1 = compute_metrics(median_scaled(rig.plain, gt), gt).delta1
    sparse = sparse_anchor(rig.gt, 40, np.random.default_rng(0), WORLD)
    since = time.perf_counter()
    out = image_to_numpy(rig.frame([anchor_image(sparse, "16UC1")])).astype(np.float32)
    valid = (gt > 0) & np.isfinite(out)
    assert abs(math.log(np.median(gt[valid] / out[valid]))) < 0.1  # the anchors' world
    anchored_d1 = compute_metrics(out, gt).delta1
    assert plain_d1 < 0.5 * anchored_d1 and anchored_d1 >= 0.9 * shape_d1, (plain_d1, anchored_d1, shape_d1)
    status = rig.scale_status(since, "Anchored to depth")
    assert status is not None and status.level[0] == 0
    values = status_values(status)
    assert values["Source"] == "depth" and 25 <= int(values["Anchors used"]) <= 40
    ratio = out[valid] / rig.plain[valid]  # one factor on every pixel: the reported scale
    np.testing.assert_allclose(ratio, float(values["Scale"]), rtol=2e-3)


def test_outliers_barely_move_the_scale(rig: Rig) -> None:
    rig.settle()
    rng = np.random.default_rng(1)
    sparse = sparse_anchor(rig.gt, 60, rng, WORLD)
    clean = image_to_numpy(rig.frame([anchor_image(sparse)])).astype(np.float32)
    where = np.flatnonzero(np.isfinite(sparse))
    bad = sparse.copy()
    bad.flat[rng.choice(where, size=len(where) // 10, replace=False)] *= 10.0  # 10 % x10
    dirty = image_to_numpy(rig.frame([anchor_image(bad)])).astype(np.float32)
    valid = np.isfinite(clean) & np.isfinite(dirty)
    assert abs(np.median(dirty[valid] / clean[valid]) - 1.0) < 0.03


def test_range_anchor_scales_within_its_cone(rig: Rig) -> None:
    from sensor_msgs.msg import Range

    rig.settle()
    reading = range_reading(rig.gt, rig.k, FOV_RAD, WORLD)
    msg = Range(radiation_type=Range.INFRARED, field_of_view=FOV_RAD, min_range=0.2, max_range=40.0,
                range=float(reading))
    since = time.perf_counter()
    out_msg = rig.frame([msg])
    out = image_to_numpy(out_msg).astype(np.float32)
    info = wait_for(lambda: rig.client.info_for(out_msg.header.stamp), 2.0)
    k = np.array(info.k).reshape(3, 3)  # the depth grid's own camera
    h, w = out.shape
    x = (np.arange(w) - k[0, 2]) / k[0, 0]
    y = (np.arange(h) - k[1, 2]) / k[1, 1]
    stretch = np.sqrt(1 + x[None, :] ** 2 + y[:, None] ** 2)
    cone = stretch <= 1 / math.cos(FOV_RAD / 2)
    assert 20 < cone.sum() < 2000  # a narrow cone: a few hundred model pixels
    # inside the cone the output's median ray distance is the reading
    assert np.median(out[cone] * stretch[cone]) == pytest.approx(reading, rel=0.01)
    status = rig.scale_status(since, "Anchored to range")
    assert status is not None and status_values(status)["Source"] == "range"


def test_stale_anchors_stop_being_applied(rig: Rig) -> None:
    rig.settle()
    sparse = sparse_anchor(rig.gt, 40, np.random.default_rng(2), WORLD)
    rig.frame([anchor_image(sparse)])
    time.sleep(MAX_AGE_S + 0.3)
    since = time.perf_counter()
    out = image_to_numpy(rig.frame(want_anchored=False)).astype(np.float32)
    np.testing.assert_allclose(out, rig.plain, rtol=1e-5)  # the model's own scale again
    status = rig.scale_status(since, "Not anchored")
    assert status is not None and status.level[0] == 1, rig.client.statuses(since)
    assert "anchor.max_age_s" in status.message and status_values(status)["Source"] == "none"


def test_bad_anchor_messages_are_warned_about_and_survived(rig: Rig) -> None:
    from sensor_msgs.msg import Image, Range

    since = time.perf_counter()
    wrong_encoding = numpy_to_image(np.zeros((480, 640, 3), np.uint8), "rgb8")
    short = numpy_to_image(np.ones((480, 640), np.float32), "32FC1")
    short = Image(header=short.header, height=480, width=640, encoding="32FC1", is_bigendian=0,
                  step=640 * 4, data=bytes(short.data)[: 640 * 4 * 100])
    all_nan = anchor_image(np.full((480, 640), np.nan, np.float32))
    negative = Range(radiation_type=Range.ULTRASOUND, field_of_view=0.3, min_range=0.1, max_range=5.0,
                     range=-2.0)
    expected = ("not a depth encoding", "short buffer", "no measurement", "is negative")
    for msg, text in zip((wrong_encoding, short, all_nan, negative), expected):
        for _ in range(20):  # best effort: resent until the node said something about it
            (rig.range_pub if isinstance(msg, Range) else rig.depth_pub).publish(msg)
            if wait_for(lambda t=text: t in rig.proc.output(), 0.5):
                break
    assert all(e in rig.proc.output() for e in expected), rig.proc.output()
    log = rig.proc.output()
    for e in expected:
        line = next(line for line in log.splitlines() if e in line)
        assert "[WARN]" in line and "ignoring bad anchor message" in line, line
    assert "Traceback" not in log and rig.proc.alive()
    status = rig.scale_status(since, "bad anchor")
    assert status is not None and status.level[0] == 1
    out = rig.frame(want_anchored=False)  # still serving
    assert out is not None


def test_dense_anchors_report_live_accuracy_as_computed_offline(rig: Rig) -> None:
    """A half-resolution depth camera with its own camera_info: the held-out checkerboard
    half against the published depth, mapped through the depth image's camera_info here."""
    from fastdepth_ros.anchor import CHECKER_BLOCK_PX

    half = cv2.resize(rig.gt, (320, 240), interpolation=cv2.INTER_NEAREST) * WORLD
    ka = rig.k.copy()
    ka[:2] /= 2.0
    ka[0, 2], ka[1, 2] = (rig.k[0, 2] + 0.5) / 2 - 0.5, (rig.k[1, 2] + 0.5) / 2 - 0.5
    info = camera_info(320, 240, fx=ka[0, 0], fy=ka[1, 1], cx=ka[0, 2], cy=ka[1, 2], frame_id="cam")
    for _ in range(5):
        rig.anchor_info_pub.publish(info)
        time.sleep(0.1)
    rig.settle()
    since = time.perf_counter()
    out_msg = rig.frame([anchor_image(half, "16UC1")])
    stamp = out_msg.header.stamp
    stamp_text = "%.3f" % (stamp.sec + stamp.nanosec * 1e-9)

    def live() -> Any:
        for st in rig.client.statuses(since):
            if (st.name.endswith("metric scale")
                    and status_values(st).get("Live accuracy stamp") == stamp_text):
                return st
        return None

    status = wait_for(live, 5.0)
    assert status is not None, rig.client.statuses(since)
    values = status_values(status)

    # offline: held-out anchor pixels -> camera pixels -> the depth grid (its camera_info)
    out = image_to_numpy(out_msg).astype(np.float64)
    k = np.array(wait_for(lambda: rig.client.info_for(stamp), 2.0).k).reshape(3, 3)
    half_mm = np.nan_to_num(half * 1000.0).round() / 1000.0
    v, u = np.nonzero(half_mm > 0)
    held = ((u // CHECKER_BLOCK_PX + v // CHECKER_BLOCK_PX) % 2) == 1
    u, v, z = u[held], v[held], half_mm[v[held], u[held]]
    x = (u - ka[0, 2]) / ka[0, 0] * rig.k[0, 0] + rig.k[0, 2]
    y = (v - ka[1, 2]) / ka[1, 1] * rig.k[1, 1] + rig.k[1, 2]
    col = np.floor((x - rig.k[0, 2]) / rig.k[0, 0] * k[0, 0] + k[0, 2] + 0.5).astype(int)
    row = np.floor((y - rig.k[1, 2]) / rig.k[1, 1] * k[1, 1] + k[1, 2] + 0.5).astype(int)
    inside = (col >= 0) & (col < out.shape[1]) & (row >= 0) & (row < out.shape[0])
    pred, gt = out[row[inside], col[inside]], z[inside]
    ratio = np.where(np.isfinite(pred), np.maximum(pred / gt, gt / pred), np.inf)
    delta1 = float(np.mean(ratio < 1.25))
    absrel = float(np.mean(np.where(np.isfinite(pred), np.abs(pred - gt) / gt, 1.0)))
    assert abs(int(values["Live accuracy pixels"]) - int(inside.sum())) <= 0.01 * inside.sum()
    assert float(values["Live delta1 vs anchor depth (held-out pixels)"]) == pytest.approx(delta1, abs=3e-3)
    assert float(values["Live AbsRel vs anchor depth (held-out pixels)"]) == pytest.approx(absrel, abs=3e-3)
    assert 0.3 < delta1 < 0.95  # a real figure, not a degenerate 0 or 1


def test_lifecycle_node_anchors_the_same(realdata: Path) -> None:
    """depth_lifecycle_node: anchor topics exist only while active, and anchor alike."""
    from test_node_integration import _lifecycle

    root = realdata / "realsense_office"
    rgb = np.ascontiguousarray(cv2.imread(str(root / "rgb" / "00000.jpg"))[:, :, ::-1])
    gt = cv2.imread(str(root / "depth" / "00000.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
    ns = NS + "_life"
    with node_and_client(ns, ["-p", "model_path:=%s" % MODEL], reliable=("cam/image", "anchor/depth"),
                         image="cam/image", script="depth_lifecycle_node",
                         subscribed_within_s=None) as (proc, client):
        k = np.array([[617.25, 0, 317.392], [0, 617.549, 245.980], [0, 0, 1.0]])
        r = Rig(proc, client, rgb, gt, k, ns)
        pub = r.depth_pub
        assert _lifecycle(client, ns + "/fastdepth", "configure") == "inactive", proc.output()
        time.sleep(0.5)
        assert pub.get_subscription_count() == 0, "inactive: no anchor subscription"
        assert _lifecycle(client, ns + "/fastdepth", "activate") == "active"
        assert client.wait_subscribed(20.0) and wait_for(lambda: pub.get_subscription_count() > 0, 10.0)
        r.plain = image_to_numpy(r.frame(want_anchored=False)).astype(np.float32)
        sparse = sparse_anchor(gt, 40, np.random.default_rng(3), WORLD)
        out = image_to_numpy(r.frame([anchor_image(sparse)])).astype(np.float32)
        g = gt_on_grid(r) * WORLD
        valid = (g > 0) & np.isfinite(out)
        assert abs(math.log(np.median(g[valid] / out[valid]))) < 0.1
        assert _lifecycle(client, ns + "/fastdepth", "deactivate") == "inactive"
        assert wait_for(lambda: pub.get_subscription_count() == 0, 10.0)
        assert "Traceback" not in proc.output()


@pytest.mark.parametrize("setting, reason", [
    ("anchor.scale_limits:=[2.0,1.0]", "anchor.scale_limits must be [low, high]"),
    ("anchor.min_points:=0", "anchor.min_points"),
])
def test_bad_anchor_settings_are_refused_at_start_up(setting: str, reason: str) -> None:
    proc = NodeProcess(["-p", "model_path:=%s" % MODEL, "-r", "__ns:=%s_bad" % NS, "-p", setting],
                       isolate_dds())
    try:
        code = proc.wait(60.0)
        assert code == 1, proc.output()
        assert reason in proc.output() and "Traceback" not in proc.output(), proc.output()
    finally:
        proc.close()
