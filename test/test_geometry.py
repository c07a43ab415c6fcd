"""Geometry: the official crop chain, output grids, and camera_info by projecting points."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fastdepth_ros.geometry import (
    AxisMap,
    CameraInfoError,
    CameraIntrinsics,
    PinholeIntrinsics,
    map_pixels,
    parse_output_size,
    plan_frame,
    plan_sampling,
    project,
    resize_axis,
    unmap_pixels,
)

KINECT_K = np.array([[518.86, 0.0, 325.58], [0.0, 519.47, 253.74], [0.0, 0.0, 1.0]])


def kinect_info(width: int = 640, height: int = 480) -> CameraIntrinsics:
    return CameraIntrinsics(width=width, height=height, k=KINECT_K.copy(),
                            p=np.hstack([KINECT_K, np.zeros((3, 1))]))


def pil_official(img: np.ndarray) -> np.ndarray:
    """The official val_transform with PIL (what scipy.misc.imresize wraps)."""
    h, w = img.shape[:2]
    factor = 250.0 / h
    resized = np.asarray(Image.fromarray(img).resize((int(w * factor), int(h * factor)), Image.NEAREST))
    i = int(round((resized.shape[0] - 228) / 2.0))
    j = int(round((resized.shape[1] - 304) / 2.0))
    crop = resized[i:i + 228, j:j + 304]
    return np.asarray(Image.fromarray(crop).resize((224, 224), Image.NEAREST))


def test_crop_mode_reproduces_official_pipeline_except_pil_half_pixel_ties() -> None:
    # Encode each pixel's own row/col so the sampled source positions can be read back.
    rows, cols = np.mgrid[0:480, 0:640]
    img = np.stack([rows % 256, cols % 256, (rows // 256) * 16 + cols // 256], axis=2).astype(np.uint8)
    plan = plan_sampling((480, 640), (224, 224), "crop")
    ours = img[plan.row_indices[:, None], plan.col_indices[None, :]]
    theirs = pil_official(img)
    src_row = theirs[:, 0, 0].astype(int) + (theirs[:, 0, 2].astype(int) // 16) * 256
    src_col = theirs[0, :, 1].astype(int) + (theirs[0, :, 2].astype(int) % 16) * 256
    row_diff = np.abs(src_row - plan.row_indices)
    col_diff = np.abs(src_col - plan.col_indices)
    # PIL breaks exact half-pixel ties its own way: at most one source pixel apart, rarely.
    assert row_diff.max() <= 1 and col_diff.max() <= 1
    assert (row_diff > 0).sum() <= 6 and (col_diff > 0).sum() <= 6
    same_rows = row_diff == 0
    same_cols = col_diff == 0
    assert np.array_equal(ours[same_rows][:, same_cols], theirs[same_rows][:, same_cols])
    # The official crop's continuous geometry: 250/480 scale, 11 px / 14 px crop offsets.
    assert plan.rows.offset == pytest.approx(11 * 480 / 250)
    assert plan.cols.offset == pytest.approx(14 * 640 / 333)
    assert plan.rows.scale == pytest.approx(480 / 250 * 228 / 224)


def test_crop_mode_keeps_paper_scale_ratio_for_other_aspects() -> None:
    paper = plan_sampling((480, 640), (224, 224), "crop")
    for hw in [(720, 1280), (1080, 1920), (800, 600), (240, 320)]:
        plan = plan_sampling(hw, (224, 224), "crop")
        ratio = plan.cols.scale / plan.rows.scale
        assert ratio == pytest.approx(paper.cols.scale / paper.rows.scale, rel=0.02)
        # The crop is centred and inside the image.
        for axis, n in ((plan.rows, hw[0]), (plan.cols, hw[1])):
            start, end = axis.offset, axis.offset + axis.size * axis.scale
            assert 0 <= start and end <= n + 1e-6
            assert (start + end) / 2 == pytest.approx(n / 2, abs=axis.scale)


def test_full_mode_covers_whole_frame() -> None:
    plan = plan_sampling((480, 640), (224, 224), "full")
    assert plan.row_indices[0] == 1 and plan.row_indices[-1] == 478
    assert plan.rows.offset == 0 and plan.rows.scale * 224 == pytest.approx(480)


@pytest.mark.parametrize("hw", [(0, 640), (480, 0), (-1, 5), (20000, 10)])
def test_bad_sizes_are_rejected_with_reason(hw) -> None:
    with pytest.raises(ValueError, match="size"):
        plan_sampling(hw, (224, 224), "crop")


def test_output_size_parsing() -> None:
    assert parse_output_size("model") is None
    assert parse_output_size("640x480") == (480, 640)
    for bad in ("640", "0x480", "axb", "640x480x3"):
        with pytest.raises(ValueError, match="output size"):
            parse_output_size(bad)


def test_axis_map_round_trip_and_composition() -> None:
    outer = AxisMap(2.0, 10.0, 100)
    inner = AxisMap(1.5, 4.0, 30)
    both = outer.then(inner)
    u = np.array([0.0, 7.0, 29.0])
    assert np.allclose(both.to_source(u), outer.to_source(inner.to_source(u)))
    assert np.allclose(both.from_source(both.to_source(u)), u)
    # Resize maps pixel centres onto pixel centres: the first output centre is at 0.5*s - 0.5.
    assert resize_axis(640, 320).to_source(np.array([0.0]))[0] == pytest.approx(0.5)


@pytest.mark.parametrize("mode", ["crop", "full"])
@pytest.mark.parametrize("output", ["model", "input", "320x240", "1280x960"])
def test_depth_camera_info_projects_points_like_the_camera(mode: str, output: str) -> None:
    """A 3-D point projects onto the depth-image pixel that samples its camera pixel."""
    info = kinect_info()
    geo = plan_frame((480, 640), (224, 224), mode, output)
    depth_info = info.derive((480, 640), geo.out_rows, geo.out_cols)
    assert (depth_info.height, depth_info.width) == geo.output_hw
    assert depth_info.binning_x == 0 and depth_info.roi == (0, 0, 0, 0, False)
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(-1, 1, 50), rng.uniform(-0.8, 0.8, 50), rng.uniform(0.5, 8, 50)])
    in_camera = project(info.k, pts)
    in_depth = project(depth_info.k, pts)
    assert np.allclose(in_depth, unmap_pixels(geo.out_rows, geo.out_cols, in_camera), atol=1e-9)
    assert np.allclose(map_pixels(geo.out_rows, geo.out_cols, in_depth), in_camera, atol=1e-9)
    # P agrees with K for a monocular camera (Tx = 0).
    assert np.allclose(project(depth_info.p[:, :3], pts), in_depth)


def test_camera_info_with_binning_and_roi() -> None:
    """REP 104: a 2x-binned ROI of a 1280x960 calibration is described correctly."""
    k_full = KINECT_K * np.array([[2, 1, 2], [1, 2, 2], [1, 1, 1]])
    info = CameraIntrinsics(width=1280, height=960, k=k_full, p=np.hstack([k_full, np.zeros((3, 1))]),
                            binning_x=2, binning_y=2, roi=(100, 60, 1000, 800, False))
    geo = plan_frame((400, 500), (224, 224), "full", "model")
    depth_info = info.derive((400, 500), geo.out_rows, geo.out_cols)
    pts = np.array([[0.3, -0.2, 2.0], [-1.0, 0.5, 4.0]])
    full_px = project(k_full, pts)
    image_px = (full_px + 0.5 - np.array([100, 60])) / 2 - 0.5  # ROI, then 2x binning
    assert np.allclose(project(depth_info.k, pts), unmap_pixels(geo.out_rows, geo.out_cols, image_px))


def test_zero_p_is_filled_from_k_and_translation_scales() -> None:
    info = kinect_info()
    info.p = np.zeros((3, 4))
    geo = plan_frame((480, 640), (224, 224), "crop", "model")
    out = info.derive((480, 640), geo.out_rows, geo.out_cols)
    assert np.allclose(out.p[:, :3], out.k)
    stereo = kinect_info()
    stereo.p[0, 3] = -0.05 * stereo.k[0, 0]  # right camera of a 5 cm baseline pair
    out = stereo.derive((480, 640), geo.out_rows, geo.out_cols)
    assert out.p[0, 3] / out.p[0, 0] == pytest.approx(-0.05)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda i: i.k.__setitem__((0, 0), 0.0), "focal"),
        (lambda i: i.k.__setitem__((1, 2), np.nan), "NaN"),
        (lambda i: setattr(i, "width", 1280), "image is 640x480"),
        (lambda i: i.k.__setitem__((2, 2), 0.0), r"K's last row must be \[0, 0, 1\], got \[0, 0, 0\]"),
        (lambda i: i.k.__setitem__((2, 0), 0.1), r"K's last row must be \[0, 0, 1\]"),
        (lambda i: i.p.__setitem__((2, 2), 2.0), r"P's last row must be \[0, 0, 1, 0\], got \[0, 0, 2, 0\]"),
        (lambda i: setattr(i, "d", (0.1, np.nan, 0.0, 0.0, 0.0)), "D or R contains NaN/Inf"),
        (lambda i: setattr(i, "d", (np.inf, 0.0, 0.0, 0.0, 0.0)), "D or R contains NaN/Inf"),
        (lambda i: i.r.__setitem__((0, 0), np.nan), "D or R contains NaN/Inf"),
    ],
)
def test_broken_camera_info_is_rejected_with_reason(change, message) -> None:
    info = kinect_info()
    change(info)
    geo = plan_frame((480, 640), (224, 224), "crop", "model")
    with pytest.raises(CameraInfoError, match=message):
        info.derive((480, 640), geo.out_rows, geo.out_cols)


def test_pinhole_scaled_maps_pixel_centres_to_pixel_centres() -> None:
    cam = PinholeIntrinsics(518.9, 519.5, 325.6, 253.7, 640, 480)
    half = cam.scaled(0.5)
    assert (half.width, half.height) == (320, 240)
    points = np.array([[0.3, -0.2, 1.5], [-0.5, 0.4, 3.0], [0.0, 0.0, 2.0]])
    k = lambda c: np.array([[c.fx, 0, c.cx], [0, c.fy, c.cy], [0, 0, 1.0]])  # noqa: E731
    uv_full, uv_half = project(k(cam), points), project(k(half), points)
    assert np.allclose(uv_half, (uv_full + 0.5) * 0.5 - 0.5)  # same point, same sub-pixel spot
    assert cam.scaled(2.0).scaled(0.5) == cam
