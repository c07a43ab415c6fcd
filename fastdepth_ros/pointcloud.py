"""Depth image -> organised ``sensor_msgs/PointCloud2`` (``depth/points``), vectorised.

The same back-projection as depth_image_proc's ``point_cloud_xyz`` (``convertDepth``), so a
planner gets the points that node would make from ``depth/image`` + ``depth/camera_info``,
without its extra process and extra copy of the depth:

* the intrinsics are image_geometry's ``PinholeCameraModel`` ones, i.e. taken from the
  camera_info's **P** (``fx = P[0,0]``, ``fy = P[1,1]``, ``cx = P[0,2]``, ``cy = P[1,2]``);
  the node's ``depth/camera_info`` always has a non-zero P (a zero one is filled from K, as
  image_geometry's users expect), K is only the fallback for a hand-made zero P;
* ``z = depth``, ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy`` with ``u``, ``v`` the
  integer column and row of the pixel (no half-pixel offset, as depth_image_proc);
* a depth depth_image_proc's ``DepthTraits`` calls invalid (32FC1: not finite, i.e. REP 117
  NaN / -Inf / +Inf; 16UC1: 0) gives a NaN point, and the cloud keeps the image's height x
  width (organised, ``is_dense`` false) so a consumer can index it like the image;
* fields ``x``, ``y``, ``z`` float32 at offsets 0, 4, 8 with a 16-byte point step: the layout
  of depth_image_proc's ``setPointCloud2FieldsByString(1, "xyz")`` and of PCL's
  ``PointXYZ`` (the 4 padding bytes keep PCL's ``fromROSMsg`` a plain copy).

``stride`` > 1 keeps every stride-th row and column, starting at pixel (0, 0).  Each kept
point is back-projected with its own pixel's coordinates in the full depth grid
(``u = stride * j``), which is the same as the decimated grid's intrinsics
``fx / stride``, ``cx / stride`` with ``j``: the points are exactly the full cloud's points
at those pixels, not a rescaled approximation.

The message is built by hand with numpy: ``sensor_msgs_py.point_cloud2`` (the ROS package
that would do it) has no wheel on PyPI, neither for Kilted nor for Jazzy (checked 2026-12:
``pip index versions`` finds no ``ros-sensor-msgs-py``, ``ros-jazzy-sensor-msgs-py`` or
``sensor-msgs-py``), so it cannot be a dependency of the pip-installed node; and its
``create_cloud`` goes through Python lists, where one numpy pass is what keeps this off the
frame's latency budget.  Pure numpy; ``sensor_msgs`` is imported only by :func:`to_msg`.
"""

from __future__ import annotations

import sys
from typing import Any, Optional, Tuple

import numpy as np

from .imaging import _bytes_field, _copy_header

#: bytes per point: x, y, z float32 + 4 bytes padding (depth_image_proc / PCL PointXYZ layout)
POINT_STEP = 16
FIELD_NAMES = ("x", "y", "z")
_FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


def intrinsics_from_info(k: Any, p: Any) -> Tuple[float, float, float, float]:
    """``(fx, fy, cx, cy)`` as image_geometry reads them: from P (3x4, row-major or
    flat), from K where P is all zero.  Raises ValueError for a non-positive or
    non-finite focal length (no cloud is better than one at infinity)."""
    pm = np.asarray(p, dtype=np.float64).reshape(3, 4)
    if np.any(pm):
        fx, fy, cx, cy = pm[0, 0], pm[1, 1], pm[0, 2], pm[1, 2]
    else:
        km = np.asarray(k, dtype=np.float64).reshape(3, 3)
        fx, fy, cx, cy = km[0, 0], km[1, 1], km[0, 2], km[1, 2]
    values = (float(fx), float(fy), float(cx), float(cy))
    if not all(np.isfinite(values)) or fx <= 0 or fy <= 0:
        raise ValueError("camera_info cannot back-project: fx=%g fy=%g cx=%g cy=%g" % values)
    return values


def depth_metres(depth: np.ndarray, encoding: str) -> np.ndarray:
    """float32 metres, NaN where the pixel has no valid depth (32FC1: not finite; 16UC1: 0),
    the validity rule of depth_image_proc's ``DepthTraits``."""
    if encoding == "16UC1":
        z = depth.astype(np.float32) * np.float32(1e-3)
        z[depth == 0] = np.nan
        return z
    if encoding != "32FC1":
        raise ValueError("a point cloud needs a 32FC1 or 16UC1 depth image, got %s" % encoding)
    z = np.array(depth, dtype=np.float32, copy=True)
    z[~np.isfinite(z)] = np.nan
    return z


def check_stride(stride: int) -> int:
    """``points_stride`` as an int >= 1 (ValueError otherwise)."""
    if isinstance(stride, bool) or int(stride) != stride or int(stride) < 1:
        raise ValueError("points_stride must be an integer >= 1, got %r" % (stride,))
    return int(stride)


def backproject(depth_m: np.ndarray, fx: float, fy: float, cx: float, cy: float,
                stride: int = 1, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``(ceil(H/stride), ceil(W/stride), 4)`` float32: x, y, z and a zero pad per point.

    ``depth_m``: HxW metres with NaN where invalid (:func:`depth_metres`); NaN depth gives
    NaN x, y, z.  Computed in float32 from float64 per-column / per-row factors, so a
    point differs from the float64 formula by float32 rounding only."""
    stride = check_stride(stride)
    z = depth_m[::stride, ::stride]
    h, w = z.shape
    # per-column and per-row factors in the full grid's pixel coordinates (u = stride * j)
    kx = ((np.arange(w, dtype=np.float64) * stride - cx) / fx).astype(np.float32)
    ky = ((np.arange(h, dtype=np.float64) * stride - cy) / fy).astype(np.float32)
    if out is None:
        out = np.empty((h, w, 4), dtype=np.float32)
    elif out.shape != (h, w, 4) or out.dtype != np.float32:
        raise ValueError("out must be %dx%dx4 float32, got %s %s" % (h, w, out.shape, out.dtype))
    np.multiply(z, kx[None, :], out=out[:, :, 0])
    np.multiply(z, ky[:, None], out=out[:, :, 1])
    out[:, :, 2] = z
    out[:, :, 3] = 0.0
    return out


def to_msg(points: np.ndarray, header: Any = None, msg: Any = None) -> Any:
    """An organised ``sensor_msgs/PointCloud2`` holding ``points`` (HxWx4 float32 from
    :func:`backproject`; ``header`` copied, not shared)."""
    if points.ndim != 3 or points.shape[2] != 4 or points.dtype != np.float32:
        raise ValueError("points must be HxWx4 float32, got %s %s" % (points.shape, points.dtype))
    if msg is None:
        from sensor_msgs.msg import PointCloud2, PointField

        msg = PointCloud2()
        msg.fields = [PointField(name=n, offset=4 * i, datatype=_FLOAT32, count=1)
                      for i, n in enumerate(FIELD_NAMES)]
    if header is not None:
        _copy_header(msg.header, header)
    msg.height, msg.width = int(points.shape[0]), int(points.shape[1])
    msg.is_bigendian = sys.byteorder == "big"
    msg.point_step = POINT_STEP
    msg.row_step = POINT_STEP * msg.width
    msg.is_dense = False  # NaN points keep the grid
    msg.data = _bytes_field(points)
    return msg


def from_msg(msg: Any) -> np.ndarray:
    """HxWx3 float32 x, y, z of a cloud written by :func:`to_msg` (for consumers of the
    topic in tests and tools; checks the layout instead of assuming it)."""
    offsets = {f.name: (f.offset, f.datatype, f.count) for f in msg.fields}
    for i, name in enumerate(FIELD_NAMES):
        if offsets.get(name) != (4 * i, _FLOAT32, 1):
            raise ValueError("not an x, y, z float32 cloud: fields %s" % sorted(offsets))
    if msg.point_step != POINT_STEP or msg.row_step != POINT_STEP * msg.width:
        raise ValueError("unexpected point_step %d / row_step %d" % (msg.point_step, msg.row_step))
    dtype = np.dtype(">f4" if msg.is_bigendian else "<f4")
    raw = np.frombuffer(bytes(msg.data), dtype=dtype)
    return raw.reshape(msg.height, msg.width, 4)[:, :, :3].astype(np.float32)


class CloudBuffer:
    """The step the node runs per frame (depth image array + its camera_info K, P ->
    PointCloud2), into one message whose data buffer is refilled in place.

    Why: a fresh 0.8 MB (224x224) to 4.7 MB (640x480) buffer per frame costs more than the
    back-projection itself, in page faults of newly mapped memory (224x224 here: 1.8 ms per
    frame allocating, 0.1 ms refilling).  rclpy serialises a message inside ``publish()``,
    so once that returned the same message can carry the next frame.  The message returned
    by :meth:`fill` therefore changes at the next call: publish it, don't keep it.  One
    user at a time (the node's worker thread)."""

    def __init__(self) -> None:
        self.msg: Any = None
        self._points: Optional[np.ndarray] = None

    def fill(self, depth: np.ndarray, encoding: str, k: Any, p: Any, header: Any = None,
             stride: int = 1) -> Any:
        fx, fy, cx, cy = intrinsics_from_info(k, p)
        stride = check_stride(stride)
        h, w = -(-depth.shape[0] // stride), -(-depth.shape[1] // stride)
        if self._points is None or self._points.shape[:2] != (h, w):
            self.msg = to_msg(np.zeros((h, w, 4), dtype=np.float32))
            # the message's own uint8[] buffer (an array.array, stored as is), viewed as points
            self._points = np.frombuffer(self.msg.data, dtype=np.float32).reshape(h, w, 4)
        backproject(depth_metres(depth, encoding), fx, fy, cx, cy, stride, out=self._points)
        if header is not None:
            _copy_header(self.msg.header, header)
        return self.msg
