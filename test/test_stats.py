"""stats.py: the one percentile convention (linear between closest ranks) used everywhere."""

from __future__ import annotations

import math

import pytest

from fastdepth_ros.stats import percentile, summarize_ms


def test_percentile_interpolates_between_ranks() -> None:
    values = [5.0, 1.0, 9.0, 3.0]  # sorted: 1 3 5 9
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 9.0
    assert percentile(values, 50) == pytest.approx(4.0)  # halfway between 3 and 5
    assert percentile(values, 90) == pytest.approx(5.0 + 0.7 * 4.0)  # rank 2.7 of 0..3
    assert math.isnan(percentile([], 50))


def test_summarize_ms_fields_and_empty() -> None:
    s = summarize_ms(list(range(1, 102)))  # 1..101 ms: every percentile lands on a sample
    assert (s["median"], s["p90"], s["p95"], s["p99"]) == (51.0, 91.0, 96.0, 100.0)
    assert (s["min"], s["max"], s["mean"], s["n"]) == (1.0, 101.0, 51.0, 101)
    assert summarize_ms([]) == {"n": 0}
