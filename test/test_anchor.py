"""Metric scale anchoring (fastdepth_ros.anchor): the robust fit, anchors, pairing, smoothing
and the mapping of anchor pixels onto the model grid, without ROS."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from fastdepth_ros.anchor import (
    MAX_FIT_POINTS,
    AnchorConfig,
    AnchorError,
    Anchoring,
    ScaleFilter,
    ScaleFit,
    anchor_to_input,
    checker_mask,
    decode_depth_msg,
    depth_anchor,
    fit_log_scale,
    input_to_model,
    live_accuracy,
    range_anchor,
)
from fastdepth_ros.geometry import CameraIntrinsics, plan_frame
from fastdepth_ros.imaging import numpy_to_image
from fastdepth_ros.metrics import compute_metrics
from fastdepth_ros.replay.anchor_sim import range_reading, sparse_anchor

H, W = 480, 640
MODEL_HW = (224, 224)


def camera(d=(), model: str = "plumb_bob") -> CameraIntrinsics:
    k = np.array([[520.0, 0, 318.0], [0, 515.0, 243.0], [0, 0, 1]])
    return CameraIntrinsics(width=W, height=H, k=k, p=np.hstack([k, np.zeros((3, 1))]), d=tuple(d),
                            distortion_model=model)


def scene_m() -> np.ndarray:
    """A smooth room-like depth (1-6 m) at the input resolution."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    return (1.5 + 3.0 * (x / W) + 1.5 * (y / H) ** 2).astype(np.float32)


def on_grid(depth: np.ndarray, geo) -> np.ndarray:
    return depth[geo.sampling.row_indices[:, None], geo.sampling.col_indices[None, :]]


# --------------------------------------------------------------------------- the fit


def test_fit_recovers_a_scale_and_rejects_outliers() -> None:
    rng = np.random.default_rng(0)
    model = rng.uniform(1.0, 5.0, 200)
    anchor = model * 2.0 * np.exp(rng.normal(0, 0.05, 200))
    clean = fit_log_scale(anchor, model)
    assert clean.scale == pytest.approx(2.0, rel=0.02)
    bad = anchor.copy()
    bad[:20] *= 10.0  # 10 % of the anchors off by 10x
    fit = fit_log_scale(bad, model)
    assert fit.rejected >= 20
    assert abs(fit.scale / clean.scale - 1) < 0.03
    # a plain mean of ratios would be dragged far away: the test can tell
    assert abs(np.mean(bad / model) / 2.0 - 1) > 0.5


def test_fast_median_is_numpys() -> None:
    from fastdepth_ros.anchor import _median

    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 10, 41, 2048):
        x = rng.normal(size=n)
        assert _median(x) == pytest.approx(float(np.median(x)), abs=1e-12)


def test_fit_ignores_invalid_pairs_and_says_none_without_any() -> None:
    model = np.array([1.0, 2.0, np.nan, 4.0, 0.0])
    anchor = np.array([2.0, 4.0, 6.0, np.inf, 3.0])
    fit = fit_log_scale(anchor, model)
    assert fit.used == 2 and fit.scale == pytest.approx(2.0)
    assert fit_log_scale(np.array([np.nan]), np.array([1.0])) is None


# --------------------------------------------------------------------------- anchor messages


def test_decode_encodings_and_bad_messages() -> None:
    mm = np.array([[0, 1500], [65535, 2000]], dtype=np.uint16)
    got = decode_depth_msg(numpy_to_image(mm, "16UC1"))
    assert np.isnan(got[0, 0]) and got[0, 1] == pytest.approx(1.5) and got[1, 1] == pytest.approx(2.0)
    metres = np.array([[np.inf, -1.0], [np.nan, 2.5]], dtype=np.float32)
    got = decode_depth_msg(numpy_to_image(metres, "32FC1"))
    assert np.isnan(got[:, 0]).all() and np.isnan(got[0, 1]) and got[1, 1] == 2.5
    with pytest.raises(AnchorError, match="not a depth encoding"):
        decode_depth_msg(numpy_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8"))
    short = SimpleNamespace(encoding="32FC1", height=4, width=4, step=16, is_bigendian=False, data=b"\0" * 20)
    with pytest.raises(AnchorError, match="short buffer"):
        decode_depth_msg(short)
    with pytest.raises(AnchorError, match="no measurement"):
        depth_anchor(np.full((4, 4), np.nan, np.float32), 0)


def test_sparse_and_dense_anchors() -> None:
    rng = np.random.default_rng(1)
    sparse = depth_anchor(sparse_anchor(scene_m(), 40, rng), 5)
    assert not sparse.dense and len(sparse.fit_uvz) == 40
    dense = depth_anchor(scene_m(), 5)
    assert dense.dense and len(dense.fit_uvz) == MAX_FIT_POINTS
    checker = checker_mask((H, W))
    fit_px = dense.fit_uvz[:, :2].astype(int)
    eval_px = dense.eval_uvz[:, :2].astype(int)
    assert checker[fit_px[:, 1], fit_px[:, 0]].all()  # fit points only on fit blocks
    assert not checker[eval_px[:, 1], eval_px[:, 0]].any()  # held-out points never


def test_range_reading_limits() -> None:
    assert range_anchor(2.0, 0.1, 8.0, 0.1, 0).range_m == 2.0
    for out_of_limits in (0.05, 9.0, math.inf, -math.inf, math.nan):
        assert range_anchor(out_of_limits, 0.1, 8.0, 0.1, 0) is None  # REP 117: ignored
    with pytest.raises(AnchorError, match="negative"):
        range_anchor(-1.0, 0.1, 8.0, 0.1, 0)
    with pytest.raises(AnchorError, match="field_of_view"):
        range_anchor(2.0, 0.1, 8.0, 0.0, 0)
    with pytest.raises(AnchorError, match="min_range"):
        range_anchor(2.0, 8.0, 1.0, 0.1, 0)


def test_config_refuses_bad_settings() -> None:
    for bad in (dict(max_age_s=0.0), dict(min_points=0), dict(smoothing_s=-1.0),
                dict(scale_limits=(2.0, 1.0)), dict(scale_limits=(0.0, 1.0)), dict(scale_limits=(1.0,))):
        with pytest.raises(ValueError, match="anchor"):
            AnchorConfig(**bad).validate()


# --------------------------------------------------------------------------- geometry


def test_proportional_and_intrinsic_mapping() -> None:
    uv = np.array([[0.0, 0.0], [319.0, 239.0]])
    xy = anchor_to_input(uv, (240, 320), (H, W), None, None)
    np.testing.assert_allclose(xy, [[0.5, 0.5], [638.5, 478.5]])
    ka = np.array([[260.0, 0, 159.0], [0, 257.5, 121.5], [0, 0, 1]])
    xy = anchor_to_input(np.array([[159.0, 121.5]]), (240, 320), (H, W), ka, camera().k)
    np.testing.assert_allclose(xy, [[318.0, 243.0]])  # principal point to principal point


def test_rectified_frames_map_raw_pixels_back_to_their_model_pixel() -> None:
    cam = camera(d=(-0.25, 0.08, 0.001, -0.001, 0.0))
    geo = plan_frame((H, W), MODEL_HW, "crop", "model", cam)
    rmap = geo.rectify_map
    rows, cols = np.mgrid[20:200:15, 20:200:15]
    xy = np.stack([rmap.cols[rows, cols].ravel(), rmap.rows[rows, cols].ravel()], axis=1).astype(float)
    r, c, inside = input_to_model(xy, geo, cam)
    assert inside.all()
    # raw pixel -> undistorted -> nearest model pixel: back where it came from (+-1 px rounding)
    assert np.abs(r - rows.ravel()).max() <= 1 and np.abs(c - cols.ravel()).max() <= 1


# --------------------------------------------------------------------------- the node's state


def anchoring(**kw) -> Anchoring:
    return Anchoring(AnchorConfig(**kw))


def test_sparse_anchors_scale_the_model_to_the_anchor_world() -> None:
    cam = camera()
    geo = plan_frame((H, W), MODEL_HW, "crop", "model")
    truth = scene_m()
    model = on_grid(truth, geo) / 3.0  # the model 3x too close
    a = anchoring()
    a.add_depth(sparse_anchor(truth * 2.0, 40, np.random.default_rng(2)), 1_000_000_000, (H, W))
    frame = a.scale_for(model, geo, 1_000_000_000, cam, None)
    assert frame.source == "depth" and frame.scale == pytest.approx(6.0, rel=0.02)
    assert 25 <= frame.used <= 40  # anchors outside the model's crop are ignored
    assert frame.age_s == 0.0


def test_pairing_exact_newest_and_stale() -> None:
    geo = plan_frame((H, W), MODEL_HW, "crop", "model")
    truth = scene_m()
    model = on_grid(truth, geo)
    a = anchoring(max_age_s=0.5, smoothing_s=0.0)
    a.add_depth(sparse_anchor(truth * 2, 60, np.random.default_rng(3)), 1_000_000_000, (H, W))
    a.add_depth(sparse_anchor(truth * 3, 60, np.random.default_rng(4)), 1_200_000_000, (H, W))
    assert a.scale_for(model, geo, 1_000_000_000, None, None).scale == pytest.approx(2.0, rel=0.02)
    newest = a.scale_for(model, geo, 1_500_000_000, None, None)
    assert newest.scale == pytest.approx(3.0, rel=0.02) and newest.age_s == pytest.approx(0.3)
    stale = a.scale_for(model, geo, 1_800_000_000, None, None)
    assert stale.scale is None and stale.source == "none" and "0.600 s" in stale.reason
    ok, message, _ = a.status()
    assert not ok and "model's own scale" in message


def test_too_few_anchors_and_absurd_scales_are_not_applied() -> None:
    geo = plan_frame((H, W), MODEL_HW, "crop", "model")
    truth = scene_m()
    a = anchoring(min_points=50)
    a.add_depth(sparse_anchor(truth, 20, np.random.default_rng(5)), 0, (H, W))
    frame = a.scale_for(on_grid(truth, geo), geo, 0, None, None)
    assert frame.scale is None and "anchor.min_points 50" in frame.reason
    b = anchoring(scale_limits=(0.5, 2.0))
    b.add_depth(sparse_anchor(truth * 5, 40, np.random.default_rng(5)), 0, (H, W))
    frame = b.scale_for(on_grid(truth, geo), geo, 0, None, None)
    assert frame.scale is None and "scale_limits" in frame.reason


def test_range_anchor_within_its_cone() -> None:
    cam = camera()
    geo = plan_frame((H, W), MODEL_HW, "crop", "model")
    truth = scene_m()
    model = on_grid(truth, geo) / 2.5
    a = anchoring()
    fov = 0.15
    a.add_range(range_reading(truth, cam.k, fov), 0.1, 40.0, fov, 7)
    frame = a.scale_for(model, geo, 7, cam, None)
    assert frame.source == "range" and frame.scale == pytest.approx(2.5, rel=0.03)
    # the cone selects: a wider cone sees other depths, a different reading
    assert range_reading(truth, cam.k, 1.0) != pytest.approx(range_reading(truth, cam.k, fov), rel=0.03)
    # without camera_info: the canonical focal length at the grid centre
    assert a.scale_for(model, geo, 7, None, 230.0).scale == pytest.approx(2.5, rel=0.08)
    assert a.scale_for(model, geo, 7, None, None).scale is None


def test_smoothing_converges_within_a_second_and_restarts_on_a_new_scene() -> None:
    f = ScaleFilter(0.2)
    noisy = 0.5  # a fit noisy enough that a 3 % step is within its noise: blended
    f.update(0.0, ScaleFit(0.0, 10, 0, noisy), 0.5)
    t, value = 0.0, 0.0
    while value < math.log(1.03) * 0.99:
        t += 0.1
        value = f.update(t, ScaleFit(math.log(1.03), 10, 0, noisy), 0.5)
    assert 0.1 < t <= 1.0  # blended, and converged within 1 s at 10 Hz
    jump = f.update(t + 0.1, ScaleFit(math.log(2.0), 10, 0, noisy), 0.5)
    assert jump == pytest.approx(math.log(2.0))  # a new scene: no blending at all


def test_live_accuracy_is_the_offline_metric_on_held_out_pixels() -> None:
    geo = plan_frame((H, W), MODEL_HW, "crop", "input")  # published at the camera grid
    truth = scene_m()
    published = np.full((H, W), np.nan, np.float32)
    rng = np.random.default_rng(6)
    inner = np.isfinite(np.where(geo.out_row_valid[:, None] & geo.out_col_valid[None, :], 1.0, np.nan))
    published[inner] = (truth * np.exp(rng.normal(0, 0.2, truth.shape)).astype(np.float32))[inner]
    sensor = np.full((H, W), np.nan, np.float32)
    sensor[100:250] = truth[100:250]  # a depth camera seeing a band: dense, < 50000 held out
    anchor = depth_anchor(sensor, 0)
    assert anchor.dense
    acc = live_accuracy(published, anchor, geo, None, 0)
    held = ~checker_mask((H, W)) & inner & np.isfinite(sensor)
    expect = compute_metrics(np.where(held, published, np.nan)[held], truth[held])
    assert acc.pixels == int(held.sum())
    assert acc.delta1 == pytest.approx(expect.delta1, abs=1e-9)
    assert acc.absrel == pytest.approx(expect.absrel, rel=1e-6)


def test_a_new_time_line_drops_the_old_anchors() -> None:
    """A bag replayed again (stamps start over) must not pair with the last pass's anchors."""
    geo = plan_frame((H, W), MODEL_HW, "crop", "model")
    truth = scene_m()
    model = on_grid(truth, geo)
    a = anchoring(max_age_s=0.5, smoothing_s=0.0)
    for i in range(10):  # first pass: anchors at 1.0 ... 1.9 s
        a.add_depth(sparse_anchor(truth * 2, 60, np.random.default_rng(i)), 1_000_000_000 + i * 10**8, (H, W))
    assert a.scale_for(model, geo, 1_900_000_000, None, None).scale == pytest.approx(2.0, rel=0.02)
    # second pass without anchors: its first frame (1.0 s) finds none
    assert a.scale_for(model, geo, 1_000_000_000, None, None).scale is None
    # a pass with anchors: the new ones pair
    a.add_depth(sparse_anchor(truth * 2, 60, np.random.default_rng(10)), 1_900_000_000, (H, W))
    a.add_depth(sparse_anchor(truth * 3, 60, np.random.default_rng(11)), 1_000_000_000, (H, W))
    assert a.scale_for(model, geo, 1_000_000_000, None, None).scale == pytest.approx(3.0, rel=0.02)


# --------------------------------------------------------------------------- make-bag / replay


def test_make_bag_writes_anchors_from_ground_truth_and_replay_finds_them(tmp_path) -> None:
    from fastdepth_ros.replay import bagio
    from fastdepth_ros.replay.make_bag import (
        ANCHOR_DEPTH_TOPIC,
        ANCHOR_RANGE_TOPIC,
        RGBDFrame,
        write_rgbd_bag,
    )
    from fastdepth_ros.replay.player import _grouped, detect_anchor_topics, detect_topics
    from fastdepth_ros.replay.report import detect_gt_topic

    truth = scene_m()
    truth[:40] = 0.0  # some invalid ground truth: never an anchor
    intr = SimpleNamespace(fx=520.0, fy=515.0, cx=318.0, cy=243.0, width=W, height=H)
    frames = [RGBDFrame(10**9 + i * 10**8, np.zeros((H, W, 3), np.uint8), truth) for i in range(3)]
    write_rgbd_bag(tmp_path / "bag", frames, intr, anchor_points=40, anchor_range_fov=0.1)
    with bagio.BagReader(tmp_path / "bag") as bag:
        assert detect_anchor_topics(bag) == {ANCHOR_DEPTH_TOPIC: bagio.IMAGE, ANCHOR_RANGE_TOPIC: bagio.RANGE}
        image, _, info = detect_topics(bag, None, None)
        assert image == "/camera/image_raw"  # not an anchor topic
        assert detect_gt_topic(bag, image, None) == "/camera/depth/image_raw"  # anchors are not the truth
        groups = list(_grouped(bag, [image, info, ANCHOR_DEPTH_TOPIC, ANCHOR_RANGE_TOPIC]))
        assert len(groups) == 3 and all(g[-1].topic == image and len(g) == 4 for g in groups)
        for m in bag.messages([ANCHOR_DEPTH_TOPIC]):
            sparse = decode_depth_msg(bag.deserialize(m))
            hit = np.isfinite(sparse)
            assert hit.sum() == 40 and np.array_equal(sparse[hit], truth[hit]) and not hit[:40].any()
        for m in bag.messages([ANCHOR_RANGE_TOPIC]):
            reading = bag.deserialize(m)
            k = np.array([[520.0, 0, 318.0], [0, 515.0, 243.0], [0, 0, 1]])
            assert reading.range == pytest.approx(range_reading(truth, k, 0.1))
            assert reading.field_of_view == pytest.approx(0.1)
