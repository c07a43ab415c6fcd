"""Shared fixtures: the read-only reference data in ../shared/reference.

Tests that need it skip with the reason when it is absent, except under CI (env ``CI``
set), where its absence is a failure: CI always has ../shared beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fastdepth_ros.resources import reference_dir


def _require(path: Path) -> Path:
    if not path.exists():
        message = "reference data missing: %s (set FASTDEPTH_REFERENCE_DIR)" % path
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def reference() -> Path:
    return _require(reference_dir())


@pytest.fixture(scope="session")
def reference_model(reference: Path) -> Path:
    return _require(reference / "fastdepth_pruned_ref.onnx")


@pytest.fixture(scope="session")
def official_sample(reference: Path) -> Path:
    return _require(reference / "official_sample")


@pytest.fixture
def one_torch_thread():
    """Torch on one intra-op thread for the test: two threads on a loaded 2-core CI box spin
    more than they work.  A no-op without torch (the training CLI registers without it)."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
