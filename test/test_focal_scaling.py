"""Focal scaling in the pipeline: which canonical focal length applies, and the factor."""

from __future__ import annotations

import numpy as np
import pytest
from deps import need

from fastdepth_ros.engine import Engine, EngineConfig
from fastdepth_ros.geometry import CameraIntrinsics, plan_sampling
from fastdepth_ros.pipeline import DepthPipeline, PipelineConfig

need("onnxruntime")


def camera(f: float) -> CameraIntrinsics:
    k = np.array([[f, 0, 319.5], [0, f, 239.5], [0, 0, 1.0]])
    return CameraIntrinsics(640, 480, k, np.hstack([k, np.zeros((3, 1))]), d=(0.0,) * 5,
                            distortion_model="plumb_bob")


def test_model_without_metadata_scales_only_with_a_configured_canonical_focal(reference_model) -> None:
    engine = Engine(str(reference_model), EngineConfig(providers=["cpu"], warmup_runs=0, intra_op_threads=1))
    assert engine.canonical_focal_px is None  # the official ONNX records none
    rgb = np.full((480, 640, 3), 120, np.uint8)
    plain = DepthPipeline(engine)
    base = plain.process(rgb, camera(600.0))
    assert base.focal_scale is None
    nyu = DepthPipeline(engine, PipelineConfig(canonical_focal_px=229.948))
    scaled = nyu.process(rgb, camera(600.0))
    plan = plan_sampling((480, 640), engine.input_hw, "crop")
    expected = 600.0 / np.sqrt(plan.rows.scale * plan.cols.scale) / 229.948
    assert scaled.focal_scale == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(scaled.depth, base.depth * np.float32(expected), rtol=1e-5)
    assert nyu.process(rgb, None).focal_scale is None  # no camera_info: nothing to scale with
    with pytest.raises(ValueError, match="canonical_focal_px"):
        PipelineConfig(canonical_focal_px=-1.0).validate()
