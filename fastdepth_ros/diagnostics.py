"""Health bookkeeping for the depth node, pure Python (no ROS import at module level).

ROS's ``diagnostic_updater`` is the maintained library for this, but it is not installable
from PyPI here, so the two classes it is known for are re-done with the same semantics:

* :class:`FrequencyStatus` like ``diagnostic_updater.FrequencyStatus``: events are ticked;
  at each update the rate over a window of the last ``window_size`` updates is checked
  against ``[min_hz * (1 - tolerance), max_hz * (1 + tolerance)]``.  No events in the
  window -> ERROR "No events recorded."; below -> WARN "Frequency too low."; above ->
  WARN "Frequency too high.".
* :class:`TimeStampStatus` like ``diagnostic_updater.TimeStampStatus``: each tick records
  ``now - stamp``; at each update, a delay below ``min_acceptable_s`` (stamp in the
  future) -> ERROR "Timestamps too far in future seen.", above ``max_acceptable_s`` ->
  ERROR "Timestamps too far in past seen.", a zero stamp -> ERROR "Zero timestamp seen.",
  nothing ticked -> WARN "No data since last update.".  Counters reset every update.

Plus what diagnostic_updater has no class for: :class:`StageStats` (latency percentiles
over a sliding window), :class:`ErrorLatch` (an ERROR that stays visible for the update
window in which it happened) and :class:`LogThrottle` (per-kind log rate limiting that
counts what it suppressed).  Every class takes times as plain floats so it can be unit
tested with a fake clock.  :func:`to_ros` converts to ``diagnostic_msgs`` lazily.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Deque, Dict, Iterable, List, Optional, Tuple

from .stats import percentile

OK = 0
WARN = 1
ERROR = 2
STALE = 3
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR", STALE: "STALE"}


@dataclass
class Status:
    """One DiagnosticStatus worth of content; ``merge`` keeps the worst level's message."""

    name: str
    level: int = OK
    message: str = "OK"
    values: List[Tuple[str, str]] = field(default_factory=list)

    def add(self, key: str, value: object) -> None:
        if isinstance(value, float):
            value = "%.3f" % value if math.isfinite(value) else str(value)
        self.values.append((key, str(value)))

    def merge(self, level: int, message: str) -> None:
        """Raise the level; messages of equal worst level are joined like mergeSummary."""
        if level > self.level:
            self.level, self.message = level, message
        elif level == self.level and level != OK and message not in self.message:
            self.message = "%s; %s" % (self.message, message)

    def value(self, key: str) -> Optional[str]:
        for k, v in self.values:
            if k == key:
                return v
        return None


class FrequencyStatus:
    """Event rate over the last ``window_size`` updates (diagnostic_updater semantics)."""

    def __init__(
        self,
        min_hz: float,
        max_hz: float = math.inf,
        tolerance: float = 0.1,
        window_size: int = 5,
        now_s: float = 0.0,
    ) -> None:
        if window_size < 1:
            raise ValueError("window_size must be >= 1, got %d" % window_size)
        self.min_hz = float(min_hz)
        self.max_hz = float(max_hz)
        self.tolerance = float(tolerance)
        self._lock = threading.Lock()
        self._count = 0
        self._times: Deque[float] = deque([now_s] * window_size, maxlen=window_size)
        self._seqs: Deque[int] = deque([0] * window_size, maxlen=window_size)
        self.last_hz = 0.0

    def tick(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count

    def run(self, status: Status, now_s: float, prefix: str = "") -> float:
        """Add this window's result to ``status``; returns the measured rate in Hz."""
        with self._lock:
            count = self._count
            events = count - self._seqs[0]
            window_s = now_s - self._times[0]
            self._seqs.append(count)  # maxlen: drops the oldest, the window slides by one
            self._times.append(now_s)
        hz = events / window_s if window_s > 0 else 0.0
        self.last_hz = hz
        lo = self.min_hz * (1.0 - self.tolerance)
        hi = self.max_hz * (1.0 + self.tolerance)
        if events == 0:
            status.merge(ERROR, prefix + "No events recorded.")
        elif hz < lo:
            status.merge(WARN, prefix + "Frequency too low.")
        elif hz > hi:
            status.merge(WARN, prefix + "Frequency too high.")
        status.add(prefix + "Events in window", events)
        status.add(prefix + "Events since startup", count)
        status.add(prefix + "Duration of window (s)", window_s)
        status.add(prefix + "Actual frequency (Hz)", hz)
        if self.min_hz > 0:
            status.add(prefix + "Minimum acceptable frequency (Hz)", lo)
        if math.isfinite(self.max_hz):
            status.add(prefix + "Maximum acceptable frequency (Hz)", hi)
        return hz


class TimeStampStatus:
    """Delay ``now - header.stamp`` per update window (diagnostic_updater semantics)."""

    def __init__(self, min_acceptable_s: float = -1.0, max_acceptable_s: float = 5.0) -> None:
        self.min_acceptable_s = float(min_acceptable_s)
        self.max_acceptable_s = float(max_acceptable_s)
        self._lock = threading.Lock()
        self._reset()
        self.early_updates = 0  # update windows with a too-early stamp, since startup
        self.late_updates = 0
        self.zero_updates = 0

    def _reset(self) -> None:
        self._min_delta = math.inf
        self._max_delta = -math.inf
        self._early = self._late = self._zero = False
        self._valid = False

    def tick(self, stamp_s: float, now_s: float) -> float:
        """Record one stamp; returns the delay in seconds (NaN for a zero stamp)."""
        with self._lock:
            if stamp_s == 0.0:
                self._zero = True
                return math.nan
            delta = now_s - stamp_s
            self._valid = True
            self._min_delta = min(self._min_delta, delta)
            self._max_delta = max(self._max_delta, delta)
            if delta < self.min_acceptable_s:
                self._early = True
            if delta > self.max_acceptable_s:
                self._late = True
            return delta

    def run(self, status: Status) -> None:
        with self._lock:
            valid, early, late, zero = self._valid, self._early, self._late, self._zero
            lo, hi = self._min_delta, self._max_delta
            self._reset()
        self.early_updates += int(early)
        self.late_updates += int(late)
        self.zero_updates += int(zero)
        if not valid and not zero:
            status.merge(WARN, "No data since last update.")
        if early:
            status.merge(ERROR, "Timestamps too far in future seen.")
        if late:
            status.merge(ERROR, "Timestamps too far in past seen.")
        if zero:
            status.merge(ERROR, "Zero timestamp seen.")
        if valid:
            status.add("Earliest timestamp delay (s)", lo)
            status.add("Latest timestamp delay (s)", hi)
        status.add("Earliest acceptable timestamp delay (s)", self.min_acceptable_s)
        status.add("Latest acceptable timestamp delay (s)", self.max_acceptable_s)
        status.add("Late diagnostic update count", self.late_updates)
        status.add("Early diagnostic update count", self.early_updates)
        status.add("Zero seen diagnostic update count", self.zero_updates)


class StageStats:
    """Per-stage latency samples (ms) over the last ``window`` frames; p50 / p95 / max."""

    def __init__(self, stages: Iterable[str], window: int = 100) -> None:
        self.stages = list(stages)
        self._lock = threading.Lock()
        self._samples: Dict[str, Deque[float]] = {s: deque(maxlen=window) for s in self.stages}

    def add(self, timings_ms: Dict[str, float]) -> None:
        with self._lock:
            for name, value in timings_ms.items():
                if name not in self._samples:  # new stage names are accepted, not lost
                    self.stages.append(name)
                    self._samples[name] = deque(maxlen=self._samples[self.stages[0]].maxlen)
                self._samples[name].append(float(value))

    def summary(self) -> Dict[str, Tuple[float, float, float, int]]:
        """stage -> (p50, p95, max, samples)."""
        with self._lock:
            copies = {k: list(v) for k, v in self._samples.items()}
        return {
            k: (percentile(v, 50), percentile(v, 95), max(v) if v else math.nan, len(v))
            for k, v in copies.items()
        }

    def clear(self) -> None:
        with self._lock:
            for d in self._samples.values():
                d.clear()

    def run(self, status: Status, total_stage: str, max_ms: float) -> None:
        """Values per stage; WARN when ``total_stage``'s p95 exceeds ``max_ms`` (> 0)."""
        summary = self.summary()
        for name in self.stages:
            p50, p95, worst, n = summary[name]
            status.add("%s p50 (ms)" % name, p50)
            status.add("%s p95 (ms)" % name, p95)
            status.add("%s max (ms)" % name, worst)
        total = summary.get(total_stage)
        if total is not None:
            status.add("Samples in window", total[3])
            if max_ms > 0 and total[3] and total[1] > max_ms:
                status.merge(
                    WARN, "Latency too high (%s p95 %.1f ms > %.1f ms)." % (total_stage, total[1], max_ms)
                )


class ErrorLatch:
    """Remembers errors between updates so each one shows as ERROR for one update window.

    ``report`` may be called from any thread; ``run`` reports the latest message of the
    window (and how many there were), then clears; totals since startup stay.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window: Dict[str, int] = {}
        self._last = ""
        self.total = 0
        self.last_message = ""

    def report(self, message: str, kind: str = "error") -> None:
        with self._lock:
            self._window[kind] = self._window.get(kind, 0) + 1
            self._last = message
            self.total += 1
            self.last_message = message

    def run(self, status: Status, level: int = ERROR) -> None:
        with self._lock:
            window, last = self._window, self._last
            self._window, self._last = {}, ""
        if window:
            status.merge(level, last)
            for kind, n in sorted(window.items()):
                status.add("%s in window" % kind, n)
        status.add("Errors since startup", self.total)
        if self.last_message:
            status.add("Last error", self.last_message)


class LogThrottle:
    """Per-key log rate limit: the first occurrence logs at once, repeats at most every
    ``period_s``, with the number suppressed in between (so a 30 Hz bad stream does not
    flood the log, yet a new kind of problem is never hidden behind an old one)."""

    def __init__(self, period_s: float = 5.0, clock: Optional[Callable[[], float]] = None) -> None:
        import time

        self.period_s = float(period_s)
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._last: Dict[str, float] = {}
        self._suppressed: Dict[str, int] = {}

    def check(self, key: str) -> Optional[int]:
        """None when this occurrence must not be logged; else the count suppressed before."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._suppressed.pop(key, 0)


def to_ros(statuses: Iterable[Status], hardware_id: str, stamp) -> object:
    """Build a ``diagnostic_msgs/DiagnosticArray`` (imported lazily: ROS only here)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    array = DiagnosticArray()
    array.header.stamp = stamp
    for s in statuses:
        msg = DiagnosticStatus()
        msg.level = bytes([s.level])
        msg.name = s.name
        msg.message = s.message
        msg.hardware_id = hardware_id
        msg.values = [KeyValue(key=k, value=v) for k, v in s.values]
        array.status.append(msg)
    return array
