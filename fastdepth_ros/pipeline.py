"""RGB frame -> depth image: preprocess, engine, postprocess, with per-stage timings.

The node, the command line tool, the replay harness and the benchmarks all go through this
one class, so what is measured is what is deployed.  Geometry is planned once per input
resolution and cached (camera resolution rarely changes).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .engine import Engine
from .geometry import (
    INPUT_MODES,
    RECTIFY_MODES,
    CameraInfoError,
    CameraIntrinsics,
    FrameGeometry,
    parse_output_size,
    plan_frame,
    wants_rectification,
)
from .postprocess import DepthPostprocessor
from .preprocess import Preprocessor

#: Default pixel budget of the depth image: 16 MP (4096x4096), the input's default budget, so
#: output_size 'input' fits any accepted frame, while 16384x16384 (1 GiB per 32FC1 message,
#: gigabytes of sampling maps) is refused.
MAX_OUTPUT_PIXELS = 4096 * 4096


def check_output_pixels(output_hw: Tuple[int, int], max_pixels: int, output_size: str) -> None:
    """Raise ValueError when a depth image of ``output_hw`` (H, W) exceeds the pixel budget."""
    pixels = int(output_hw[0]) * int(output_hw[1])
    if pixels > max_pixels:
        raise ValueError("output_size %r gives a %dx%d (WxH) depth image, %d px: over max_output_pixels %d"
                         % (output_size, output_hw[1], output_hw[0], pixels, max_pixels))


@dataclass(frozen=True)
class PipelineConfig:
    input_mode: str = "crop"  # "crop": the paper's evaluation crop; "full": whole field of view
    output_size: str = "model"  # "model" (e.g. 224x224), "input" (camera grid), or "WxH"
    output_encoding: str = "32FC1"  # or "16UC1" (millimetres)
    min_range_m: float = 0.1
    max_range_m: float = 10.0
    focal_scaling: bool = True  # depth x f_camera / f_canonical (models that record f_canonical)
    canonical_focal_px: float = 0.0  # > 0: f_canonical for models without (or overriding) metadata
    rectify: str = "auto"  # "auto": undistort when D != 0; "true": always; "false": never
    max_output_pixels: int = MAX_OUTPUT_PIXELS  # pixel budget of the depth image

    def validate(self) -> PipelineConfig:
        if self.input_mode not in INPUT_MODES:
            raise ValueError("input_mode must be one of %s, got %r" % (INPUT_MODES, self.input_mode))
        if self.rectify not in RECTIFY_MODES:
            raise ValueError("rectify must be one of %s, got %r" % (RECTIFY_MODES, self.rectify))
        if not (self.canonical_focal_px >= 0.0 and math.isfinite(self.canonical_focal_px)):
            raise ValueError("canonical_focal_px must be >= 0 (0 = the model's), got %r"
                             % self.canonical_focal_px)
        if not (isinstance(self.max_output_pixels, int) and self.max_output_pixels >= 1):
            raise ValueError("max_output_pixels must be a positive integer, got %r" % self.max_output_pixels)
        requested = parse_output_size(self.output_size)
        if requested is not None:  # 'model' and 'input' are checked per frame size (_plan)
            check_output_pixels(requested, self.max_output_pixels, self.output_size)
        DepthPostprocessor(self.min_range_m, self.max_range_m, self.output_encoding)
        return self


@dataclass
class DepthResult:
    depth: np.ndarray  # float32 metres (REP 117 flags) or uint16 millimetres
    encoding: str
    geometry: FrameGeometry
    timings_ms: Dict[str, float]
    focal_scale: Optional[float] = None  # factor applied to the model's depth, None = none
    anchor_scale: Optional[float] = None  # metric-anchoring factor applied on top, None = none


#: ``(model depth in metres on the model grid, geometry) -> extra factor or None``: the one
#: place a metric anchor's scale enters, before range flags and resampling, so every output
#: (depth image, points, colour map) carries it
Rescale = Callable[[np.ndarray, FrameGeometry], Optional[float]]


class DepthPipeline:
    def __init__(self, engine: Engine, config: Optional[PipelineConfig] = None) -> None:
        self.engine = engine
        self.config = (config or PipelineConfig()).validate()
        self._post = self._make_post()
        self._cache: Dict[Tuple[object, ...], Tuple[FrameGeometry, Preprocessor]] = {}

    def _make_post(self) -> DepthPostprocessor:
        c = self.config
        return DepthPostprocessor(c.min_range_m, c.max_range_m, c.output_encoding)

    def replaced(self, engine: Optional[Engine] = None, **changes: object) -> DepthPipeline:
        """A new pipeline with another engine and/or settings (validated: a bad value raises
        and changes nothing).  Copy-on-write, so a thread still processing a frame with
        this one is not disturbed: the node swaps the reference under a short lock and
        never holds that lock across inference."""
        return DepthPipeline(engine if engine is not None else self.engine, replace(self.config, **changes))

    def geometry(self, input_hw: Tuple[int, int], camera: Optional[CameraIntrinsics] = None) -> FrameGeometry:
        return self._plan(input_hw, camera)[0]

    def rectifies(self, camera: Optional[CameraIntrinsics]) -> bool:
        """Whether a frame with this calibration is rectified under the current config."""
        return camera is not None and wants_rectification(camera, self.config.rectify)

    def _plan(self, input_hw: Tuple[int, int],
              camera: Optional[CameraIntrinsics] = None) -> Tuple[FrameGeometry, Preprocessor]:
        """Cached per resolution and, when rectifying, per calibration (a camera_info with
        the same numbers re-uses the maps: the per-frame cost is one dictionary lookup).
        Raises CameraInfoError for a calibration that cannot be rectified."""
        hw = (int(input_hw[0]), int(input_hw[1]))
        rectify_with = camera if self.rectifies(camera) else None
        key = hw + (calibration_key(rectify_with),)
        hit = self._cache.get(key)
        if hit is None:
            geo = plan_frame(hw, self.engine.input_hw, self.config.input_mode, self.config.output_size,
                             rectify_with)
            check_output_pixels(geo.output_hw, self.config.max_output_pixels, self.config.output_size)
            hit = (geo, Preprocessor(geo.sampling, geo.rectify_map))
            if len(self._cache) > 8:  # a camera cycling resolutions must not grow memory
                self._cache.clear()
            self._cache[key] = hit
        return hit

    @property
    def canonical_focal_px(self) -> Optional[float]:
        """The focal length (model-input pixels) the model's depth is for: the configured one if
        set (e.g. the official NYU-trained model, whose ONNX records none: NYU's 229.948 px),
        else the model's metadata, else None."""
        return self.config.canonical_focal_px or self.engine.canonical_focal_px

    def focal_scale(self, camera: Optional[CameraIntrinsics], geometry: FrameGeometry) -> Optional[float]:
        """``f_camera / f_canonical`` for this frame, or None when scaling does not apply
        (turned off, no camera_info, a model without a canonical focal length).

        A monocular model learns metric depth for the focal length it was trained at; its
        output is depth in that canonical camera.  ``f_camera`` is the camera's focal length
        in model-input pixels (geometric mean of fx, fy after the crop/resize).  Raises
        CameraInfoError for a camera_info that cannot describe the frame."""
        f_canonical = self.canonical_focal_px
        if not self.config.focal_scaling or camera is None or f_canonical is None:
            return None
        sampling = geometry.sampling
        k = geometry.source_camera(camera).derive(geometry.input_hw, sampling.rows, sampling.cols).k
        return math.sqrt(k[0, 0] * k[1, 1]) / f_canonical

    def process(self, rgb8: np.ndarray, camera: Optional[CameraIntrinsics] = None,
                rescale: Optional[Rescale] = None) -> DepthResult:
        """``rgb8``: HxWx3 uint8 RGB (strided views fine); ``camera``: its intrinsics, for
        rectification (``config.rectify``; the result's geometry says whether it was) and focal
        scaling (:meth:`focal_scale`); a camera_info that does not fit the frame disables
        scaling for that frame (the node reports it when deriving depth/camera_info);
        ``rescale``: metric anchoring (:mod:`~fastdepth_ros.anchor`), timed as postprocess."""
        t0 = time.perf_counter()
        geo, pre = self._plan(rgb8.shape[:2], camera)
        post = self._post
        try:
            scale = self.focal_scale(camera, geo)
        except (CameraInfoError, ValueError):
            scale = None
        x = pre(rgb8)
        t1 = time.perf_counter()
        model_depth = self.engine.run(x)
        t2 = time.perf_counter()
        if scale is not None:
            model_depth = model_depth * np.float32(scale)
        anchor_scale = rescale(model_depth, geo) if rescale is not None else None
        if anchor_scale is not None:
            model_depth = model_depth * np.float32(anchor_scale)
        depth = post(model_depth, geo)
        t3 = time.perf_counter()
        return DepthResult(
            depth=depth,
            encoding=post.encoding,
            geometry=geo,
            timings_ms={
                "preprocess": (t1 - t0) * 1e3,
                "inference": (t2 - t1) * 1e3,
                "postprocess": (t3 - t2) * 1e3,
            },
            focal_scale=scale,
            anchor_scale=anchor_scale,
        )

    def depth_camera_info(self, info: CameraIntrinsics, geometry: FrameGeometry) -> CameraIntrinsics:
        """Intrinsics of the depth image produced for ``geometry`` from a camera ``info``
        (for a rectified frame: of the rectified camera, D = 0, R = I)."""
        return geometry.source_camera(info).derive(geometry.input_hw, geometry.out_rows, geometry.out_cols)


def calibration_key(camera: Optional[CameraIntrinsics]) -> Tuple[object, ...]:
    """Hashable identity of the numbers rectification depends on."""
    if camera is None:
        return ()
    return (camera.distortion_model, tuple(camera.d), camera.k.tobytes(), camera.r.tobytes(),
            camera.p.tobytes(), camera.width, camera.height, camera.binning_x, camera.binning_y,
            camera.roi)
