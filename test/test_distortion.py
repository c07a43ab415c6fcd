"""Every distortion coefficient a camera_info carries is used, or the calibration is refused.

issue 23, fault 4: plumb_bob with 8 or 14 D and rational_polynomial with 14 were cut to 5/8
coefficients, the depth computed through the cut model and published as rectified.  Here the
sampling maps are checked against OpenCV's own ``initUndistortRectifyMap`` with the whole D
(what image_geometry's PinholeCameraModel hands it), for every length OpenCV takes.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from test_rectify import H, K, W, camera

from fastdepth_ros.geometry import (
    CameraInfoError,
    CameraIntrinsics,
    plan_rectification,
    plan_sampling,
    wants_rectification,
)

#: k1 k2 p1 p2 k3 | k4 k5 k6 | s1 s2 s3 s4 | tau_x tau_y: a wide lens whose higher terms matter
FULL_D = (0.4, -0.1, 0.001, 0.0005, 0.01, 0.7, -0.05, 0.02, 0.03, -0.01, 0.025, 0.005, 0.03, -0.05)


def model_grid_k(p: np.ndarray, size: int = 224) -> np.ndarray:
    """K of a ``size`` x ``size`` grid over the whole W x H rectified image (input_mode full):
    pixel centres onto pixel centres, worked out here rather than taken from geometry."""
    sx, sy = size / W, size / H
    return np.array([[p[0, 0] * sx, 0.0, (p[0, 2] + 0.5) * sx - 0.5],
                     [0.0, p[1, 1] * sy, (p[1, 2] + 0.5) * sy - 0.5],
                     [0.0, 0.0, 1.0]])


def opencv_map(info: CameraIntrinsics, d) -> tuple[np.ndarray, np.ndarray]:
    """Raw pixel centre (x, y) OpenCV samples for each model pixel of the full-view grid."""
    map_x, map_y = cv2.initUndistortRectifyMap(K, np.asarray(d, dtype=np.float64), info.r,
                                               model_grid_k(info.p), (224, 224), cv2.CV_32FC1)
    return map_x.astype(np.float64), map_y.astype(np.float64)


@pytest.mark.parametrize("model", ["plumb_bob", "rational_polynomial"])
@pytest.mark.parametrize("n", [4, 5, 8, 12, 14])
def test_sampling_map_is_opencvs_with_the_whole_d(model: str, n: int) -> None:
    info = camera(model, FULL_D[:n])
    plan = plan_sampling((H, W), (224, 224), "full")
    rect, rmap = plan_rectification(info, (H, W), plan)
    assert rect.d == (0.0,) * 5 and np.array_equal(rect.r, np.eye(3))
    map_x, map_y = opencv_map(info, FULL_D[:n])
    inside = (map_x > -0.5) & (map_x < W - 0.5) & (map_y > -0.5) & (map_y < H - 0.5)
    assert inside.mean() > 0.5
    # the node's nearest raw pixel is OpenCV's point, to the rounding
    assert np.abs(rmap.cols[inside] - map_x[inside]).max() <= 0.5 + 1e-6
    assert np.abs(rmap.rows[inside] - map_y[inside]).max() <= 0.5 + 1e-6
    # and rays OpenCV puts outside the raw image are flagged (depth NaN there)
    far_out = (map_x < -1) | (map_x > W) | (map_y < -1) | (map_y > H)
    assert not rmap.valid[far_out].any()
    assert rmap.valid[inside & ~((map_x < 0) | (map_x > W - 1) | (map_y < 0) | (map_y > H - 1))].all()


@pytest.mark.parametrize("model, n, cut", [("plumb_bob", 8, 5), ("plumb_bob", 14, 5),
                                           ("rational_polynomial", 14, 8), ("rational_polynomial", 12, 8)])
def test_the_coefficients_a_cut_would_drop_move_the_samples(model: str, n: int, cut: int) -> None:
    """The test above would catch a cut: for this lens, dropping the tail moves samples by
    tens of pixels (what the node did before)."""
    info = camera(model, FULL_D[:n])
    full_x, full_y = opencv_map(info, FULL_D[:n])
    cut_x, cut_y = opencv_map(info, FULL_D[:cut])
    inside = (full_x > 0) & (full_x < W - 1) & (full_y > 0) & (full_y < H - 1)
    shift = np.hypot(full_x - cut_x, full_y - cut_y)[inside]
    assert shift.max() > 10.0, shift.max()


@pytest.mark.parametrize("model, d, message", [
    ("plumb_bob", (0.1, 0.01, 0.0, 0.0, 0.0, 0.02),
     r"plumb_bob takes 4, 5, 8, 12 or 14 distortion coefficients \(OpenCV\), got 6"),
    ("rational_polynomial", (0.1,) * 9, "rational_polynomial takes .*, got 9"),
    ("plumb_bob", (0.1, 0.01, 0.0), "got 3"),
    ("equidistant", (0.05, -0.02, 0.004, -0.001, 0.001),
     r"equidistant takes 4 distortion coefficients \(OpenCV\), got 5"),
    ("kannala_brandt", (0.05, -0.02, 0.004, -0.001), "unknown distortion_model 'kannala_brandt'"),
])
def test_a_distortion_that_cannot_be_honoured_is_refused(model: str, d, message: str) -> None:
    info = camera(model, d)
    assert wants_rectification(info, "auto")
    with pytest.raises(CameraInfoError, match=message):
        plan_rectification(info, (H, W), plan_sampling((H, W), (224, 224), "crop"))


def test_zero_d_of_any_length_is_no_distortion() -> None:
    """image_geometry's rule: all-zero D is an undistorted camera, whatever its length; with
    ``rectify: true`` only R and P are applied."""
    angle = np.deg2rad(4.0)
    r = np.array([[np.cos(angle), 0.0, np.sin(angle)], [0.0, 1.0, 0.0], [-np.sin(angle), 0.0, np.cos(angle)]])
    info = replace(camera("plumb_bob", (0.0,) * 6), r=r)
    assert not wants_rectification(info, "auto") and wants_rectification(info, "true")
    plan = plan_sampling((H, W), (224, 224), "full")
    _, rmap = plan_rectification(info, (H, W), plan)
    map_x, map_y = opencv_map(info, ())
    inside = (map_x > 0) & (map_x < W - 1) & (map_y > 0) & (map_y < H - 1)
    assert np.abs(rmap.cols[inside] - map_x[inside]).max() <= 0.5 + 1e-6
    assert np.abs(rmap.rows[inside] - map_y[inside]).max() <= 0.5 + 1e-6
    # the rotation matters: columns move by ~tan(4 deg) * f * 224 / 640 model pixels' worth
    assert np.abs(rmap.cols[112] - plan.col_indices).mean() > 20


def test_equidistant_takes_its_four_coefficients_through_fisheye() -> None:
    d = (0.05, -0.02, 0.004, -0.001)
    info = camera("equidistant", d)
    plan = plan_sampling((H, W), (224, 224), "full")
    _, rmap = plan_rectification(info, (H, W), plan)
    map_x, map_y = cv2.fisheye.initUndistortRectifyMap(K, np.array(d), np.eye(3), model_grid_k(info.p),
                                                       (224, 224), cv2.CV_32FC1)
    inside = (map_x > 0) & (map_x < W - 1) & (map_y > 0) & (map_y < H - 1)
    assert np.abs(rmap.cols[inside] - map_x[inside]).max() <= 0.5 + 1e-6
    assert np.abs(rmap.rows[inside] - map_y[inside]).max() <= 0.5 + 1e-6
    with pytest.raises(CameraInfoError, match="NaN"):
        plan_rectification(replace(info, d=(0.05, np.nan, 0.0, 0.0)), (H, W), plan)
