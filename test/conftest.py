"""Shared fixtures: the shipped model, and the read-only data in ../shared (reference,
realdata, pretrained).

Tests that only need *a* model use the shipped ``models/fastdepth.onnx``, so a contributor
without ../shared runs them.  Only accuracy and reference-parity tests use the reference
data; they skip with the reason when it is absent, except under CI (env ``CI`` set), where
its absence is a failure: CI always has ../shared beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _require(path: Path) -> Path:
    if not path.exists():
        message = "reference data missing: %s (set FASTDEPTH_REFERENCE_DIR)" % path
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config) -> None:
    """Stop early when a sourced ROS 2 shell shadows this venv's rclpy: the ROS tests would
    otherwise all skip as "rclpy not installed" (scripts/test.sh drops that environment)."""
    import importlib.util
    import sys

    # the package has no default reference folder (resources.reference_dir): the tests name
    # theirs, ../shared/reference beside the checkout unless FASTDEPTH_REFERENCE_DIR says otherwise
    reference = _shared("FASTDEPTH_REFERENCE_DIR", "reference")
    if reference.is_dir():
        os.environ.setdefault("FASTDEPTH_REFERENCE_DIR", str(reference))
    if sys.prefix == sys.base_prefix:
        return  # not a venv: apt ROS + colcon, where /opt/ros's rclpy is the right one
    spec = importlib.util.find_spec("rclpy")
    own = list(Path(sys.prefix, "lib").glob("python3*/site-packages/rclpy/__init__.py"))
    if spec is not None and spec.origin and own and Path(spec.origin).resolve() != own[0].resolve():
        raise pytest.UsageError(
            "rclpy is imported from %s, not from this venv (%s): a sourced ROS 2 setup.bash put it "
            "on PYTHONPATH. Run ./scripts/test.sh, or open a shell without /opt/ros sourced."
            % (Path(spec.origin).parent, sys.prefix))


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    """The model the package ships (and the node loads by default)."""
    path = REPO / "models" / "fastdepth.onnx"
    assert path.is_file(), "the shipped model %s is missing" % path
    return path


@pytest.fixture(scope="session")
def reference() -> Path:
    """The official model and NYU sample (FASTDEPTH_REFERENCE_DIR, default ../shared/reference)."""
    return _require(_shared("FASTDEPTH_REFERENCE_DIR", "reference"))


@pytest.fixture(scope="session")
def reference_model(reference: Path) -> Path:
    return _require(reference / "fastdepth_pruned_ref.onnx")


@pytest.fixture(scope="session")
def official_sample(reference: Path) -> Path:
    return _require(reference / "official_sample")


def _shared(env: str, name: str) -> Path:
    """``$env`` or ``../shared/<name>`` beside the checkout (as CI lays it out)."""
    value = os.environ.get(env)
    checkout = Path(__file__).resolve().parent.parent
    return Path(value) if value else (checkout / ".." / "shared" / name).resolve()


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Real RGB-D folders (FASTDEPTH_REALDATA_DIR, default ../shared/realdata)."""
    return _require(_shared("FASTDEPTH_REALDATA_DIR", "realdata"))


@pytest.fixture(scope="session")
def imagenet_npz() -> Path:
    """ImageNet MobileNet-v1 weights (FASTDEPTH_PRETRAINED_DIR, default ../shared/pretrained)."""
    return _require(_shared("FASTDEPTH_PRETRAINED_DIR", "pretrained") / "mobilenet_v1_1.0_224_imagenet.npz")


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
