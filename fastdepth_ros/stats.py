"""The one place for latency statistics: percentiles and millisecond summaries.

Every figure the package prints or publishes (the node's /diagnostics latency window,
``fastdepth-ros infer`` timings, replay reports, ``fastdepth-ros bench``) uses these two
functions, so a "p95" means the same thing everywhere: numpy's default linear
interpolation between closest ranks.
"""

from __future__ import annotations

import math
from typing import Dict, Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated ``q``-th percentile (0-100) of ``values``; NaN when empty."""
    if not len(values):
        return math.nan
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summarize_ms(samples_ms: Sequence[float]) -> Dict[str, float]:
    """median / p90 / p95 / p99 / mean / min / max / n of milliseconds (only ``n`` when empty)."""
    if not len(samples_ms):
        return {"n": 0}
    a = np.asarray(samples_ms, dtype=np.float64)
    p50, p90, p95, p99 = np.percentile(a, [50, 90, 95, 99])
    return {
        "median": round(float(p50), 4),
        "p90": round(float(p90), 4),
        "p95": round(float(p95), 4),
        "p99": round(float(p99), 4),
        "mean": round(float(a.mean()), 4),
        "min": round(float(a.min()), 4),
        "max": round(float(a.max()), 4),
        "n": int(a.size),
    }
