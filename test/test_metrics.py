"""Official metrics on hand-computable cases."""

from __future__ import annotations

import numpy as np
import pytest

from fastdepth_ros.metrics import MetricsAccumulator, compute_metrics, median_scaled


def test_perfect_and_known_errors() -> None:
    gt = np.array([[1.0, 2.0], [4.0, 0.0]])
    m = compute_metrics(gt.copy(), gt)
    assert m.delta1 == 1.0 and m.rmse_m == 0.0 and m.valid_pixels == 3
    pred = np.array([[1.3, 2.0], [4.0, 99.0]])  # last pixel has no ground truth: ignored
    m = compute_metrics(pred, gt)
    assert m.delta1 == pytest.approx(2 / 3)
    assert m.delta2 == 1.0
    assert m.rmse_m == pytest.approx(np.sqrt(0.09 / 3))
    assert m.absrel == pytest.approx(0.3 / 3)
    assert m.mae_m == pytest.approx(0.1)
    assert m.log10 == pytest.approx(np.log10(1.3) / 3)


def test_flagged_predictions_count_as_failures() -> None:
    gt = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.0, np.nan, np.inf, 4.0])
    m = compute_metrics(pred, gt)
    assert m.delta1 == 0.5 and m.delta3 == 0.5 and m.valid_pixels == 4


def test_accumulator_averages_frames() -> None:
    acc = MetricsAccumulator()
    gt = np.ones((2, 2))
    acc.add(compute_metrics(gt, gt))
    acc.add(compute_metrics(gt * 2, gt))
    mean = acc.mean()
    assert acc.frames == 2 and mean.delta1 == 0.5 and mean.rmse_m == pytest.approx(0.5)


def test_median_scaling_removes_only_the_global_scale() -> None:
    gt = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]])  # last pixel: no ground truth
    right_shape = gt * 1.7 + np.array([[0, 0, 0], [0, 0, 9.0]])
    scaled = median_scaled(right_shape, gt)
    assert compute_metrics(right_shape, gt).delta1 == 0.0  # 70 % too far everywhere
    np.testing.assert_allclose(scaled[gt > 0], gt[gt > 0])  # the shape was right
    wrong_shape = np.array([[5.0, 4.0, 3.0], [2.0, 1.0, 1.0]])
    assert compute_metrics(median_scaled(wrong_shape, gt), gt).delta1 < 0.5  # scaling cannot fix it
    flagged = np.array([[1.0, np.nan, 3.0], [np.inf, 5.0, 1.0]]) * 2
    assert np.isnan(median_scaled(flagged, gt)[0, 1])  # flags stay flags; median over valid pixels
    assert median_scaled(flagged, gt)[0, 2] == pytest.approx(3.0)
