"""diagnostics.py follows diagnostic_updater's FrequencyStatus / TimeStampStatus semantics."""

from __future__ import annotations

import math

import pytest

from fastdepth_ros.diagnostics import (
    ERROR,
    OK,
    WARN,
    ErrorLatch,
    FrequencyStatus,
    LogThrottle,
    StageStats,
    Status,
    TimeStampStatus,
)


def _freq_run(fs: FrequencyStatus, now: float) -> Status:
    st = Status("rate")
    fs.run(st, now)
    return st


def test_frequency_no_events_is_error() -> None:
    fs = FrequencyStatus(10.0, tolerance=0.1, window_size=5)
    st = _freq_run(fs, 1.0)
    assert st.level == ERROR and st.message == "No events recorded."


def test_frequency_ok_low_high() -> None:
    fs = FrequencyStatus(10.0, 20.0, tolerance=0.1, window_size=3)
    for _ in range(10):
        fs.tick()
    st = _freq_run(fs, 1.0)  # 10 events over 1 s: exactly min -> OK
    assert st.level == OK, st.message
    assert float(st.value("Actual frequency (Hz)")) == pytest.approx(10.0)
    for _ in range(5):
        fs.tick()
    st = _freq_run(fs, 2.0)  # window now spans 0..2 s with 15 events -> 7.5 Hz < 9 Hz
    assert st.level == WARN and st.message == "Frequency too low."
    for _ in range(100):
        fs.tick()
    st = _freq_run(fs, 3.0)  # window 0..3 s: 115 events -> 38 Hz > 22 Hz
    assert st.level == WARN and st.message == "Frequency too high."
    st = _freq_run(fs, 4.0)  # window slid to 1..4 s: 105 events / 3 s
    assert float(st.value("Duration of window (s)")) == pytest.approx(3.0)
    assert int(st.value("Events in window")) == 105
    assert int(st.value("Events since startup")) == 115


def test_frequency_window_forgets_old_events() -> None:
    fs = FrequencyStatus(1.0, window_size=2)
    for _ in range(5):
        fs.tick()
    assert _freq_run(fs, 1.0).level == OK
    assert _freq_run(fs, 2.0).level == OK  # window 0..2 still contains the 5 events
    assert _freq_run(fs, 3.0).message == "No events recorded."  # window 1..3: none


def test_timestamp_status_levels_and_reset() -> None:
    ts = TimeStampStatus(min_acceptable_s=-1.0, max_acceptable_s=0.5)
    st = Status("age")
    ts.run(st)
    assert st.level == WARN and st.message == "No data since last update."

    assert ts.tick(99.9, 100.0) == pytest.approx(0.1)
    st = Status("age")
    ts.run(st)
    assert st.level == OK
    assert float(st.value("Latest timestamp delay (s)")) == pytest.approx(0.1)

    ts.tick(90.0, 100.0)
    st = Status("age")
    ts.run(st)
    assert st.level == ERROR and "too far in past" in st.message
    assert st.value("Late diagnostic update count") == "1"

    ts.tick(105.0, 100.0)
    st = Status("age")
    ts.run(st)
    assert st.level == ERROR and "too far in future" in st.message

    assert math.isnan(ts.tick(0.0, 100.0))
    st = Status("age")
    ts.run(st)
    assert st.level == ERROR and "Zero timestamp" in st.message

    ts.tick(99.8, 100.0)  # the counters reset every update: good again
    st = Status("age")
    ts.run(st)
    assert st.level == OK


def test_stage_stats_window_and_latency_warning() -> None:
    stats = StageStats(["inference", "total"], window=4)
    for v in (100.0, 100.0, 10.0, 10.0, 10.0, 10.0):
        stats.add({"inference": v, "total": v + 1.0})
    p50, p95, worst, n = stats.summary()["inference"]
    assert (p50, worst, n) == (10.0, 10.0, 4)  # the two slow ones slid out of the window
    st = Status("latency")
    stats.run(st, "total", max_ms=50.0)
    assert st.level == OK and st.value("inference p95 (ms)") == "10.000"
    stats.add({"inference": 500.0, "total": 501.0, "publish": 1.0})
    st = Status("latency")
    stats.run(st, "total", max_ms=50.0)
    assert st.level == WARN and "Latency too high" in st.message
    assert st.value("publish max (ms)") == "1.000"


def test_error_latch_shows_error_for_one_window() -> None:
    latch = ErrorLatch()
    st = Status("input")
    latch.run(st)
    assert st.level == OK
    latch.report("short buffer: got 10 bytes", kind="decode")
    latch.report("unsupported encoding 'xyz'", kind="decode")
    st = Status("input")
    latch.run(st)
    assert st.level == ERROR and "unsupported encoding" in st.message
    assert st.value("decode in window") == "2"
    st = Status("input")
    latch.run(st)
    assert st.level == OK and st.value("Errors since startup") == "2"


def test_status_merge_keeps_worst_and_joins_equal() -> None:
    st = Status("x")
    st.merge(WARN, "a")
    st.merge(OK, "fine")
    st.merge(WARN, "b")
    assert st.level == WARN and st.message == "a; b"
    st.merge(ERROR, "c")
    assert st.level == ERROR and st.message == "c"


def test_log_throttle_per_key() -> None:
    now = [0.0]
    th = LogThrottle(5.0, clock=lambda: now[0])
    assert th.check("a") == 0
    assert th.check("a") is None
    assert th.check("b") == 0  # another kind is not hidden
    now[0] = 6.0
    assert th.check("a") == 1  # one suppressed in between


def test_module_imports_without_ros() -> None:
    import subprocess
    import sys

    code = (
        "import sys, fastdepth_ros.diagnostics, fastdepth_ros.latest;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('rclpy','diagnostic_msgs','sensor_msgs')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
