"""Rectification folded into the sampling maps (geometry.plan_rectification, rectify param).

A raw frame is synthesised from an ideal (rectified) scene through a known distortion, so
the truth is known: the rectified pipeline must see the ideal scene, the published
camera_info must be the pinhole model of the depth grid (D = 0, R = I), and 3-D points
must land where that camera_info says.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from fastdepth_ros.geometry import (
    CameraInfoError,
    CameraIntrinsics,
    plan_frame,
    plan_rectification,
    plan_sampling,
    project,
    rectified_camera,
    wants_rectification,
)

W, H = 640, 480
K = np.array([[520.0, 0.0, 318.0], [0.0, 522.0, 245.0], [0.0, 0.0, 1.0]])
DISTORTIONS = {
    "plumb_bob": (-0.28, 0.09, 0.001, -0.0015, -0.012),
    "rational_polynomial": (0.4, -0.1, 0.001, 0.0005, 0.01, 0.7, -0.05, 0.02),
    "equidistant": (0.05, -0.02, 0.004, -0.001),
}


def camera(model: str, d=None, w: int = W, h: int = H, p=None) -> CameraIntrinsics:
    p = np.hstack([K, np.zeros((3, 1))]) if p is None else p
    d = DISTORTIONS[model] if d is None else d
    return CameraIntrinsics(width=w, height=h, k=K.copy(), p=p, d=tuple(d), distortion_model=model)


def ideal_scene(w: int = W, h: int = H) -> np.ndarray:
    """Smooth texture (nearest sampling off by a pixel changes little)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 120 * np.sin(x / 23.0) * np.cos(y / 31.0)
    g = 127 + 120 * np.sin((x + y) / 41.0)
    b = 127 + 120 * np.cos((x - 2 * y) / 37.0)
    return np.clip(np.stack([r, g, b], axis=2), 0, 255).astype(np.uint8)


def distort_frame(ideal: np.ndarray, info: CameraIntrinsics) -> np.ndarray:
    """The raw image the distorted camera records of the ideal (rectified) scene: for each
    raw pixel, the rectified pixel that sees the same ray (OpenCV undistortPoints)."""
    h, w = ideal.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    raw = np.stack([xs.ravel(), ys.ravel()], axis=1).reshape(-1, 1, 2)
    rect = rectified_camera(info)
    d = np.asarray(info.d)
    if info.distortion_model == "equidistant":
        und = cv2.fisheye.undistortPoints(raw, info.k, d[:4], R=info.r, P=rect.k)
    else:
        und = cv2.undistortPoints(raw, info.k, d, R=info.r, P=rect.k)
    und = und.reshape(h, w, 2).astype(np.float32)
    return cv2.remap(ideal, und[..., 0], und[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("model", sorted(DISTORTIONS))
@pytest.mark.parametrize("mode", ["crop", "full"])
def test_distorted_frame_rectified_samples_the_ideal_scene(model: str, mode: str) -> None:
    info = camera(model)
    ideal = ideal_scene()
    raw = distort_frame(ideal, info)
    plain = plan_sampling((H, W), (224, 224), mode)
    expected = ideal.take(plain.row_indices, axis=0).take(plain.col_indices, axis=1).astype(np.float64)
    _, rmap = plan_rectification(info, (H, W), plain)
    got = raw.reshape(-1, 3)[rmap.flat.ravel()].reshape(224, 224, 3).astype(np.float64)
    unrectified = raw.take(plain.row_indices, axis=0).take(plain.col_indices, axis=1).astype(np.float64)
    inside = rmap.valid
    err = np.abs(got - expected)[inside].mean()
    err_without = np.abs(unrectified - expected)[inside].mean()
    # nearest sampling twice: a pixel off here and there on a smooth texture
    assert err < 6.0, (model, mode, err)
    assert err_without > 3 * err, "the distortion must matter for the test to mean anything"


def test_rectified_depth_camera_info_projects_points_onto_the_sampled_rays() -> None:
    """Back-projection through the published camera_info lands where the scene puts them:
    a 3-D point projected with the published P (D = 0) falls on the depth pixel whose
    sample came from the raw pixel where the distorted camera sees that point."""
    info = camera("plumb_bob")
    for output_size in ("model", "input", "320x240"):
        geo = plan_frame((H, W), (224, 224), "crop", output_size, rectify_with=info)
        out = rectified_camera(info).derive((H, W), geo.out_rows, geo.out_cols)
        assert out.d == (0.0,) * 5 and np.array_equal(out.r, np.eye(3))
        assert np.allclose(out.k, out.p[:, :3])
        rng = np.random.default_rng(0)
        pts = np.stack([rng.uniform(-0.3, 0.3, 50), rng.uniform(-0.2, 0.2, 50), rng.uniform(1, 4, 50)], 1)
        uv_depth = project(out.p[:, :3], pts)
        # where the distorted camera sees the points
        raw_uv, _ = cv2.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, np.array(info.d))
        raw_uv = raw_uv.reshape(-1, 2)
        # depth pixel -> model pixel -> raw pixel through the sampling map
        model_u = geo.sampling.cols.from_source(geo.out_cols.to_source(uv_depth[:, 0]))
        model_v = geo.sampling.rows.from_source(geo.out_rows.to_source(uv_depth[:, 1]))
        iu, iv = np.rint(model_u).astype(int), np.rint(model_v).astype(int)
        ok = (iu >= 0) & (iu < 224) & (iv >= 0) & (iv < 224)
        assert ok.sum() > 30
        sampled = np.stack([geo.rectify_map.cols[iv[ok], iu[ok]], geo.rectify_map.rows[iv[ok], iu[ok]]], 1)
        # one model pixel covers ~2.6 raw pixels (the paper crop), plus nearest rounding
        assert np.abs(sampled - raw_uv[ok]).max() < 2.5, output_size


def distort_points(info: CameraIntrinsics, xy_rectified: np.ndarray) -> np.ndarray:
    """Rectified pixel centres (of ``rectified_camera(info)``) -> raw pixel centres: the
    forward model (ray, R^T, OpenCV's projection with the whole of D)."""
    rect = rectified_camera(info)
    xy = np.asarray(xy_rectified, dtype=np.float64).reshape(-1, 1, 2)
    ray = cv2.undistortPoints(xy, rect.k, None)  # normalised rectified coordinates
    pts = np.concatenate([ray.reshape(-1, 2), np.ones((ray.shape[0], 1))], axis=1) @ info.r  # R^T
    obj = (pts / pts[:, 2:3]).reshape(-1, 1, 3)
    out, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), info.k, np.asarray(info.d, dtype=np.float64))
    return out.reshape(-1, 2)


def test_distort_points_inverts_the_sampling_map() -> None:
    info = camera("rational_polynomial")
    plain = plan_sampling((H, W), (224, 224), "full")
    _, rmap = plan_rectification(info, (H, W), plain)
    uv = np.array([[10.0, 20.0], [112.0, 112.0], [200.0, 50.0]])
    rect_xy = np.stack([plain.cols.to_source(uv[:, 0]), plain.rows.to_source(uv[:, 1])], 1)
    raw = distort_points(info, rect_xy)
    iu, iv = uv[:, 0].astype(int), uv[:, 1].astype(int)
    assert np.abs(raw[:, 0] - rmap.cols[iv, iu]).max() <= 0.51
    assert np.abs(raw[:, 1] - rmap.rows[iv, iu]).max() <= 0.51


def test_rays_outside_the_raw_image_are_invalid() -> None:
    # pincushion: the rectified corners (same K) see rays the sensor never recorded
    info = camera("plumb_bob", d=(0.35, 0.1, 0.0, 0.0, 0.0))
    plain = plan_sampling((H, W), (224, 224), "full")
    _, rmap = plan_rectification(info, (H, W), plain)
    assert not rmap.valid[0, 0] and not rmap.valid[-1, -1] and rmap.valid[112, 112]


def test_rectify_modes_and_bad_calibrations() -> None:
    distorted = camera("plumb_bob")
    pinhole = camera("plumb_bob", d=(0.0,) * 5)
    assert wants_rectification(distorted, "auto") and not wants_rectification(pinhole, "auto")
    assert wants_rectification(pinhole, "true") and not wants_rectification(distorted, "false")
    with pytest.raises(ValueError, match="rectify"):
        wants_rectification(distorted, "maybe")
    plain = plan_sampling((H, W), (224, 224), "crop")
    with pytest.raises(CameraInfoError, match="distortion_model"):
        plan_rectification(replace(distorted, distortion_model="fancy_lens"), (H, W), plain)
    with pytest.raises(CameraInfoError, match="describes a"):
        plan_rectification(distorted, (240, 320), plan_sampling((240, 320), (224, 224), "crop"))
    with pytest.raises(CameraInfoError, match="NaN"):
        plan_rectification(camera("plumb_bob", d=(np.nan, 0, 0, 0, 0)), (H, W), plain)


def test_rectified_pipeline_depth_matches_the_ideal_frame(shipped_model, realdata) -> None:
    """End to end with the real model: the depth of a distorted frame, rectified, is the
    depth of the undistorted frame (same grid, same camera_info), within tolerance.  A real
    frame (7-Scenes validation): a rendered room is outside what the shipped model learnt,
    and its answer to the resampling differences there says nothing about cameras."""
    from fastdepth_ros.engine import Engine, EngineConfig
    from fastdepth_ros.pipeline import DepthPipeline, PipelineConfig

    engine = Engine(str(shipped_model), EngineConfig(providers=["cpu"], warmup_runs=0, intra_op_threads=1))
    pipeline = DepthPipeline(engine, PipelineConfig(rectify="auto"))
    info = camera("plumb_bob")
    bgr = cv2.imread(str(realdata / "7scenes_redkitchen" / "rgb" / "00800.jpg"), cv2.IMREAD_COLOR)
    ideal = np.ascontiguousarray(cv2.resize(bgr[:, :, ::-1], (W, H), interpolation=cv2.INTER_AREA))
    raw = distort_frame(ideal, info)
    want = pipeline.process(ideal).depth
    got = pipeline.process(raw, info)
    assert got.geometry.rectified is not None
    off = pipeline.process(raw).depth  # what the node did before: distortion ignored
    both = np.isfinite(want) & np.isfinite(got.depth)
    assert both.mean() > 0.9
    rel = np.abs(got.depth[both] - want[both]) / want[both]
    rel_off = np.abs(off[both] - want[both]) / want[both]
    assert np.median(rel) < 0.05, np.median(rel)
    assert np.median(rel) < 0.75 * np.median(rel_off), (np.median(rel), np.median(rel_off))
    pinhole = camera("plumb_bob", d=(0.0,) * 5)
    assert pipeline.process(ideal, pinhole).geometry.rectified is None  # auto: D = 0, nothing to do
