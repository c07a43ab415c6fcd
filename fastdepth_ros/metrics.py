"""Depth accuracy metrics exactly as the FastDepth paper and its official code compute them.

The official ``metrics.py`` of dwofk/fast-depth evaluates only pixels with valid ground truth
(``gt > 0``) and reports delta thresholds 1.25, 1.25**2, 1.25**3, RMSE and MAE in metres,
AbsRel and mean |log10| error.  Keeping one implementation here means the reference test, the
replay report and model evaluation cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Optional

import numpy as np


@dataclass(frozen=True)
class DepthMetrics:
    """Accuracy of one prediction (or an aggregate) over valid ground-truth pixels."""

    delta1: float
    delta2: float
    delta3: float
    rmse_m: float
    mae_m: float
    absrel: float
    log10: float
    valid_pixels: int

    def as_dict(self) -> Dict[str, float]:
        return asdict(self)


def valid_mask(gt_m: np.ndarray, pred_m: Optional[np.ndarray] = None) -> np.ndarray:
    """Pixels that count: finite ground truth > 0 (and a finite, positive prediction)."""
    mask = np.isfinite(gt_m) & (gt_m > 0)
    if pred_m is not None:
        mask &= np.isfinite(pred_m) & (pred_m > 0)
    return mask


def compute_metrics(pred_m: np.ndarray, gt_m: np.ndarray) -> DepthMetrics:
    """Compare a metric depth prediction with ground truth of the same shape.

    Invalid predictions (NaN, +-Inf, <= 0, e.g. REP 117 flags) on valid ground truth are
    not silently dropped from the denominator: they count as failures of the delta tests
    and are clamped to the valid range for the error terms, so a model cannot look better
    by flagging hard pixels.
    """
    pred = np.asarray(pred_m, dtype=np.float64).reshape(np.shape(gt_m))
    gt = np.asarray(gt_m, dtype=np.float64)
    mask = valid_mask(gt)
    n = int(mask.sum())
    if n == 0:
        nan = float("nan")
        return DepthMetrics(nan, nan, nan, nan, nan, nan, nan, 0)
    g = gt[mask]
    p = pred[mask]
    bad = ~(np.isfinite(p) & (p > 0))
    p = np.where(bad, np.nan, p)
    # Error terms need a number: clamp flagged pixels into the ground truth's range.
    p_err = np.where(bad, np.where(np.isposinf(pred[mask]), g.max(), g.min()), p)
    p_err = np.clip(p_err, 1e-6, None)
    ratio = np.maximum(p_err / g, g / p_err)
    ratio = np.where(bad, np.inf, ratio)
    diff = p_err - g
    return DepthMetrics(
        delta1=float(np.mean(ratio < 1.25)),
        delta2=float(np.mean(ratio < 1.25**2)),
        delta3=float(np.mean(ratio < 1.25**3)),
        rmse_m=float(np.sqrt(np.mean(diff**2))),
        mae_m=float(np.mean(np.abs(diff))),
        absrel=float(np.mean(np.abs(diff) / g)),
        log10=float(np.mean(np.abs(np.log10(p_err) - np.log10(g)))),
        valid_pixels=n,
    )


def median_scaled(pred_m: np.ndarray, gt_m: np.ndarray) -> np.ndarray:
    """``pred_m`` times median(gt) / median(pred) over pixels valid in both.

    Median scaling (Zhou et al., CVPR 2017) removes the one unknown a single image cannot
    pin down, the global scale, so metrics of the scaled prediction measure the *shape* of
    the depth map.  FastDepth is a metric model and its paper reports unscaled metrics;
    the scaled ones only tell a scale error apart from a structure error.
    """
    gt = np.asarray(gt_m, dtype=np.float64)
    pred = np.asarray(pred_m, dtype=np.float64).reshape(gt.shape)
    mask = valid_mask(gt, pred)
    if not mask.any():
        return pred.copy()
    return pred * (np.median(gt[mask]) / np.median(pred[mask]))


class MetricsAccumulator:
    """Pixel-weighted running average over many frames, as the official evaluation averages
    per-image metrics (``AverageMeter`` weighted by batch size); we weight by frames."""

    def __init__(self) -> None:
        self._sums: Dict[str, float] = {}
        self.frames = 0

    def add(self, m: DepthMetrics) -> None:
        if m.valid_pixels == 0:
            return
        for k, v in m.as_dict().items():
            if k != "valid_pixels":
                self._sums[k] = self._sums.get(k, 0.0) + v
        self._sums["valid_pixels"] = self._sums.get("valid_pixels", 0) + m.valid_pixels
        self.frames += 1

    def mean(self) -> DepthMetrics:
        if self.frames == 0:
            nan = float("nan")
            return DepthMetrics(nan, nan, nan, nan, nan, nan, nan, 0)
        d = {k: v / self.frames for k, v in self._sums.items() if k != "valid_pixels"}
        return DepthMetrics(valid_pixels=int(self._sums["valid_pixels"]), **d)
