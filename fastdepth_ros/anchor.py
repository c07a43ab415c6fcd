"""Metric scale anchoring: the model's depth rescaled to sparse or dense metric measurements.

A monocular network gets the *shape* of a scene right far more often than its scale (on a
RealSense in an office the shipped model's depth is about 3x too far while its
median-scaled accuracy equals the official model's).  Most robots carry some metric signal
-- a rangefinder, VIO landmarks, a short-range depth camera, a LiDAR -- and one number per
frame, fitted to it, turns relative depth into metric depth.  This module is that number:

* :class:`DepthAnchor` / :class:`RangeAnchor`: one ``anchor/depth`` image (32FC1 m or
  16UC1 mm, 0/NaN/Inf = no measurement, any resolution) or ``anchor/range`` reading,
  decoded and validated once, when it arrives (off the depth latency path).
* :func:`fit_log_scale`: the robust fit, the median of log(anchor / model) after
  rejecting ratios farther than :data:`MAD_CUTOFF` scaled MADs from the first median.
* :class:`ScaleFilter`: optional exponential smoothing in log space, restarted when a new
  estimate disagrees with the smoothed one beyond its own noise (a new scene).
* :class:`Anchoring`: pairing (exact stamp, else the newest anchor no older than
  ``max_age_s``), the per-frame fit on the model grid, live accuracy against dense anchor
  depth on held-out pixels, and what the "metric scale" diagnostic says.

Pure numpy (plus OpenCV for undistorting anchor pixels of a rectified frame), no rclpy, so
the replay evaluation and the benchmarks run the same code as the node.  No library
offers this robust-scale-plus-pairing combination, hence the hand-written code.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import imaging
from .geometry import CameraIntrinsics, FrameGeometry
from .imaging import ImageDecodeError, image_to_numpy

SOURCES = ("depth", "range", "none")
ENCODINGS = ("32FC1", "16UC1")
#: ratios farther than this many scaled MADs (1.4826 MAD ~ sigma) from the median are outliers
MAD_CUTOFF = 3.0
MAD_TO_SIGMA = 1.4826
#: an anchor image with at least this fraction of valid pixels is "dense" (a depth camera):
#: half of it (a checkerboard of blocks) fits the scale, the other half measures accuracy
DENSE_FRACTION = 0.1
CHECKER_BLOCK_PX = 16  # checkerboard block side in anchor pixels (neighbours are correlated)
MAX_FIT_POINTS = 1024  # fit points kept per anchor image (standard error of the median ~1 %)
MAX_EVAL_POINTS = 50000  # held-out points kept for the ~1 Hz live accuracy
#: a new estimate farther than this many of its standard errors from the smoothed scale is
#: a new scene: the filter restarts there instead of blending two scenes' scales
RESET_SIGMAS = 3.0
RESET_FLOOR_LOG = 0.05  # ... but never for a jump under 5 % (dense anchors: tiny errors)
ANCHOR_CACHE = 30  # anchors kept for pairing (3 s at 10 Hz)
LIVE_ACCURACY_PERIOD_S = 1.0


class AnchorError(ValueError):
    """An anchor message that cannot be used; the text says why (for a WARN line)."""


@dataclass(frozen=True)
class AnchorConfig:
    """The ``anchor.*`` parameters (validated at start-up and on change)."""

    max_age_s: float = 0.5
    min_points: int = 10
    smoothing_s: float = 0.2
    scale_limits: Tuple[float, float] = (0.05, 20.0)

    def validate(self) -> AnchorConfig:
        if not (self.max_age_s > 0 and math.isfinite(self.max_age_s)):
            raise ValueError("anchor.max_age_s must be > 0, got %r" % self.max_age_s)
        if self.min_points < 1:
            raise ValueError("anchor.min_points must be >= 1, got %r" % self.min_points)
        if not (self.smoothing_s >= 0 and math.isfinite(self.smoothing_s)):
            raise ValueError("anchor.smoothing_s must be >= 0 (0 = per frame), got %r" % self.smoothing_s)
        limits = tuple(float(v) for v in self.scale_limits)
        if len(limits) != 2 or not (0 < limits[0] < limits[1] < math.inf):
            raise ValueError("anchor.scale_limits must be [low, high] with 0 < low < high, got %r"
                             % (list(self.scale_limits),))
        return self


# --------------------------------------------------------------------------- anchors


@dataclass(frozen=True)
class DepthAnchor:
    """Valid pixels of one anchor depth image, in its own pixel centre coordinates."""

    stamp_ns: int
    hw: Tuple[int, int]  # anchor image height, width
    fit_uvz: np.ndarray  # N x 3 (u, v, z_m): the points the scale is fitted to
    eval_uvz: Optional[np.ndarray]  # M x 3 held-out points (dense anchors only)
    k: Optional[np.ndarray] = None  # 3x3 of anchor/camera_info, None = same field of view
    valid_pixels: int = 0

    @property
    def dense(self) -> bool:
        return self.eval_uvz is not None


@dataclass(frozen=True)
class RangeAnchor:
    """One in-limits rangefinder reading on the optical axis."""

    stamp_ns: int
    range_m: float
    half_angle_rad: float


def decode_depth_msg(msg: Any, max_pixels: Optional[int] = None) -> np.ndarray:
    """An ``anchor/depth`` Image as float32 metres with NaN = no measurement."""
    encoding = str(msg.encoding)
    if encoding not in ENCODINGS:
        raise AnchorError("anchor/depth encoding %r is not a depth encoding (32FC1 metres or 16UC1 "
                          "millimetres)" % encoding)
    try:
        array = image_to_numpy(msg, max_pixels)
    except ImageDecodeError as exc:
        raise AnchorError("anchor/depth: %s" % exc) from None
    return depth_to_metres(array, encoding)


def depth_to_metres(array: np.ndarray, encoding: str) -> np.ndarray:
    """32FC1 m / 16UC1 mm -> float32 metres, every "no measurement" (0, NaN, +-Inf) as NaN."""
    depth = imaging.depth_to_metres(array, encoding)
    with np.errstate(invalid="ignore"):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth


_CHECKERS: Dict[Tuple[int, int], np.ndarray] = {}


def checker_mask(hw: Tuple[int, int]) -> np.ndarray:
    """The fixed split of a dense anchor image: True on fit blocks, False on held-out ones
    (blocks of CHECKER_BLOCK_PX, since neighbouring pixels are correlated).  Cached per size."""
    hit = _CHECKERS.get(hw)
    if hit is None:
        rows = (np.arange(hw[0]) // CHECKER_BLOCK_PX)[:, None]
        cols = (np.arange(hw[1]) // CHECKER_BLOCK_PX)[None, :]
        if len(_CHECKERS) > 8:
            _CHECKERS.clear()
        hit = _CHECKERS[hw] = ((rows + cols) % 2) == 0
    return hit


def _points(depth_m: np.ndarray, mask: np.ndarray, n_max: int) -> np.ndarray:
    """N x 3 (u, v, z) of up to ``n_max`` evenly spaced pixels of ``mask`` (deterministic:
    the same image always gives the same points)."""
    flat = np.flatnonzero(mask)
    if flat.size > n_max:
        flat = flat[np.linspace(0, flat.size - 1, n_max).astype(np.intp)]
    v, u = np.divmod(flat, depth_m.shape[1])
    z = depth_m.flat[flat].astype(np.float64)
    return np.stack([u.astype(np.float64), v.astype(np.float64), z], axis=1)


def depth_anchor(depth_m: np.ndarray, stamp_ns: int, k: Optional[np.ndarray] = None) -> DepthAnchor:
    """Valid anchor pixels (and, for a dense image, the checkerboard fit/held-out split)."""
    if depth_m.ndim != 2 or depth_m.size == 0:
        raise AnchorError("anchor/depth must be a non-empty single-channel image, got shape %s"
                          % (depth_m.shape,))
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth_m) & (depth_m > 0)
    n_valid = int(np.count_nonzero(valid))
    if n_valid == 0:
        raise AnchorError("anchor/depth has no measurement (every pixel is 0, NaN or Inf)")
    eval_uvz = None
    if n_valid >= DENSE_FRACTION * depth_m.size:
        checker = checker_mask(depth_m.shape)
        eval_uvz = _points(depth_m, valid & ~checker, MAX_EVAL_POINTS)
        valid &= checker
    return DepthAnchor(int(stamp_ns), depth_m.shape, _points(depth_m, valid, MAX_FIT_POINTS), eval_uvz,
                       None if k is None else np.asarray(k, dtype=np.float64), n_valid)


def range_anchor(range_m: float, min_range_m: float, max_range_m: float, field_of_view_rad: float,
                 stamp_ns: int) -> Optional[RangeAnchor]:
    """A Range reading, or None when it lies outside [min_range, max_range] (REP 117: too
    close, too far or no return -- a normal reading that carries no scale).  Raises
    AnchorError for a message no rangefinder can mean (negative range, bad limits or cone)."""
    if not (math.isfinite(field_of_view_rad) and 0 < field_of_view_rad < math.pi):
        raise AnchorError("anchor/range field_of_view must be in (0, pi) rad, got %r" % field_of_view_rad)
    if not (math.isfinite(min_range_m) and math.isfinite(max_range_m) and 0 <= min_range_m < max_range_m):
        raise AnchorError("anchor/range needs 0 <= min_range < max_range, got %r, %r"
                          % (min_range_m, max_range_m))
    if math.isfinite(range_m) and range_m < 0:
        raise AnchorError("anchor/range range %r m is negative" % range_m)
    if not (min_range_m <= range_m <= max_range_m):  # also NaN and +-Inf
        return None
    return RangeAnchor(int(stamp_ns), float(range_m), 0.5 * float(field_of_view_rad))


# --------------------------------------------------------------------------- geometry


def _camera_k(camera: Optional[CameraIntrinsics]) -> Optional[np.ndarray]:
    return None if camera is None else np.asarray(camera.k, dtype=np.float64)


def anchor_to_input(uv: np.ndarray, anchor_hw: Tuple[int, int], input_hw: Tuple[int, int],
                    anchor_k: Optional[np.ndarray], input_k: Optional[np.ndarray]) -> np.ndarray:
    """Anchor pixel centres -> input image pixel centres: through both pinhole matrices when
    the anchor's camera_info and the image's are known (same optical frame), otherwise by
    proportional scaling (same field of view)."""
    if anchor_k is not None and input_k is not None:
        x = (uv[:, 0] - anchor_k[0, 2]) / anchor_k[0, 0] * input_k[0, 0] + input_k[0, 2]
        y = (uv[:, 1] - anchor_k[1, 2]) / anchor_k[1, 1] * input_k[1, 1] + input_k[1, 2]
        return np.stack([x, y], axis=1)
    sy = input_hw[0] / float(anchor_hw[0])
    sx = input_hw[1] / float(anchor_hw[1])
    return np.stack([(uv[:, 0] + 0.5) * sx - 0.5, (uv[:, 1] + 0.5) * sy - 0.5], axis=1)


def grid_indices(xy: np.ndarray, geometry: FrameGeometry, camera: Optional[CameraIntrinsics],
                 rows: Any, cols: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input pixel centres -> nearest (row, col) of a grid derived from the input (``rows``,
    ``cols``: its AxisMaps, e.g. the model grid or the published grid), and whether it lies
    on the grid.  A rectified frame's grids are derived from the rectified camera, so the
    points are undistorted first."""
    if geometry.rectify_map is not None and camera is not None:
        import cv2  # runtime dependency already (imaging, rectification)

        img_rows, img_cols = camera.image_axes(geometry.input_hw)
        full = np.stack([img_cols.to_source(xy[:, 0]), img_rows.to_source(xy[:, 1])], axis=1)
        pts = full.reshape(-1, 1, 2)
        d = np.asarray(camera.d, dtype=np.float64)
        new_k = geometry.rectified.k
        if camera.distortion_model == "equidistant":
            rect = cv2.fisheye.undistortPoints(pts, camera.k, d[:4], R=camera.r, P=new_k)
        else:
            rect = cv2.undistortPoints(pts, camera.k, d, R=camera.r, P=new_k)
        rect = rect.reshape(-1, 2)
        u = img_cols.then(cols).from_source(rect[:, 0])
        v = img_rows.then(rows).from_source(rect[:, 1])
    else:
        u = cols.from_source(xy[:, 0])
        v = rows.from_source(xy[:, 1])
    col = np.floor(u + 0.5)
    row = np.floor(v + 0.5)
    inside = (col >= 0) & (col < cols.size) & (row >= 0) & (row < rows.size)
    return row.astype(np.intp), col.astype(np.intp), inside


def input_to_model(xy: np.ndarray, geometry: FrameGeometry,
                   camera: Optional[CameraIntrinsics]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input pixel centres -> nearest model-grid (row, col) and whether the model saw it."""
    return grid_indices(xy, geometry, camera, geometry.sampling.rows, geometry.sampling.cols)


def output_indices(xy: np.ndarray, geometry: FrameGeometry,
                   camera: Optional[CameraIntrinsics]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input pixel centres -> nearest pixel of the published depth grid."""
    return grid_indices(xy, geometry, camera, geometry.out_rows, geometry.out_cols)


def model_grid_k(geometry: FrameGeometry, camera: Optional[CameraIntrinsics],
                 canonical_focal_px: Optional[float]) -> Optional[np.ndarray]:
    """The model grid's pinhole matrix: from camera_info, else the model's canonical focal
    length with the principal point at the grid centre, else None."""
    sampling = geometry.sampling
    if camera is not None:
        base = geometry.rectified if geometry.rectified is not None else camera
        try:
            return base.derive(geometry.input_hw, sampling.rows, sampling.cols).k
        except ValueError:
            return None
    if canonical_focal_px:
        h, w = sampling.rows.size, sampling.cols.size
        return np.array([[canonical_focal_px, 0, (w - 1) / 2.0], [0, canonical_focal_px, (h - 1) / 2.0],
                         [0, 0, 1.0]])
    return None


def cone_cos(k: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
    """cos(angle between each model pixel's ray and the optical axis), HxW."""
    h, w = hw
    x = (np.arange(w) - k[0, 2]) / k[0, 0]
    y = (np.arange(h) - k[1, 2]) / k[1, 1]
    return 1.0 / np.sqrt(1.0 + x[None, :] ** 2 + y[:, None] ** 2)


# --------------------------------------------------------------------------- estimation


@dataclass(frozen=True)
class ScaleFit:
    log_scale: float
    used: int  # ratios kept after outlier rejection
    rejected: int
    spread: float  # 1.4826 MAD of the kept log ratios (~ relative error of one anchor)

    @property
    def scale(self) -> float:
        return math.exp(self.log_scale)

    @property
    def std_error(self) -> float:
        """Standard error of the median (1.2533 sigma / sqrt(n))."""
        return 1.2533 * self.spread / math.sqrt(max(self.used, 1))


def _median(x: np.ndarray) -> float:
    """np.median of a finite 1-D array without its NaN checks and generic-axis overhead
    (a third of the per-frame fit time with four medians a frame)."""
    n = x.size
    k = n // 2
    if n % 2:
        return float(np.partition(x, k)[k])
    part = np.partition(x, (k - 1, k))
    return 0.5 * float(part[k - 1] + part[k])


def fit_log_scale(anchor_m: np.ndarray, model_m: np.ndarray) -> Optional[ScaleFit]:
    """Median of log(anchor / model) over pairs that are both finite and positive, after
    dropping ratios farther than MAD_CUTOFF scaled MADs from the first median (a tenth of
    the anchors off by 10x moves the result by a few percent at most).  None without pairs."""
    a = np.asarray(anchor_m, dtype=np.float64)
    m = np.asarray(model_m, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(a) & np.isfinite(m) & (a > 0) & (m > 0)
        r = np.log(a[ok]) - np.log(m[ok])
    if r.size == 0:
        return None
    med = _median(r)
    dev = np.abs(r - med)
    sigma = MAD_TO_SIGMA * _median(dev)
    keep = dev <= max(MAD_CUTOFF * sigma, 1e-9)
    kept = r[keep]
    med = _median(kept)
    spread = MAD_TO_SIGMA * _median(np.abs(kept - med))
    return ScaleFit(med, int(kept.size), int(r.size - kept.size), spread)


class ScaleFilter:
    """Exponential smoothing of the log scale with time constant ``tau_s`` (0 = none).

    The default 0.2 s keeps under 1 % of a scale older than 1 s.  A new estimate farther
    than RESET_SIGMAS of its standard error (and 5 %) from the smoothed value, or one after
    a gap, restarts the filter: two scenes' scales are never blended."""

    def __init__(self, tau_s: float) -> None:
        self.tau_s = float(tau_s)
        self.reset()

    def reset(self) -> None:
        self._log: Optional[float] = None
        self._t_s = 0.0

    def update(self, t_s: float, fit: ScaleFit, max_gap_s: float) -> float:
        x = fit.log_scale
        gate = max(RESET_SIGMAS * fit.std_error, RESET_FLOOR_LOG)
        dt = t_s - self._t_s
        if (self._log is None or self.tau_s <= 0 or dt < 0 or dt > max_gap_s
                or abs(x - self._log) > gate):
            self._log = x
        else:
            self._log += (1.0 - math.exp(-dt / self.tau_s)) * (x - self._log)
        self._t_s = t_s
        return self._log


# --------------------------------------------------------------------------- the node's state


@dataclass
class FrameScale:
    """What anchoring did to one frame."""

    scale: Optional[float] = None  # applied factor; None = the model's own scale
    source: str = "none"
    used: int = 0
    rejected: int = 0
    spread: float = float("nan")
    age_s: Optional[float] = None
    reason: str = ""  # why no scale (empty when anchored or when no anchor was ever received)
    anchor: Any = None  # the paired DepthAnchor (for live accuracy)


@dataclass
class LiveAccuracy:
    delta1: float
    absrel: float
    pixels: int
    stamp_ns: int


def live_accuracy(published_m: np.ndarray, anchor: DepthAnchor, geometry: FrameGeometry,
                  camera: Optional[CameraIntrinsics], stamp_ns: int) -> Optional[LiveAccuracy]:
    """δ1 and AbsRel of the published depth against the held-out anchor pixels inside the
    model's view, each compared with the published pixel nearest to it (flagged output
    pixels count as failures, as in :func:`~fastdepth_ros.metrics.compute_metrics`)."""
    if anchor.eval_uvz is None:
        return None
    pts = anchor.eval_uvz
    xy = anchor_to_input(pts[:, :2], anchor.hw, geometry.input_hw, anchor.k, _camera_k(camera))
    row, col, inside = output_indices(xy, geometry, camera)
    row, col = row[inside], col[inside]
    seen = geometry.out_row_valid[row] & geometry.out_col_valid[col]  # only what the model saw
    inside[inside] = seen
    row, col = row[seen], col[seen]
    if not inside.any():
        return None
    gt = pts[inside, 2]
    pred = published_m[row, col].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        good = np.isfinite(pred) & (pred > 0)
        ratio = np.where(good, np.maximum(pred / gt, gt / pred), np.inf)
        rel = np.where(good, np.abs(pred - gt) / gt, 1.0)
    return LiveAccuracy(float(np.mean(ratio < 1.25)), float(np.mean(rel)), int(gt.size), int(stamp_ns))


class Anchoring:
    """Anchors in (any thread), one scale per frame out (the worker).  See the module
    docstring; :meth:`status` feeds the "metric scale" diagnostic."""

    def __init__(self, config: AnchorConfig) -> None:
        self.config = config.validate()
        self._lock = threading.Lock()
        self._depth: OrderedDict[int, DepthAnchor] = OrderedDict()
        self._range: OrderedDict[int, RangeAnchor] = OrderedDict()
        self._anchor_k: Optional[np.ndarray] = None
        self._filter = ScaleFilter(config.smoothing_s)
        self._filter_source = "none"
        self.received = {"depth": 0, "range": 0, "range_out_of_limits": 0}
        self.applied = 0
        self.last = FrameScale()
        self.accuracy: Optional[LiveAccuracy] = None
        self._accuracy_due_s = 0.0
        self._cone_cache: Dict[Tuple[Any, ...], np.ndarray] = {}

    def configure(self, config: AnchorConfig) -> None:
        config.validate()
        with self._lock:
            self.config = config
            self._filter = ScaleFilter(config.smoothing_s)

    # ---- inputs (executor thread)

    def set_anchor_camera(self, k: Optional[np.ndarray]) -> None:
        self._anchor_k = None if k is None else np.asarray(k, dtype=np.float64)

    def add_depth_msg(self, msg: Any, stamp_ns: int, image_hw: Optional[Tuple[int, int]],
                      max_pixels: Optional[int] = None) -> DepthAnchor:
        """Decode and keep an anchor/depth message; raises AnchorError (with the reason)."""
        return self.add_depth(decode_depth_msg(msg, max_pixels), stamp_ns, image_hw)

    def add_depth(self, depth: np.ndarray, stamp_ns: int, image_hw: Optional[Tuple[int, int]]) -> DepthAnchor:
        """Keep an anchor depth image (float metres, NaN = none); raises AnchorError."""
        k = self._anchor_k
        if k is None and image_hw is not None:
            ah, aw = depth.shape
            aspect = image_hw[1] / float(image_hw[0])
            if abs(aw / float(ah) - aspect) > 0.01 * aspect:
                raise AnchorError("anchor/depth is %dx%d but the image is %dx%d: another aspect ratio, so "
                                  "not the same field of view; publish anchor/camera_info to map it"
                                  % (aw, ah, image_hw[1], image_hw[0]))
        anchor = depth_anchor(depth, stamp_ns, k)
        self._keep(self._depth, anchor)
        self.received["depth"] += 1
        return anchor

    def add_range(self, range_m: float, min_range_m: float, max_range_m: float, fov_rad: float,
                  stamp_ns: int) -> Optional[RangeAnchor]:
        anchor = range_anchor(range_m, min_range_m, max_range_m, fov_rad, stamp_ns)
        self.received["range"] += 1
        if anchor is None:
            self.received["range_out_of_limits"] += 1
        else:
            self._keep(self._range, anchor)
        return anchor

    def _keep(self, store: OrderedDict[int, Any], anchor: Any) -> None:
        with self._lock:
            if store and anchor.stamp_ns < max(store) - self.config.max_age_s * 1e9:
                store.clear()  # time went back (a bag replayed again): a new time line
            store[anchor.stamp_ns] = anchor
            store.move_to_end(anchor.stamp_ns)
            while len(store) > ANCHOR_CACHE:
                store.popitem(last=False)

    def _pair(self, store: OrderedDict[int, Any], stamp_ns: int) -> Tuple[Any, Optional[float]]:
        """(the exact-stamp anchor, else the newest within max_age_s, or None; its age in s,
        or the age of the newest anchor when none is usable)."""
        max_age_ns = self.config.max_age_s * 1e9
        with self._lock:
            if store and max(store) > stamp_ns + max_age_ns:
                store.clear()  # anchors of a time line this frame is not on (a bag replayed again)
            exact = store.get(stamp_ns)
            if exact is not None:
                return exact, 0.0
            newest_age = None
            for t_ns in sorted(store, reverse=True):
                age_ns = stamp_ns - t_ns
                if newest_age is None:
                    newest_age = age_ns / 1e9
                if abs(age_ns) <= max_age_ns:
                    return store[t_ns], age_ns / 1e9
            return None, newest_age

    @property
    def expecting(self) -> bool:
        """True once any anchor arrived: from then on, a frame without one is reported."""
        return self.received["depth"] > 0 or self.received["range"] > 0

    # ---- per frame (worker thread)

    def scale_for(self, model_m: np.ndarray, geometry: FrameGeometry, stamp_ns: int,
                  camera: Optional[CameraIntrinsics], canonical_focal_px: Optional[float]) -> FrameScale:
        """The factor for this frame's model depth (HxW, model grid, metres); records it."""
        result = self._estimate(model_m, geometry, stamp_ns, camera, canonical_focal_px)
        if result.scale is not None:
            lo, hi = self.config.scale_limits
            if not (lo <= result.scale <= hi):
                result = FrameScale(None, "none", result.used, result.rejected, result.spread, result.age_s,
                                    "scale %.3g from %s outside anchor.scale_limits [%g, %g]"
                                    % (result.scale, result.source, lo, hi))
        if result.scale is None:
            self._filter.reset()
        else:
            if result.source != self._filter_source:
                self._filter.reset()
            fit = ScaleFit(math.log(result.scale), result.used, result.rejected, result.spread)
            result.scale = math.exp(self._filter.update(stamp_ns / 1e9, fit, self.config.max_age_s))
            self.applied += 1
        self._filter_source = result.source
        self.last = result
        return result

    def _estimate(self, model_m: np.ndarray, geometry: FrameGeometry, stamp_ns: int,
                  camera: Optional[CameraIntrinsics], canonical_focal_px: Optional[float]) -> FrameScale:
        depth, depth_age = self._pair(self._depth, stamp_ns)
        reasons = []
        if depth is not None:
            pts = depth.fit_uvz
            xy = anchor_to_input(pts[:, :2], depth.hw, geometry.input_hw, depth.k, _camera_k(camera))
            row, col, inside = input_to_model(xy, geometry, camera)
            fit = fit_log_scale(pts[inside, 2], model_m[row[inside], col[inside]])
            n = 0 if fit is None else fit.used
            if fit is not None and n >= self.config.min_points:
                return FrameScale(fit.scale, "depth", fit.used, fit.rejected, fit.spread, depth_age,
                                  anchor=depth)
            reasons.append("%d depth anchors inside the model's view (anchor.min_points %d)"
                           % (n, self.config.min_points))
        elif self.received["depth"]:
            reasons.append(_stale("anchor/depth", depth_age, self.config.max_age_s))
        rng, range_age = self._pair(self._range, stamp_ns)
        if rng is not None:
            k = model_grid_k(geometry, camera, canonical_focal_px)
            if k is None:
                reasons.append("anchor/range needs camera_info (or a model with a canonical focal length)")
            else:
                cos = self._cone(k, model_m.shape, rng.half_angle_rad)
                inside = cos >= math.cos(rng.half_angle_rad)
                radial = model_m[inside] / cos[inside]
                fit = fit_log_scale(np.full(radial.shape, rng.range_m), radial)
                if fit is not None:
                    return FrameScale(fit.scale, "range", fit.used, fit.rejected, fit.spread, range_age)
                reasons.append("no valid model depth inside the range cone")
        elif self.received["range"]:
            if self.received["range_out_of_limits"] and range_age is None:
                reasons.append("anchor/range readings out of [min_range, max_range]")
            else:
                reasons.append(_stale("anchor/range (in limits)", range_age, self.config.max_age_s))
        return FrameScale(reason="; ".join(reasons))

    def _cone(self, k: np.ndarray, hw: Tuple[int, int], half_angle: float) -> np.ndarray:
        key = (k.tobytes(), hw)
        hit = self._cone_cache.get(key)
        if hit is None:
            if len(self._cone_cache) > 8:
                self._cone_cache.clear()
            hit = self._cone_cache[key] = cone_cos(k, hw)
        return hit

    def maybe_live_accuracy(self, published_m: np.ndarray, geometry: FrameGeometry,
                            camera: Optional[CameraIntrinsics], stamp_ns: int,
                            now_s: Optional[float] = None) -> Optional[LiveAccuracy]:
        """About once per LIVE_ACCURACY_PERIOD_S, after publishing (off the latency path):
        the published depth against the paired dense anchor's held-out pixels."""
        frame = self.last
        if frame.scale is None or frame.anchor is None or not frame.anchor.dense:
            return None
        now_s = time.monotonic() if now_s is None else now_s
        if now_s < self._accuracy_due_s:
            return None
        self._accuracy_due_s = now_s + LIVE_ACCURACY_PERIOD_S
        acc = live_accuracy(published_m, frame.anchor, geometry, camera, stamp_ns)
        if acc is not None:
            self.accuracy = acc
        return acc

    # ---- diagnostics

    def status(self) -> Tuple[bool, str, List[Tuple[str, Any]]]:
        """(ok, message, key/values) for the "metric scale" status."""
        frame = self.last
        values: List[Tuple[str, Any]] = [
            ("Scale", "%.4f" % frame.scale if frame.scale is not None else "1 (model scale)"),
            ("Source", frame.source),
            ("Anchors used", frame.used),
            ("Anchors rejected as outliers", frame.rejected),
            ("Residual spread (log, 1.4826 MAD)", "%.4f" % frame.spread if frame.used else "n/a"),
            ("Anchor age (s)", "%.3f" % frame.age_s if frame.age_s is not None else "n/a"),
            ("anchor/depth received", self.received["depth"]),
            ("anchor/range received", self.received["range"]),
            ("anchor/range out of limits (ignored)", self.received["range_out_of_limits"]),
            ("Frames anchored", self.applied),
            ("Max anchor age (anchor.max_age_s)", self.config.max_age_s),
            ("Smoothing (anchor.smoothing_s)", self.config.smoothing_s),
        ]
        acc = self.accuracy
        if acc is not None:
            values += [("Live delta1 vs anchor depth (held-out pixels)", "%.4f" % acc.delta1),
                       ("Live AbsRel vs anchor depth (held-out pixels)", "%.4f" % acc.absrel),
                       ("Live accuracy pixels", acc.pixels),
                       ("Live accuracy stamp", "%.3f" % (acc.stamp_ns / 1e9))]
        if frame.scale is not None:
            message = "Anchored to %s: scale %.4f from %d anchors." % (frame.source, frame.scale, frame.used)
            return True, message, values
        if not self.expecting:
            return True, "No anchors (anchor/depth, anchor/range): the model's own scale.", values
        message = "Not anchored, publishing the model's own scale: %s." % (frame.reason or "no frame yet")
        return False, message, values


def _stale(what: str, age_s: Optional[float], max_age_s: float) -> str:
    if age_s is None:
        return "no %s" % what
    return "newest %s is %.3f s from the frame (anchor.max_age_s %g)" % (what, age_s, max_age_s)
