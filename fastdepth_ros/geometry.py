"""All pixel geometry of the node in one place: crop/resize plans and camera intrinsics.

Every derived pixel grid (the model input, the depth image) is described per axis by an
:class:`AxisMap` relative to the camera image it came from.  The same maps drive

* the nearest-neighbour sampling that builds the model input (preprocess),
* the resampling of the model's depth grid to the requested output grid (postprocess),
* the CameraInfo of the depth image (K and P transformed, binning/ROI folded in),

so the three can never disagree.  Like image_proc's crop/resize, but with exact
half-pixel handling: image_proc scales ``cx`` by ``s``, which is off by ``(s - 1) / 2`` px;
here pixel centres map onto pixel centres.

Coordinate conventions.  *Edge* coordinates put source pixel ``i`` on ``[i, i + 1)``.
ROS/OpenCV *centre* coordinates (the ones K uses) are ``edge - 0.5``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence, Tuple

import numpy as np

#: The official FastDepth evaluation (dwofk/fast-depth, ``dataloaders/nyu.py``
#: ``val_transform``) for a 480x640 NYU frame: nearest resize by 250/480, centre crop
#: 228x304, nearest resize to the model input.
PAPER_RESIZE_HEIGHT = 250
PAPER_CROP_HW = (228, 304)
PAPER_ASPECT = PAPER_CROP_HW[1] / PAPER_CROP_HW[0]  # 4:3, the Kinect's aspect

INPUT_MODES = ("crop", "full")
MAX_SIDE_PX = 16384


@dataclass(frozen=True)
class AxisMap:
    """How one axis of a derived grid sits on the source image axis.

    Derived pixel ``u`` covers source edge coordinates
    ``[offset + u * scale, offset + (u + 1) * scale)``.
    """

    scale: float  # source pixels per derived pixel
    offset: float  # source edge coordinate of the derived grid's first edge
    size: int  # number of derived pixels

    def to_source(self, u: np.ndarray) -> np.ndarray:
        """Derived centre coordinate(s) -> source centre coordinate(s)."""
        return self.offset + (np.asarray(u, dtype=np.float64) + 0.5) * self.scale - 0.5

    def from_source(self, x: np.ndarray) -> np.ndarray:
        """Source centre coordinate(s) -> derived centre coordinate(s)."""
        return (np.asarray(x, dtype=np.float64) + 0.5 - self.offset) / self.scale - 0.5

    def then(self, inner: AxisMap) -> AxisMap:
        """Compose: ``inner`` is a grid derived from the grid this map describes."""
        return AxisMap(
            scale=self.scale * inner.scale,
            offset=self.offset + inner.offset * self.scale,
            size=inner.size,
        )

    def nearest_indices(self, source_len: int) -> np.ndarray:
        """Source index sampled by each derived pixel: ``floor(offset + (u + 0.5) * scale)``.

        This is PIL's NEAREST rule, and the official code resizes with scipy's imresize,
        i.e. PIL.  PIL evaluates it in its own arithmetic, so where ``(u + 0.5) * scale``
        is an exact integer (a half-pixel tie) it may pick the neighbour; that is the only
        difference (tested against Pillow).  cv2's INTER_NEAREST drops the 0.5 and would
        shift the official crop by a pixel.
        """
        idx = np.floor(self.offset + (np.arange(self.size) + 0.5) * self.scale)
        return np.clip(idx, 0, source_len - 1).astype(np.intp)

    def affine(self) -> Tuple[float, float]:
        """(a, b) with ``x_source_centre = a * u_centre + b``."""
        return self.scale, self.offset + 0.5 * self.scale - 0.5


def grid_matrix(rows: AxisMap, cols: AxisMap) -> np.ndarray:
    """The 3x3 taking source pixel centres (homogeneous) to the derived grid's pixel centres:
    what K and P of the source are multiplied by to describe the derived grid."""
    ax, bx = cols.affine()
    ay, by = rows.affine()
    return np.array([[1.0 / ax, 0.0, -bx / ax], [0.0, 1.0 / ay, -by / ay], [0.0, 0.0, 1.0]])


def resize_axis(source_len: int, target_len: int) -> AxisMap:
    return AxisMap(scale=source_len / target_len, offset=0.0, size=target_len)


def crop_axis(offset_px: int, length: int) -> AxisMap:
    return AxisMap(scale=1.0, offset=float(offset_px), size=length)


@dataclass(frozen=True)
class SamplingPlan:
    """Per-axis AxisMap of the model input plus the exact nearest indices that build it.

    Stages are applied one after another, each with nearest sampling, so a 480x640 frame
    reproduces the official two-resize pipeline pixel for pixel (a single composed floor
    would differ from the chained floors in a few rows).
    """

    rows: AxisMap
    cols: AxisMap
    row_indices: np.ndarray
    col_indices: np.ndarray


def _chain(source_len: int, stages: Sequence[AxisMap]) -> Tuple[AxisMap, np.ndarray]:
    composed = AxisMap(1.0, 0.0, source_len)
    indices = np.arange(source_len)
    length = source_len
    for stage in stages:
        indices = indices[stage.nearest_indices(length)]
        composed = composed.then(stage)
        length = stage.size
    return composed, indices


def paper_stages(source_len: int, crop_len: int, target_len: int, factor: float) -> list:
    """Resize by ``factor`` (length truncated like scipy's imresize), centre crop, resize."""
    resized_len = int(source_len * factor + 1e-6)
    # Python 3 round(), as the official CenterCrop computes int(round((h - th) / 2.)).
    start = int(round((resized_len - crop_len) / 2.0))
    return [
        resize_axis(source_len, resized_len),
        crop_axis(start, crop_len),
        resize_axis(crop_len, target_len),
    ]


def plan_sampling(input_hw: Tuple[int, int], model_hw: Tuple[int, int], mode: str) -> SamplingPlan:
    """Plan the model input for a camera frame.

    ``crop``: the paper's evaluation crop, generalised to any resolution and aspect.  The
    frame is scaled so that its largest centred 4:3 window is 250 px high, then the
    centred 228x304 window is cut and resized to the model input.  For 480x640 this is
    exactly the official pipeline; for other aspects the model sees the same per-axis
    scale ratio it was trained with (wider frames lose their sides, taller ones top and
    bottom).
    ``full``: the whole frame resized to the model input (keeps the field of view; the
    anisotropic scale is carried into the depth image's camera_info).
    """
    h, w = validate_size(input_hw)
    mh, mw = model_hw
    if mode == "crop":
        factor = PAPER_RESIZE_HEIGHT / min(h, w / PAPER_ASPECT)
        row_stages = paper_stages(h, PAPER_CROP_HW[0], mh, factor)
        col_stages = paper_stages(w, PAPER_CROP_HW[1], mw, factor)
    elif mode == "full":
        row_stages = [resize_axis(h, mh)]
        col_stages = [resize_axis(w, mw)]
    else:
        raise ValueError("input mode must be one of %s, got %r" % (INPUT_MODES, mode))
    rows, row_idx = _chain(h, row_stages)
    cols, col_idx = _chain(w, col_stages)
    return SamplingPlan(rows, cols, row_idx, col_idx)


def validate_size(hw: Tuple[int, int]) -> Tuple[int, int]:
    h, w = int(hw[0]), int(hw[1])
    if h <= 0 or w <= 0:
        raise ValueError("image size must be positive, got %dx%d (WxH)" % (w, h))
    if h > MAX_SIDE_PX or w > MAX_SIDE_PX:
        raise ValueError("image size %dx%d (WxH) exceeds %d px per side" % (w, h, MAX_SIDE_PX))
    return h, w


def parse_output_size(spec: str) -> Optional[Tuple[int, int]]:
    """'model' -> None marker handled by caller; 'input'; or 'WxH' -> (H, W)."""
    spec = spec.strip().lower()
    if spec in ("model", "input"):
        return None
    try:
        w_str, h_str = spec.split("x")
        size = validate_size((int(h_str), int(w_str)))
    except ValueError as exc:
        raise ValueError(
            "output size must be 'model', 'input' or WxH like '640x480', got %r (%s)" % (spec, exc)
        ) from None
    return size


def output_axis(model: AxisMap, spec: str, input_len: int, requested_len: Optional[int]) -> AxisMap:
    """The depth image's axis: the model grid, the input grid, or a resized model grid."""
    if spec == "model":
        return model
    if spec == "input":
        return AxisMap(1.0, 0.0, input_len)
    assert requested_len is not None
    return AxisMap(model.scale * model.size / requested_len, model.offset, requested_len)


def resample_indices(source: AxisMap, target: AxisMap) -> Tuple[np.ndarray, np.ndarray]:
    """For each target pixel, the nearest source-grid pixel and whether it exists.

    Both maps are relative to the same camera axis.  Target pixels whose centre falls
    outside the source grid (e.g. the input-size depth image outside the paper's crop)
    are invalid and become NaN (REP 117: no measurement).
    """
    centres_edge = target.offset + (np.arange(target.size) + 0.5) * target.scale
    idx = np.floor((centres_edge - source.offset) / source.scale)
    valid = (idx >= 0) & (idx < source.size)
    return np.clip(idx, 0, source.size - 1).astype(np.intp), valid


@dataclass(frozen=True)
class FrameGeometry:
    """Everything geometric about one input resolution under one configuration."""

    input_hw: Tuple[int, int]
    sampling: SamplingPlan
    out_rows: AxisMap
    out_cols: AxisMap
    out_row_indices: np.ndarray
    out_row_valid: np.ndarray
    out_col_indices: np.ndarray
    out_col_valid: np.ndarray
    #: Set when the frame is rectified: the camera the depth image is a crop/resize of
    #: (D = 0, R = I, K = P of the calibration) and the rectifying sampling of the model input.
    rectified: Optional[CameraIntrinsics] = None
    rectify_map: Optional[RectifyMap] = None

    @property
    def output_hw(self) -> Tuple[int, int]:
        return self.out_rows.size, self.out_cols.size

    def source_camera(self, camera: CameraIntrinsics) -> CameraIntrinsics:
        """The camera every grid here is a crop/resize of: the rectified one when the frame was
        rectified (what the model saw), else the input's ``camera``."""
        return self.rectified if self.rectified is not None else camera

    @property
    def is_identity_output(self) -> bool:
        """True when the depth image is the model grid itself (no resampling needed)."""
        return self.out_rows == self.sampling.rows and self.out_cols == self.sampling.cols


def plan_frame(
    input_hw: Tuple[int, int],
    model_hw: Tuple[int, int],
    input_mode: str,
    output_size: str,
    rectify_with: Optional[CameraIntrinsics] = None,
) -> FrameGeometry:
    """Plan one input resolution.  With ``rectify_with`` (the input's calibration) every grid
    is a crop/resize of the *rectified* camera image (same size as the input) and the model
    input is sampled through the undistortion (:func:`plan_rectification`)."""
    sampling = plan_sampling(input_hw, model_hw, input_mode)
    spec = output_size.strip().lower()
    requested = parse_output_size(spec)
    if requested is not None:
        spec = "size"
    req_h, req_w = requested if requested is not None else (None, None)
    out_rows = output_axis(sampling.rows, spec, input_hw[0], req_h)
    out_cols = output_axis(sampling.cols, spec, input_hw[1], req_w)
    r_idx, r_ok = resample_indices(sampling.rows, out_rows)
    c_idx, c_ok = resample_indices(sampling.cols, out_cols)
    rectified = rect_map = None
    if rectify_with is not None:
        rectified, rect_map = plan_rectification(rectify_with, tuple(input_hw), sampling)
    return FrameGeometry(tuple(input_hw), sampling, out_rows, out_cols, r_idx, r_ok, c_idx, c_ok,
                         rectified, rect_map)


# --------------------------------------------------------------------------- intrinsics


class CameraInfoError(ValueError):
    """A CameraInfo that cannot describe the image it came with."""


@dataclass(frozen=True)
class PinholeIntrinsics:
    """fx, fy, cx, cy of an undistorted ``height`` x ``width`` image: what the renderer and
    make-bag need to write a CameraInfo (the full message lives in :class:`CameraIntrinsics`)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def scaled(self, s: float) -> PinholeIntrinsics:
        """The same camera sampled at ``s`` times the resolution (pixel centres map to pixel
        centres, as everywhere in this module)."""
        return PinholeIntrinsics(*rescale_intrinsics(self.fx, self.fy, self.cx, self.cy, s, s),
                                 round(self.width * s), round(self.height * s))


def rescale_intrinsics(fx: float, fy: float, cx: float, cy: float, sx: float,
                       sy: float) -> Tuple[float, float, float, float]:
    """fx, fy, cx, cy of the same camera sampled at ``sx`` x ``sy`` times the resolution: pixel
    centres onto pixel centres (``c' = (c + 0.5) s - 0.5``), the rule of every grid here."""
    return fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5


@dataclass
class CameraIntrinsics:
    """The fields of sensor_msgs/CameraInfo that geometry needs, without importing ROS."""

    width: int
    height: int
    k: np.ndarray  # 3x3
    p: np.ndarray  # 3x4
    d: Tuple[float, ...] = ()
    r: np.ndarray = field(default_factory=lambda: np.eye(3))
    distortion_model: str = ""
    binning_x: int = 0
    binning_y: int = 0
    roi: Tuple[int, int, int, int, bool] = (0, 0, 0, 0, False)  # x, y, w, h, do_rectify

    @classmethod
    def from_msg(cls, msg) -> CameraIntrinsics:
        roi = msg.roi
        return cls(
            width=int(msg.width),
            height=int(msg.height),
            k=np.array(msg.k, dtype=np.float64).reshape(3, 3),
            p=np.array(msg.p, dtype=np.float64).reshape(3, 4),
            d=tuple(float(v) for v in msg.d),
            r=np.array(msg.r, dtype=np.float64).reshape(3, 3),
            distortion_model=str(msg.distortion_model),
            binning_x=int(msg.binning_x),
            binning_y=int(msg.binning_y),
            roi=(
                int(roi.x_offset),
                int(roi.y_offset),
                int(roi.width),
                int(roi.height),
                bool(roi.do_rectify),
            ),
        )

    def fill_msg(self, msg) -> None:
        """Write into a sensor_msgs/CameraInfo (header left to the caller)."""
        msg.width = int(self.width)
        msg.height = int(self.height)
        msg.distortion_model = self.distortion_model
        msg.d = [float(v) for v in self.d]
        msg.k = [float(v) for v in self.k.ravel()]
        msg.r = [float(v) for v in self.r.ravel()]
        msg.p = [float(v) for v in self.p.ravel()]
        msg.binning_x = int(self.binning_x)
        msg.binning_y = int(self.binning_y)
        msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = self.roi[:4]
        msg.roi.do_rectify = bool(self.roi[4])

    @property
    def distorted(self) -> bool:
        """Whether D has a non-zero coefficient: image_geometry's test for an image that needs
        rectifying (NaN counts as non-zero, and is refused when used)."""
        return any(c != 0.0 for c in self.d)

    def projection(self) -> np.ndarray:
        """P, or ``[K | 0]`` when P is all zero (unrectified drivers leave it so): the matrix
        depth_image_proc and image_proc project with."""
        return self.p if np.any(self.p) else pinhole_projection(self.k)

    def opencv_distortion(self) -> Optional[np.ndarray]:
        """D whole, as OpenCV's undistortion takes it for ``distortion_model`` (None when D is
        all zero), as image_geometry's PinholeCameraModel hands it over: every coefficient
        count OpenCV accepts is honoured, none is cut off.  Raises CameraInfoError for what
        cannot be honoured: an unknown model with non-zero D, or a count the model's OpenCV
        function does not take."""
        if not self.distorted:
            return None
        counts = DISTORTION_MODELS.get(self.distortion_model)
        if counts is None:
            raise CameraInfoError("unknown distortion_model %r with non-zero D (supported: %s)"
                                  % (self.distortion_model, ", ".join(sorted(DISTORTION_MODELS))))
        if len(self.d) not in counts:
            raise CameraInfoError("%s takes %s distortion coefficients (OpenCV), got %d"
                                  % (self.distortion_model, _or_list(counts), len(self.d)))
        return np.asarray(self.d, dtype=np.float64)

    def image_axes(self, image_hw: Tuple[int, int]) -> Tuple[AxisMap, AxisMap]:
        """Axis maps of the published image relative to the calibrated full-resolution grid.

        REP 104: the image is the ROI (full-resolution coordinates) of the calibrated
        sensor, then binned.  Raises CameraInfoError when that does not explain the
        image size, or the intrinsics are unusable.
        """
        if not (np.all(np.isfinite(self.k)) and np.all(np.isfinite(self.p))):
            raise CameraInfoError("camera_info K or P contains NaN/Inf")
        # D and R are copied into the depth image's camera_info: a NaN there would reach
        # every consumer that undistorts or rectifies.
        if not (np.all(np.isfinite(np.asarray(self.d, dtype=np.float64))) and np.all(np.isfinite(self.r))):
            raise CameraInfoError("camera_info D or R contains NaN/Inf")
        # A pinhole K's last row is [0, 0, 1] and P's [0, 0, 1, 0] (sensor_msgs/CameraInfo);
        # anything else is not a projection this node (or depth_image_proc) can transform,
        # and the derived K and P would disagree.
        if not np.allclose(self.k[2], (0.0, 0.0, 1.0), rtol=0.0, atol=1e-9):
            raise CameraInfoError("camera_info K's last row must be [0, 0, 1], got %s" % _row(self.k[2]))
        if np.any(self.p) and not np.allclose(self.p[2], (0.0, 0.0, 1.0, 0.0), rtol=0.0, atol=1e-9):
            raise CameraInfoError("camera_info P's last row must be [0, 0, 1, 0], got %s" % _row(self.p[2]))
        if self.k[0, 0] <= 0 or self.k[1, 1] <= 0:
            raise CameraInfoError(
                "camera_info focal lengths must be > 0, got fx=%g fy=%g" % (self.k[0, 0], self.k[1, 1])
            )
        bx = max(self.binning_x, 1)
        by = max(self.binning_y, 1)
        x0, y0, rw, rh = self.roi[:4]
        full_w = rw if rw > 0 else self.width
        full_h = rh if rh > 0 else self.height
        h, w = image_hw
        if full_w // bx != w or full_h // by != h:
            raise CameraInfoError(
                "camera_info describes a %dx%d image (size %dx%d, ROI %dx%d, binning %dx%d) "
                "but the image is %dx%d" % (full_w // bx, full_h // by, self.width, self.height,
                                            rw, rh, bx, by, w, h)
            )
        return AxisMap(float(by), float(y0), h), AxisMap(float(bx), float(x0), w)

    def derive(self, image_hw: Tuple[int, int], rows: AxisMap, cols: AxisMap) -> CameraIntrinsics:
        """Intrinsics of a grid derived from the image (rows/cols relative to the image).

        The result describes that grid directly: binning 0, ROI zero, width/height set.
        Distortion coefficients act on normalised coordinates, so D and R carry over.
        A zero P (unrectified drivers) is filled from K so depth_image_proc can project.
        """
        img_rows, img_cols = self.image_axes(image_hw)
        a = grid_matrix(img_rows.then(rows), img_cols.then(cols))
        return replace(
            self,
            width=cols.size,
            height=rows.size,
            k=a @ self.k,
            p=a @ self.projection(),
            binning_x=0,
            binning_y=0,
            roi=(0, 0, 0, 0, False),
        )


def pinhole_projection(k: np.ndarray) -> np.ndarray:
    """``P = [K | 0]``: the projection of a monocular camera with no rectification."""
    return np.hstack([np.asarray(k, dtype=np.float64), np.zeros((3, 1))])


def _or_list(values: Sequence[int]) -> str:
    """(4, 5, 8) -> '4, 5 or 8'."""
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else "%s or %s" % (", ".join(words[:-1]), words[-1])


def _row(values: np.ndarray) -> str:
    return "[%s]" % ", ".join("%g" % v for v in values)


def project(k: np.ndarray, points_xyz: np.ndarray) -> np.ndarray:
    """Pinhole projection of Nx3 camera-frame points to Nx2 pixel centre coordinates."""
    pts = np.asarray(points_xyz, dtype=np.float64)
    uvw = pts @ np.asarray(k, dtype=np.float64).T
    return uvw[:, :2] / uvw[:, 2:3]


def map_pixels(rows: AxisMap, cols: AxisMap, uv_derived: np.ndarray) -> np.ndarray:
    """Derived-grid pixel centres (u, v) -> source image pixel centres (x, y)."""
    uv = np.asarray(uv_derived, dtype=np.float64)
    return np.stack([cols.to_source(uv[:, 0]), rows.to_source(uv[:, 1])], axis=1)


def unmap_pixels(rows: AxisMap, cols: AxisMap, xy_source: np.ndarray) -> np.ndarray:
    """Source image pixel centres (x, y) -> derived-grid pixel centres (u, v)."""
    xy = np.asarray(xy_source, dtype=np.float64)
    return np.stack([cols.from_source(xy[:, 0]), rows.from_source(xy[:, 1])], axis=1)


def model_focal_px(fx: float, fy: float, rows: AxisMap, cols: AxisMap) -> float:
    """Focal length of a camera (``fx``, ``fy`` in source pixels) seen in a derived grid, as the
    geometric mean of the per-axis focal lengths there: the number a monocular network's
    metric scale depends on (objects of a given size and distance cover ``f`` times as many
    pixels).  Camera-aware scaling compares it with the model's training focal length."""
    return math.sqrt((fx / cols.scale) * (fy / rows.scale))


# --------------------------------------------------------------------------- rectification

RECTIFY_MODES = ("auto", "true", "false")
#: Every length of D OpenCV's pinhole model takes: k1 k2 p1 p2 [k3 [k4 k5 k6 [s1 s2 s3 s4
#: [tau_x tau_y]]]] (cv2.initUndistortRectifyMap).
OPENCV_D_LENGTHS = (4, 5, 8, 12, 14)
#: sensor_msgs/distortion_models the sampling maps can undo, and the D lengths each takes.
#: plumb_bob and rational_polynomial both go whole to cv2.initUndistortRectifyMap, as
#: image_geometry's PinholeCameraModel hands them over (a plumb_bob D of 8 is rational);
#: equidistant goes to cv2.fisheye, which takes k1..k4 only.
DISTORTION_MODELS = {"plumb_bob": OPENCV_D_LENGTHS, "rational_polynomial": OPENCV_D_LENGTHS,
                     "equidistant": (4,)}


def distortion_models_text() -> str:
    """'equidistant (4), plumb_bob (4, 5, 8, 12 or 14), ...': the models and D lengths honoured."""
    return ", ".join("%s (%s)" % (name, _or_list(n)) for name, n in sorted(DISTORTION_MODELS.items()))


def wants_rectification(info: CameraIntrinsics, mode: str) -> bool:
    """``auto``: only when D has a non-zero coefficient; ``true``: always (also applies a
    calibration's R and P); ``false``: never (D is passed through to the depth camera_info)."""
    if mode not in RECTIFY_MODES:
        raise ValueError("rectify must be one of %s, got %r" % (RECTIFY_MODES, mode))
    if mode == "false":
        return False
    return mode == "true" or info.distorted


@dataclass(frozen=True)
class RectifyMap:
    """Nearest raw-image pixel for every model-input pixel of the rectified grid.

    ``flat`` indexes a C-contiguous HxWx3 image viewed as (H*W)x3 (one gather per frame,
    the same cost as the unrectified sampling); ``valid`` is False where the rectified
    pixel's ray falls outside the raw image (its depth becomes NaN, REP 117)."""

    rows: np.ndarray  # model_h x model_w source row indices (clipped)
    cols: np.ndarray  # model_h x model_w source column indices (clipped)
    flat: np.ndarray  # rows * input_w + cols
    valid: np.ndarray  # model_h x model_w bool


def rectified_camera(info: CameraIntrinsics) -> CameraIntrinsics:
    """The ideal camera image_proc's rectify produces from ``info``: K = P's left 3x3,
    D = 0, R = I, P unchanged (a zero P is taken from K), same size, binning and ROI."""
    p = info.projection()
    return replace(info, k=p[:, :3].copy(), p=p.copy(), d=(0.0,) * 5, r=np.eye(3),
                   distortion_model="plumb_bob")


def plan_rectification(
    info: CameraIntrinsics, image_hw: Tuple[int, int], sampling: SamplingPlan
) -> Tuple[CameraIntrinsics, RectifyMap]:
    """Fold undistortion into the model-input sampling: for each model pixel, the raw pixel
    that sees its ray.  Computed once per calibration and resolution (no per-frame work).

    The model grid is the paper crop/resize of the *rectified* image (``rectified_camera``,
    same size as the raw image), so all output grids and their camera_info follow from the
    usual axis maps.  OpenCV's ``initUndistortRectifyMap`` (``cv2.fisheye``'s for the
    equidistant model) maps each rectified pixel, given as the model grid's own camera
    matrix, back through R and the whole of D (:meth:`CameraIntrinsics.opencv_distortion`)
    to the raw calibrated pixel.  Raises CameraInfoError for a calibration it cannot honour.
    """
    import cv2  # runtime dependency already (imaging); imported here to keep geometry light

    img_rows, img_cols = info.image_axes(image_hw)  # validates K, P, D, R and the size
    d = info.opencv_distortion()
    rect = rectified_camera(info)
    model_k = rect.derive(image_hw, sampling.rows, sampling.cols).k
    size = (sampling.cols.size, sampling.rows.size)  # OpenCV: (width, height)
    if info.distortion_model == "equidistant":  # D = 0 is still the equidistant projection
        map_x, map_y = cv2.fisheye.initUndistortRectifyMap(info.k, d if d is not None else np.zeros(4),
                                                           info.r, model_k, size, cv2.CV_32FC1)
    else:
        map_x, map_y = cv2.initUndistortRectifyMap(info.k, d, info.r, model_k, size, cv2.CV_32FC1)
    # calibrated full-resolution pixel centres -> raw image pixel centres (binning/ROI)
    x = img_cols.from_source(map_x.astype(np.float64))
    y = img_rows.from_source(map_y.astype(np.float64))
    h, w = image_hw
    with np.errstate(invalid="ignore"):
        col = np.floor(x + 0.5)
        row = np.floor(y + 0.5)
        valid = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    col = np.clip(np.nan_to_num(col), 0, w - 1).astype(np.intp)
    row = np.clip(np.nan_to_num(row), 0, h - 1).astype(np.intp)
    return rect, RectifyMap(row, col, row * w + col, valid)

