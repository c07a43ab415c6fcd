"""Load a new model off the executor thread while the current one keeps serving.

Why a thread of its own: building an ONNX Runtime session and warming it up takes from a
fraction of a second (CPU) to minutes (a TensorRT engine build).  Done inside the
parameter callback, that time blocks the executor: no image is received, ``/diagnostics``
stalls and the parameter service does not answer.  Here the callback only hands the path
over; one loader thread builds the engine, and the caller is told the outcome through the
``on_done`` callback (the node logs it, reports it in the engine diagnostic and, on
failure, puts ``model_path`` back to the model that still runs).

Requests replace each other like frames in the node's slot: while one model loads, only
the newest further request is kept.  A stopped loader refuses requests
(:class:`LoaderStopped`) instead of queueing them where no thread will ever take them: the
caller must be able to tell its user "not loaded" rather than read back a path that never
runs.  Nothing here imports ROS.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .latest import LatestSlot


class LoaderStopped(RuntimeError):
    """A request to a loader that was stopped: nothing will load it."""


@dataclass
class ReloadOutcome:
    """What one request came to: ``engine`` on success, else ``error`` (the reason)."""

    request: str  # the model_path parameter value as requested ("" = the package's model)
    engine: Any = None
    error: str = ""
    duration_s: float = 0.0
    superseded: bool = False  # a newer request was waiting when this one finished


class ModelReloader:
    """One daemon thread that runs ``load(request)`` for each request, newest first."""

    def __init__(self, load: Callable[[str], Any], on_done: Callable[[ReloadOutcome], None],
                 name: str = "fastdepth_model_loader") -> None:
        self._load = load
        self._on_done = on_done
        self._requests: LatestSlot[str] = LatestSlot()
        self._lock = threading.Lock()
        self._loading: Optional[str] = None
        self._started_s = 0.0
        self._finished = 0  # requests taken from the slot and done
        self._wanted = ""  # the newest request
        self._stopped = False
        self.last: Optional[ReloadOutcome] = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self, model_path: str) -> None:
        """Queue ``model_path`` for loading (replacing a request not yet started).

        Raises :class:`LoaderStopped` once :meth:`stop` was called (checked under the lock
        that ``stop`` takes, so a request cannot slip in between)."""
        with self._lock:
            if self._stopped:
                raise LoaderStopped("the model loader is stopped (node not configured); not loading %s"
                                    % (model_path or "the package's model"))
            self._wanted = model_path
            self._requests.put(model_path)

    @property
    def busy(self) -> bool:
        """A load is running or waiting (requests made minus those replaced unstarted or
        finished; counted so there is no gap between a request leaving the slot and its
        load starting).  False once stopped: nothing more will finish."""
        dropped = self._requests.dropped_count
        with self._lock:
            return not self._stopped and self._requests.put_count - dropped > self._finished

    def state(self, now_s: Optional[float] = None) -> str:
        """One line for diagnostics: what is loading (and for how long) or the last outcome."""
        now_s = time.monotonic() if now_s is None else now_s
        busy = self.busy
        with self._lock:
            loading, started, last, wanted = self._loading, self._started_s, self.last, self._wanted
            stopped = self._stopped
        if stopped:
            return "stopped"
        if loading is not None:
            return "loading %s (%.1f s so far)" % (loading or "the package's model", now_s - started)
        if busy:
            return "about to load %s" % (wanted or "the package's model")
        if last is None:
            return "none since start-up"
        if last.engine is not None:
            return "loaded %s in %.1f s" % (last.engine.model_path, last.duration_s)
        return "failed after %.1f s: %s" % (last.duration_s, last.error)

    def _run(self) -> None:
        while True:
            request = self._requests.take(timeout_s=None)
            if request is None:  # closed
                return
            with self._lock:
                self._loading, self._started_s = request, time.monotonic()
            outcome = ReloadOutcome(request)
            try:
                outcome.engine = self._load(request)
            except Exception as exc:  # any load failure is reported, never raised
                outcome.error = str(exc) or repr(exc)
            outcome.duration_s = time.monotonic() - self._started_s
            if self._requests.closed:
                return
            outcome.superseded = len(self._requests) > 0
            with self._lock:
                self._loading = None
                self.last = outcome
                self._finished += 1
            self._on_done(outcome)

    def stop(self, timeout_s: float = 5.0) -> None:
        """No further loads; waits up to ``timeout_s`` for a running one (an ORT session
        build cannot be interrupted; the thread is a daemon and dies with the process).
        Later requests raise :class:`LoaderStopped`."""
        with self._lock:
            self._stopped = True
        self._requests.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
