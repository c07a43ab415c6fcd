"""Metric anchors synthesised from ground-truth depth, to try anchoring offline.

``make-bag --anchor-points K`` writes, per frame, an ``anchor/depth`` image holding K random
valid ground-truth pixels (what VIO landmarks or a projected LiDAR scan look like), and
``--anchor-range FOV`` a ``sensor_msgs/Range`` whose reading is the median distance of the
ground truth inside a cone of full angle FOV around the optical axis (a rangefinder).  The
evaluation in ``benchmarks/anchor_eval.py`` uses the same functions.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def sparse_anchor(gt_m: np.ndarray, n_points: int, rng: np.random.Generator,
                  factor: float = 1.0) -> np.ndarray:
    """A float32 image like ``gt_m`` with ``n_points`` random valid pixels (x ``factor``)
    kept and every other pixel NaN (no measurement)."""
    with np.errstate(invalid="ignore"):
        valid = np.flatnonzero(np.isfinite(gt_m) & (gt_m > 0))
    out = np.full(gt_m.shape, np.nan, dtype=np.float32)
    if valid.size:
        pick = rng.choice(valid, size=min(n_points, valid.size), replace=False)
        out.flat[pick] = gt_m.flat[pick] * factor
    return out


def range_reading(gt_m: np.ndarray, k: np.ndarray, fov_rad: float, factor: float = 1.0) -> Optional[float]:
    """Median ray distance of the valid ground truth within ``fov_rad / 2`` of the optical
    axis (camera matrix ``k``), or None when no valid pixel lies in the cone."""
    h, w = gt_m.shape
    x = (np.arange(w) - k[0][2]) / k[0][0]
    y = (np.arange(h) - k[1][2]) / k[1][1]
    stretch = np.sqrt(1.0 + x[None, :] ** 2 + y[:, None] ** 2)  # ray length per unit z
    with np.errstate(invalid="ignore"):
        inside = (stretch <= 1.0 / np.cos(fov_rad / 2.0)) & np.isfinite(gt_m) & (gt_m > 0)
    if not inside.any():
        return None
    return float(np.median(gt_m[inside] * stretch[inside]) * factor)
