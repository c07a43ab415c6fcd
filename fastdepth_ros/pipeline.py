"""RGB frame -> depth image: preprocess, engine, postprocess, with per-stage timings.

The node, the command line tool, the replay harness and the benchmarks all go through this
one class, so what is measured is what is deployed.  Geometry is planned once per input
resolution and cached (camera resolution rarely changes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Dict, Optional, Tuple

import numpy as np

from .engine import Engine
from .geometry import INPUT_MODES, CameraIntrinsics, FrameGeometry, parse_output_size, plan_frame
from .postprocess import DepthPostprocessor
from .preprocess import Preprocessor


@dataclass(frozen=True)
class PipelineConfig:
    input_mode: str = "crop"  # "crop": the paper's evaluation crop; "full": whole field of view
    output_size: str = "model"  # "model" (e.g. 224x224), "input" (camera grid), or "WxH"
    output_encoding: str = "32FC1"  # or "16UC1" (millimetres)
    min_range_m: float = 0.1
    max_range_m: float = 10.0

    def validate(self) -> PipelineConfig:
        if self.input_mode not in INPUT_MODES:
            raise ValueError("input_mode must be one of %s, got %r" % (INPUT_MODES, self.input_mode))
        parse_output_size(self.output_size)
        DepthPostprocessor(self.min_range_m, self.max_range_m, self.output_encoding)
        return self


@dataclass
class DepthResult:
    depth: np.ndarray  # float32 metres (REP 117 flags) or uint16 millimetres
    encoding: str
    geometry: FrameGeometry
    timings_ms: Dict[str, float]


class DepthPipeline:
    def __init__(self, engine: Engine, config: Optional[PipelineConfig] = None) -> None:
        self.engine = engine
        self.config = (config or PipelineConfig()).validate()
        self._post = self._make_post()
        self._cache: Dict[Tuple[int, int], Tuple[FrameGeometry, Preprocessor]] = {}

    def _make_post(self) -> DepthPostprocessor:
        c = self.config
        return DepthPostprocessor(c.min_range_m, c.max_range_m, c.output_encoding)

    def reconfigure(self, **changes: object) -> None:
        """Apply new settings atomically: validated first, so a bad value changes nothing."""
        config = replace(self.config, **changes).validate()
        self.config = config
        self._post = self._make_post()
        self._cache.clear()

    def geometry(self, input_hw: Tuple[int, int]) -> FrameGeometry:
        return self._plan(input_hw)[0]

    def _plan(self, input_hw: Tuple[int, int]) -> Tuple[FrameGeometry, Preprocessor]:
        key = (int(input_hw[0]), int(input_hw[1]))
        hit = self._cache.get(key)
        if hit is None:
            geo = plan_frame(key, self.engine.input_hw, self.config.input_mode, self.config.output_size)
            hit = (geo, Preprocessor(geo.sampling))
            if len(self._cache) > 8:  # a camera cycling resolutions must not grow memory
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def process(self, rgb8: np.ndarray) -> DepthResult:
        """``rgb8``: HxWx3 uint8 RGB (strided views fine)."""
        t0 = time.perf_counter()
        geo, pre = self._plan(rgb8.shape[:2])
        post = self._post
        x = pre(rgb8)
        t1 = time.perf_counter()
        model_depth = self.engine.run(x)
        t2 = time.perf_counter()
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
        )

    def depth_camera_info(self, info: CameraIntrinsics, geometry: FrameGeometry) -> CameraIntrinsics:
        """Intrinsics of the depth image produced for ``geometry`` from a camera ``info``."""
        return info.derive(geometry.input_hw, geometry.out_rows, geometry.out_cols)
