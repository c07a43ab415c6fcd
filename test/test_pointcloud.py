"""depth/points: depth_image_proc's back-projection, vectorised (fastdepth_ros.pointcloud)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from deps import need

from fastdepth_ros import pointcloud as pc

FX, FY, CX, CY = 200.0, 210.0, 111.5, 97.25


def _k(fx=FX, fy=FY, cx=CX, cy=CY):
    return [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]


def _p(fx=FX, fy=FY, cx=CX, cy=CY):
    return [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]


def _depth(h=37, w=53, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.3, 9.0, (h, w)).astype(np.float32)
    d[3, 4], d[5, 6], d[7, 8], d[0, 0] = np.nan, np.inf, -np.inf, np.nan
    return d


def _loop(depth: np.ndarray, fx, fy, cx, cy, stride=1):
    """The formula of the issue and of depth_image_proc's convertDepth, one pixel at a time."""
    rows = []
    for v in range(0, depth.shape[0], stride):
        row = []
        for u in range(0, depth.shape[1], stride):
            z = float(depth[v, u])
            if not math.isfinite(z):
                row.append((math.nan,) * 3)
            else:
                row.append(((u - cx) * z / fx, (v - cy) * z / fy, z))
        rows.append(row)
    return np.array(rows, dtype=np.float64)


def test_backproject_is_the_per_pixel_formula_with_nan_for_every_rep117_flag() -> None:
    d = _depth()
    got = pc.backproject(pc.depth_metres(d, "32FC1"), FX, FY, CX, CY)
    assert got.shape == (37, 53, 4) and got.dtype == np.float32
    want = _loop(d, FX, FY, CX, CY)
    assert np.array_equal(np.isnan(got[:, :, :3]), np.isnan(want))
    assert np.isnan(got[3, 4, :3]).all() and np.isnan(got[5, 6, :3]).all() and np.isnan(got[7, 8, :3]).all()
    np.testing.assert_allclose(got[:, :, :3], want, rtol=2e-6, atol=1e-6, equal_nan=True)
    assert (got[:, :, 3] == 0).all()


def test_points_project_back_onto_their_pixels() -> None:
    d = _depth(seed=1)
    xyz = pc.backproject(pc.depth_metres(d, "32FC1"), FX, FY, CX, CY)[:, :, :3].astype(np.float64)
    ok = np.isfinite(xyz[:, :, 2])
    u = FX * xyz[:, :, 0] / xyz[:, :, 2] + CX
    v = FY * xyz[:, :, 1] / xyz[:, :, 2] + CY
    uu, vv = np.meshgrid(np.arange(d.shape[1]), np.arange(d.shape[0]))
    assert np.abs(u - uu)[ok].max() < 1e-3 and np.abs(v - vv)[ok].max() < 1e-3


@pytest.mark.parametrize("stride", [2, 3, 7])
def test_stride_keeps_the_full_clouds_points_at_the_kept_pixels(stride) -> None:
    d = pc.depth_metres(_depth(), "32FC1")
    full = pc.backproject(d, FX, FY, CX, CY)
    thin = pc.backproject(d, FX, FY, CX, CY, stride=stride)
    assert thin.shape[:2] == (math.ceil(37 / stride), math.ceil(53 / stride))
    np.testing.assert_array_equal(thin, full[::stride, ::stride])
    # the same as back-projecting the decimated grid with its own intrinsics (f/s, c/s)
    alt = _loop(d[::stride, ::stride], FX / stride, FY / stride, CX / stride, CY / stride)
    np.testing.assert_allclose(thin[:, :, :3], alt, rtol=2e-6, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_stride_refused(bad) -> None:
    with pytest.raises((ValueError, TypeError)):
        pc.check_stride(bad)


def test_16uc1_millimetres_and_zero_is_invalid() -> None:
    z = pc.depth_metres(np.array([[0, 1500, 65535]], dtype=np.uint16), "16UC1")
    assert np.isnan(z[0, 0]) and z[0, 1] == pytest.approx(1.5) and z[0, 2] == pytest.approx(65.535)
    with pytest.raises(ValueError):
        pc.depth_metres(np.zeros((2, 2), np.uint8), "8UC1")


def test_intrinsics_come_from_p_as_image_geometry_reads_them() -> None:
    # K and P differ (a rectified camera): P wins, like PinholeCameraModel::fx() etc.
    assert pc.intrinsics_from_info(_k(100, 100, 50, 40), _p()) == (FX, FY, CX, CY)
    assert pc.intrinsics_from_info(_k(), [0.0] * 12) == (FX, FY, CX, CY)  # zero P: K
    for bad in (_p(fx=0.0), _p(fy=-3.0), _p(cx=math.nan)):
        with pytest.raises(ValueError):
            pc.intrinsics_from_info(_k(), bad)


def test_message_layout_and_round_trip() -> None:
    need("sensor_msgs.msg", reason="sensor_msgs (ROS 2 wheels) not installed")
    from std_msgs.msg import Header

    header = Header(frame_id="camera_optical")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    d = _depth(h=11, w=9)
    msg = pc.CloudBuffer().fill(d, "32FC1", _k(), _p(), header, stride=2)
    assert (msg.height, msg.width) == (6, 5)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)]
    assert msg.point_step == 16 and msg.row_step == 16 * 5 and len(msg.data) == 16 * 30
    assert msg.is_dense is False
    assert msg.header.frame_id == "camera_optical" and msg.header.stamp.nanosec == 345
    header.frame_id = "changed"
    assert msg.header.frame_id == "camera_optical"  # copied, not shared
    np.testing.assert_allclose(pc.from_msg(msg), _loop(d, FX, FY, CX, CY, 2), rtol=2e-6, atol=1e-6,
                               equal_nan=True)
    with pytest.raises(ValueError):
        pc.to_msg(np.zeros((2, 2, 3), np.float32))


def test_cloud_buffer_refills_one_message_and_reallocates_on_a_new_grid() -> None:
    need("sensor_msgs.msg", reason="sensor_msgs (ROS 2 wheels) not installed")
    buf = pc.CloudBuffer()
    first = buf.fill(_depth(seed=1), "32FC1", _k(), _p())
    data = first.data
    d2 = _depth(seed=2)
    second = buf.fill(d2, "32FC1", _k(), _p())
    assert second is first and second.data is data, "refilled in place"
    np.testing.assert_allclose(pc.from_msg(second), _loop(d2, FX, FY, CX, CY), rtol=2e-6, atol=1e-6,
                               equal_nan=True)
    d3 = np.full((8, 6), 2000, dtype=np.uint16)
    d3[0, 0] = 0
    third = buf.fill(d3, "16UC1", _k(), _p(), stride=1)
    assert (third.height, third.width, len(third.data)) == (8, 6, 8 * 6 * 16)
    np.testing.assert_allclose(pc.from_msg(third), _loop(np.where(d3 == 0, np.nan, d3 / 1000.0),
                                                        FX, FY, CX, CY), rtol=2e-6, atol=1e-6, equal_nan=True)
    with pytest.raises(ValueError):
        pc.backproject(np.ones((4, 4), np.float32), FX, FY, CX, CY, out=np.empty((3, 4, 4), np.float32))
