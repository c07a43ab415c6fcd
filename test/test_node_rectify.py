"""Rectification through the real node (depth_node subprocess, DDS): which raw pixel every
depth pixel came from, checked against OpenCV with the calibration's whole D.

The model is a position probe: a 1x1 convolution that turns the input colour back into the
index of the raw pixel it was sampled from (depth = 1 + index / 1e5 m, inside the default
range), and the frame paints every pixel with its own index.  So the depth image says, pixel
by pixel, where the node sampled, and OpenCV's ``initUndistortRectifyMap`` with the input's
K, D, R and the published depth camera_info's K says where it should have.

issue 23 fault 4 (plumb_bob with 8 or 14 D, rational_polynomial with 14: the tail was cut and
the depth published as rectified) and the issue 25 rectification promises of docs/node.md:
``rectify: true`` with D = 0 applies R and P; rays outside the raw image are NaN; an unknown
distortion model is an ERROR with no camera_info; focal scaling uses the rectified camera.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple

import cv2
import fault_models
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
    wait_for,
)
from test_distortion import FULL_D, H, K, W

from fastdepth_ros.geometry import plan_sampling
from fastdepth_ros.imaging import image_to_numpy

pytestmark = [pytest.mark.ros]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

NS = "/fdrect_%d" % os.getpid()
NODE = NS + "/fastdepth"
INDEX_PER_M = 1e5


def position_model(path: Path) -> Path:
    """depth = 1 + (R + 256 G + 65536 B) / 1e5 for the input's 8-bit colour (the node feeds
    RGB / 255), exact in float32 for indices below 2^19."""
    from onnx import TensorProto, numpy_helper
    from onnx.helper import make_node

    weights = np.array([255.0, 255.0 * 256, 255.0 * 65536], dtype=np.float64) / INDEX_PER_M
    inits = [numpy_helper.from_array(weights.astype(np.float32).reshape(1, 3, 1, 1), "w"),
             numpy_helper.from_array(np.array([1.0], dtype=np.float32), "b")]
    return fault_models._save(path, [make_node("Conv", ["x", "w", "b"], ["depth"])],
                              [fault_models._tensor("x", TensorProto.FLOAT, fault_models.IN_SHAPE)],
                              [fault_models._tensor("depth", TensorProto.FLOAT, [1, 1, 224, 224])], inits)


def index_frame() -> np.ndarray:
    """Every raw pixel painted with its index y * W + x (R low byte, G middle, B high)."""
    idx = np.arange(H * W, dtype=np.int64).reshape(H, W)
    return np.ascontiguousarray(np.stack([idx & 255, (idx >> 8) & 255, idx >> 16], axis=2).astype(np.uint8))


def calibration(model: str = "plumb_bob", d=(0.0,) * 5, r: Optional[np.ndarray] = None,
                p: Optional[np.ndarray] = None) -> Any:
    info = camera_info(W, H, fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2], frame_id="cam_optical")
    info.distortion_model = model
    info.d = [float(v) for v in d]
    if r is not None:
        info.r = [float(v) for v in np.asarray(r).ravel()]
    if p is not None:
        info.p = [float(v) for v in np.asarray(p).ravel()]
    return info


def rotation_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[Tuple[NodeProcess, Client]]:
    model = position_model(tmp_path_factory.mktemp("rectify") / "position.onnx")
    params = ["-p", "model_path:=%s" % model, "-p", "warmup_runs:=0"]
    with node_and_client(NS, params, reliable=(IMAGE, INFO)) as (proc, client):
        yield proc, client


def send(client: Client, info: Any) -> Any:
    """Publish the index frame with ``info`` (restamped to match); returns the image."""
    msg = image_msg(index_frame(), client.node.get_clock().now().nanoseconds, frame_id="cam_optical")
    info.header = msg.header
    client.publish(msg, info)
    return msg


def depth_with_info(proc: NodeProcess, client: Client, info: Any, tries: int = 30) -> Tuple[np.ndarray, Any]:
    """(depth m, its depth/camera_info) for a frame sent with ``info``.  Frames are sent until
    two came back with camera_info and the second is returned: the first best-effort samples
    may be lost, and a frame whose own info is late is paired with the latest one, which is
    this calibration only once an earlier frame of it got through."""
    got = 0
    for _ in range(tries):
        sent = send(client, info)
        depth = wait_for(lambda s=sent: client.depth_for(s.header.stamp), 1.0)
        out_info = depth is not None and wait_for(lambda s=sent: client.info_for(s.header.stamp), 1.0)
        if out_info:
            got += 1
            if got == 2:
                return image_to_numpy(depth).astype(np.float64), out_info
    pytest.fail("no depth with camera_info; node output:\n" + proc.output())


def set_params(client: Client, **values: Any) -> None:
    results = client.set_parameters(NODE, **values)
    assert all(r.successful for r in results), [r.reason for r in results]


def sampled_pixels(depth_m: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, valid) of the raw pixel behind every depth pixel (NaN depth: not valid)."""
    valid = np.isfinite(depth_m)
    idx = np.rint((np.where(valid, depth_m, 1.0) - 1.0) * INDEX_PER_M).astype(np.int64)
    return idx % W, idx // W, valid


def opencv_pixels(info: Any, out_info: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, inside): the raw pixel nearest to where OpenCV's undistortion with the input's
    K, whole D and R sends each pixel of the depth grid that ``out_info`` describes (the
    depth grid is the model grid: output_size model), and whether it is on the raw image."""
    k_in = np.array(info.k).reshape(3, 3)
    k_out = np.array(out_info.k).reshape(3, 3)
    d = np.array(info.d, dtype=np.float64) if any(info.d) else None
    map_x, map_y = cv2.initUndistortRectifyMap(k_in, d, np.array(info.r).reshape(3, 3), k_out,
                                               (out_info.width, out_info.height), cv2.CV_32FC1)
    x, y = np.floor(map_x + 0.5), np.floor(map_y + 0.5)
    inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    return x.astype(np.int64), y.astype(np.int64), inside


def assert_rectified_info(out_info: Any, p_in: np.ndarray, mode: str) -> None:
    """D = 0, R = I, and K = P's 3x3 = the input's P carried onto the depth grid (the model
    grid of ``mode``): the rectified camera, not the raw one."""
    assert out_info.distortion_model == "plumb_bob" and not any(out_info.d)
    assert np.array_equal(np.array(out_info.r).reshape(3, 3), np.eye(3))
    k_out = np.array(out_info.k).reshape(3, 3)
    assert np.allclose(np.array(out_info.p).reshape(3, 4)[:, :3], k_out)
    plan = plan_sampling((H, W), (224, 224), mode)
    assert k_out[0, 0] == pytest.approx(p_in[0, 0] / plan.cols.scale, rel=1e-9)
    assert k_out[1, 1] == pytest.approx(p_in[1, 1] / plan.rows.scale, rel=1e-9)
    assert k_out[0, 2] == pytest.approx(plan.cols.from_source(p_in[0, 2]), abs=1e-9)
    assert k_out[1, 2] == pytest.approx(plan.rows.from_source(p_in[1, 2]), abs=1e-9)


@pytest.mark.parametrize("model, n", [("plumb_bob", 8), ("plumb_bob", 14), ("rational_polynomial", 14),
                                      ("rational_polynomial", 12)])
def test_every_distortion_coefficient_is_used(node, model: str, n: int) -> None:
    """issue 23 fault 4: the node samples exactly where OpenCV's map with the whole D says."""
    proc, client = node
    set_params(client, rectify="auto", input_mode="crop", canonical_focal_px=0.0)
    info = calibration(model, FULL_D[:n])
    depth, out_info = depth_with_info(proc, client, info)
    assert_rectified_info(out_info, np.array(info.p).reshape(3, 4), "crop")
    x, y, valid = sampled_pixels(depth)
    ex, ey, inside = opencv_pixels(info, out_info)
    assert inside.mean() > 0.5
    assert np.array_equal(valid, inside), "NaN exactly where OpenCV's ray leaves the raw image"
    off_px = np.hypot(x - ex, y - ey)[inside]
    assert off_px.max() == 0.0, "sampled up to %.1f px away from OpenCV's full-D map" % off_px.max()


def test_rectify_true_with_zero_d_applies_r_and_p(node) -> None:
    """A rectifying rotation and a new P with D = 0: ``true`` resamples through them, ``auto``
    leaves the image as it is (and passes R on)."""
    proc, client = node
    p = np.hstack([np.array([[430.0, 0.0, 300.0], [0.0, 430.0, 250.0], [0.0, 0.0, 1.0]]), np.zeros((3, 1))])
    info = calibration(d=(0.0,) * 5, r=rotation_y(5.0), p=p)
    set_params(client, rectify="true", input_mode="crop", canonical_focal_px=0.0)
    depth, out_info = depth_with_info(proc, client, info)
    assert_rectified_info(out_info, p, "crop")
    x, y, valid = sampled_pixels(depth)
    ex, ey, inside = opencv_pixels(info, out_info)
    assert np.array_equal(valid, inside)
    assert np.array_equal(x[inside], ex[inside]) and np.array_equal(y[inside], ey[inside])

    set_params(client, rectify="auto")
    depth, plain_info = depth_with_info(proc, client, info)
    x, y, valid = sampled_pixels(depth)
    plan = plan_sampling((H, W), (224, 224), "crop")
    assert valid.all()
    assert np.array_equal(x, np.broadcast_to(plan.col_indices, x.shape))
    assert np.array_equal(y, np.broadcast_to(plan.row_indices[:, None], y.shape))
    assert np.allclose(np.array(plain_info.r).reshape(3, 3), rotation_y(5.0))


def test_rays_outside_the_raw_image_are_nan(node) -> None:
    """Pincushion over the whole view: the rectified corners look past the sensor's edge."""
    proc, client = node
    set_params(client, rectify="auto", input_mode="full", canonical_focal_px=0.0)
    info = calibration(d=(0.35, 0.1, 0.0, 0.0, 0.0))
    depth, out_info = depth_with_info(proc, client, info)
    x, y, valid = sampled_pixels(depth)
    ex, ey, inside = opencv_pixels(info, out_info)
    assert 0.02 < 1.0 - inside.mean() < 0.5, "the lens must leave part of the view unseen"
    assert np.isnan(depth[~inside]).all() and np.isfinite(depth[inside]).all()
    assert np.isnan(depth[0, 0]) and np.isnan(depth[-1, -1]) and np.isfinite(depth[112, 112])
    assert np.array_equal(x[inside], ex[inside]) and np.array_equal(y[inside], ey[inside])


def test_focal_scaling_uses_the_rectified_camera(node) -> None:
    """The depth is converted with the focal length of the camera the model saw: P's (the
    rectified one) in model pixels, not K's."""
    proc, client = node
    f_canonical = 150.0
    p = np.hstack([np.array([[416.0, 0.0, 320.0], [0.0, 417.6, 240.0], [0.0, 0.0, 1.0]]), np.zeros((3, 1))])
    info = calibration("plumb_bob", FULL_D[:8], p=p)
    set_params(client, rectify="auto", input_mode="crop", focal_scaling=True, canonical_focal_px=f_canonical)
    try:
        depth, out_info = depth_with_info(proc, client, info)
    finally:
        set_params(client, canonical_focal_px=0.0)
    ex, ey, inside = opencv_pixels(info, out_info)
    plan = plan_sampling((H, W), (224, 224), "crop")  # one model pixel per cols.scale raw pixels
    f_model = np.sqrt(p[0, 0] / plan.cols.scale * p[1, 1] / plan.rows.scale)
    expected = (1.0 + (ey * W + ex) / INDEX_PER_M) * f_model / f_canonical
    assert np.isnan(depth[~inside]).all()
    np.testing.assert_allclose(depth[inside], expected[inside], rtol=1e-5)
    f_raw = np.sqrt(K[0, 0] / plan.cols.scale * K[1, 1] / plan.rows.scale)
    assert abs(f_raw / f_model - 1.0) > 0.2, "K and P must differ for the test to mean anything"


@pytest.mark.parametrize("model, d, reason", [
    ("kannala_brandt", (0.05, -0.02, 0.004, -0.001), "unknown distortion_model 'kannala_brandt'"),
    ("plumb_bob", (0.1, 0.01, 0.0, 0.0, 0.0, 0.02),
     "plumb_bob takes 4, 5, 8, 12 or 14 distortion coefficients (OpenCV), got 6"),
])
def test_unhonourable_distortion_is_an_error_without_camera_info(node, model: str, d, reason: str) -> None:
    """One clear error line and a camera_info ERROR; that depth goes out without camera_info.
    A good calibration sent afterwards is the fence: its camera_info arrives, so the bad
    frame's would have arrived before it (one publisher, one reliable topic, in order)."""
    proc, client = node
    set_params(client, rectify="auto", input_mode="crop", canonical_focal_px=0.0)
    good = calibration("plumb_bob", FULL_D[:5])  # rectified: its depth is not the plain sampling
    depth_with_info(proc, client, good)
    plan = plan_sampling((H, W), (224, 224), "crop")
    since = time.perf_counter()
    bad = calibration(model, d)
    bad_stamps = []
    for _ in range(30):
        sent = send(client, bad)
        depth = wait_for(lambda s=sent: client.depth_for(s.header.stamp), 1.0)
        if depth is None:
            continue
        x, y, _ = sampled_pixels(image_to_numpy(depth).astype(np.float64))
        if np.array_equal(x, np.broadcast_to(plan.col_indices, x.shape)):
            bad_stamps.append(sent.header.stamp)  # processed with the bad info: unrectified
            break  # (else its info was late and the good one was used: pairing, not this test)
    assert bad_stamps, ("no depth came out unrectified (the bad calibration was rectified anyway?); "
                        "node output:\n" + proc.output())
    assert np.array_equal(y, np.broadcast_to(plan.row_indices[:, None], y.shape))
    status = wait_for(lambda: client.find_status("camera_info", since, level=2, text=reason), 10.0)
    assert status is not None, "no camera_info ERROR naming %r; node output:\n%s" % (reason, proc.output())
    depth_with_info(proc, client, good)  # the fence
    assert client.info_for(bad_stamps[0]) is None
    log = proc.output()  # one ERROR line per kind and throttle period (the first case's here)
    assert "[ERROR]" in log and "cannot rectify, publishing depth without depth/camera_info" in log
    assert "Traceback" not in log
