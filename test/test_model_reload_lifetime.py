"""Issue 23 fault 1, at the loader: a request to a stopped ModelReloader is refused, never
queued (a queued request nobody takes read "about to load ..." forever while model_path
named a model that never ran).  The node's side: test/test_lifecycle_ros.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fastdepth_ros.model_reload import LoaderStopped, ModelReloader


def test_a_stopped_loader_refuses_requests_and_says_it_is_stopped() -> None:
    loads = []
    reloader = ModelReloader(lambda path: loads.append(path) or SimpleNamespace(model_path=path),
                             lambda outcome: None)
    reloader.stop()
    assert not reloader.alive
    with pytest.raises(LoaderStopped, match="/m/new.onnx"):
        reloader.request("/m/new.onnx")
    assert not reloader.busy
    assert reloader.state() == "stopped"
    assert loads == []

