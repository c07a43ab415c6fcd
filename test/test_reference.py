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


def _nearest(length: int, target: int) -> np.ndarray:
    """PIL / scipy.misc.imresize NEAREST: target index t reads source floor((t + 0.5) * length / target)."""
    return np.floor((np.arange(target) + 0.5) * length / target).astype(int)


def _plant(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape) -> np.ndarray:
    """A larger image whose pixels at (rows, cols) are ``image`` (the rest repeats neighbours):
    sampling it at those indices gives ``image`` back exactly."""
    out = np.empty(shape + image.shape[2:], dtype=image.dtype)
    nearest_r = np.clip(np.searchsorted(rows, np.arange(shape[0])), 0, len(rows) - 1)
    nearest_c = np.clip(np.searchsorted(cols, np.arange(shape[1])), 0, len(cols) - 1)
    out[:] = image[nearest_r][:, nearest_c]
    out[np.ix_(rows, cols)] = image
    return out


def test_crop_mode_on_a_full_frame_gives_the_official_prediction(engine, sample) -> None:
    """A 640x480 frame built so that the official crop chain (nearest resize 480 -> 250 rows,
    640 -> 333 cols, centre crop 228x304 at (11, 14), nearest resize to 224x224; written out
    here from the official steps) yields exactly the NYU sample: crop mode must then give
    the official prediction within the direct test's tolerances, and full mode must not."""
    crop_rows, crop_cols = 11 + _nearest(228, 224), 14 + _nearest(304, 224)
    canvas = _plant(sample["rgb8"], crop_rows, crop_cols, (250, 333))
    frame = _plant(canvas, _nearest(480, 250), _nearest(640, 333), (480, 640))
    assert np.array_equal(frame[_nearest(480, 250)][:, _nearest(640, 333)][crop_rows][:, crop_cols],
                          sample["rgb8"])  # the construction is right
    crop = DepthPipeline(engine, PipelineConfig(input_mode="crop", output_size="model")).process(frame).depth
    direct = DepthPipeline(engine, PipelineConfig(input_mode="full", output_size="model")).process(
        sample["rgb8"]).depth
    np.testing.assert_allclose(crop, direct, rtol=1e-5, atol=1e-5)  # the same model input
    official = sample["pred"]
    assert float(np.abs(crop - official).mean()) <= 0.05
    assert float(np.corrcoef(crop.ravel(), official.ravel())[0, 1]) >= 0.995
    full = DepthPipeline(engine, PipelineConfig(input_mode="full", output_size="model")).process(frame).depth
    assert float(np.abs(full - official).mean()) > 0.1  # the modes are told apart
