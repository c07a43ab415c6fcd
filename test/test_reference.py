"""The reference check: the official pruned FastDepth through our pipeline on the official
NYU test sample agrees with the official prediction (tolerances from shared/reference)."""

from __future__ import annotations

import numpy as np
import pytest

from fastdepth_ros.engine import Engine
from fastdepth_ros.metrics import compute_metrics
from fastdepth_ros.pipeline import DepthPipeline, PipelineConfig


@pytest.fixture(scope="module")
def sample(official_sample):
    rgb = np.load(official_sample / "rgb.npy")
    return {
        # Already preprocessed by the official code: float64 224x224x3 = uint8 / 255.
        "rgb8": np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8),
        "gt": np.load(official_sample / "depth.npy"),
        "pred": np.load(official_sample / "pred.npy").reshape(224, 224),
    }


@pytest.fixture(scope="module")
def engine(reference_model):
    return Engine(str(reference_model))


def test_sample_is_exactly_uint8_over_255(official_sample) -> None:
    rgb = np.load(official_sample / "rgb.npy")
    assert np.abs(rgb * 255.0 - np.rint(rgb * 255.0)).max() < 1e-9


def test_reference_model_matches_official_prediction(engine, sample) -> None:
    # A 224x224 frame in "full" mode is sampled 1:1, so the pipeline sees exactly the
    # official input; everything after (engine, REP 117 postprocess) is the real path.
    pipeline = DepthPipeline(engine, PipelineConfig(input_mode="full", output_size="model"))
    result = pipeline.process(sample["rgb8"])
    depth = result.depth
    assert depth.shape == (224, 224) and depth.dtype == np.float32 and result.encoding == "32FC1"
    assert np.isfinite(depth).all()
    official = sample["pred"]
    mean_abs = float(np.abs(depth - official).mean())
    corr = float(np.corrcoef(depth.ravel(), official.ravel())[0, 1])
    m = compute_metrics(depth, sample["gt"])
    assert mean_abs <= 0.05, mean_abs
    assert corr >= 0.995, corr
    assert m.delta1 >= 0.767, m
    assert m.rmse_m <= 0.640, m


def test_official_prediction_metrics_match_published_figures(sample) -> None:
    """Our metrics code reproduces the reference README's numbers for the official pred."""
    m = compute_metrics(sample["pred"], sample["gt"])
    assert m.delta1 == pytest.approx(0.7773, abs=5e-4)
    assert m.rmse_m == pytest.approx(0.6180, abs=5e-4)
    assert m.absrel == pytest.approx(0.1405, abs=5e-4)


def test_crop_mode_on_a_full_frame_is_consistent(engine, sample) -> None:
    """Upsample the sample to a 480x640 frame; the paper crop then sees nearly the same
    content, so the depth must stay close to the official prediction."""
    import cv2

    frame = cv2.resize(sample["rgb8"], (640, 480), interpolation=cv2.INTER_LINEAR)
    pipeline = DepthPipeline(engine, PipelineConfig(input_mode="full", output_size="input"))
    depth = pipeline.process(frame).depth
    assert depth.shape == (480, 640)
    back = cv2.resize(depth, (224, 224), interpolation=cv2.INTER_AREA)
    assert np.abs(back - sample["pred"]).mean() < 0.15
