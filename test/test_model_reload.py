"""ModelReloader: loads off the caller's thread, newest request wins, every outcome reported."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import List

from fastdepth_ros.model_reload import ModelReloader, ReloadOutcome


def _wait(event: threading.Event) -> None:
    assert event.wait(5.0)


def test_request_returns_at_once_and_the_outcome_arrives_later() -> None:
    started = threading.Event()
    release = threading.Event()
    done: List[ReloadOutcome] = []
    finished = threading.Event()

    def load(path: str) -> object:
        started.set()
        release.wait(5.0)
        return SimpleNamespace(model_path=path)

    reloader = ModelReloader(load, lambda o: (done.append(o), finished.set()))
    try:
        assert reloader.state() == "none since start-up"
        reloader.request("/m/a.onnx")
        assert reloader.busy and not done  # request() does not wait for the load
        assert reloader.state().startswith(("about to load /m/a.onnx", "loading /m/a.onnx"))
        _wait(started)
        assert reloader.state().startswith("loading /m/a.onnx")
        release.set()
        _wait(finished)
        assert done[0].engine.model_path == "/m/a.onnx" and not done[0].error
        assert not reloader.busy
        assert reloader.state().startswith("loaded /m/a.onnx")
    finally:
        reloader.stop()
    assert not reloader.alive


def test_a_failure_is_an_outcome_and_newer_requests_replace_waiting_ones() -> None:
    started = threading.Event()
    release = threading.Event()
    loaded: List[str] = []
    outcomes: List[ReloadOutcome] = []
    all_done = threading.Event()

    def load(path: str) -> object:
        loaded.append(path)
        started.set()
        release.wait(5.0)
        if path.endswith("bad"):
            raise RuntimeError("cannot load %s" % path)
        return SimpleNamespace(model_path=path)

    def on_done(outcome: ReloadOutcome) -> None:
        outcomes.append(outcome)
        if outcome.request == "c":
            all_done.set()

    reloader = ModelReloader(load, on_done)
    try:
        reloader.request("a-bad")
        _wait(started)
        reloader.request("b")  # replaced before it starts
        reloader.request("c")
        release.set()
        _wait(all_done)
        assert loaded == ["a-bad", "c"]
        assert outcomes[0].error == "cannot load a-bad" and outcomes[0].superseded
        assert outcomes[1].engine.model_path == "c" and not outcomes[1].superseded
        assert not reloader.busy
    finally:
        reloader.stop()
