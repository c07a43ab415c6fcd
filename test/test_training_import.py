"""Official checkpoint import through the restricted unpickler, with test-written files."""

from __future__ import annotations

import os
import pickle
import sys
import types

import pytest
from deps import need

torch = need("torch")

from fastdepth_ros.training import checkpoint_import, model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _official_like(tmp_path, zipfile: bool):
    """Write a checkpoint shaped like dwofk/fast-depth's: {'model': models.MobileNetSkipAdd}."""
    fake = types.ModuleType("models")

    class MobileNetSkipAdd(torch.nn.Module):
        pass

    MobileNetSkipAdd.__module__ = "models"
    MobileNetSkipAdd.__qualname__ = "MobileNetSkipAdd"
    fake.MobileNetSkipAdd = MobileNetSkipAdd
    metrics = types.ModuleType("metrics")

    class Result:
        def __init__(self) -> None:
            self.rmse, self.delta1 = 0.6, 0.77

    Result.__module__ = "metrics"
    Result.__qualname__ = "Result"
    metrics.Result = Result
    sys.modules["models"], sys.modules["metrics"] = fake, metrics
    try:
        torch.manual_seed(0)
        src = model.build("pruned")
        for m in src.modules():  # non-trivial BN statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        official = MobileNetSkipAdd()
        for name, child in src.named_children():
            setattr(official, name, child)
        official.output_size = (224, 224)
        path = tmp_path / "mobilenet-nnconv5dw-skipadd-pruned.pth.tar"
        torch.save(
            {"epoch": 19, "model": official, "best_result": Result()},
            path,
            _use_new_zipfile_serialization=zipfile,
        )
    finally:
        del sys.modules["models"], sys.modules["metrics"]
    return path, src.eval()


@pytest.mark.filterwarnings("ignore:Couldn.t retrieve source code")
@pytest.mark.parametrize("zipfile", [True, False])
def test_import_official_checkpoint(tmp_path, zipfile: bool) -> None:
    path, src = _official_like(tmp_path, zipfile)
    assert "models" not in sys.modules
    imported, meta = checkpoint_import.import_official(path)
    assert meta["epoch"] == 19
    assert meta["config"]["encoder_widths"] == list(model.PRUNED.encoder)
    assert meta["config"]["decoder_widths"] == list(model.PRUNED.decoder)
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(imported(x), src(x), atol=1e-6)


def test_saved_import_reloads(tmp_path) -> None:
    from fastdepth_ros.training.train import load_model

    path, src = _official_like(tmp_path, True)
    imported, meta = checkpoint_import.import_official(path)
    out = tmp_path / "ours.pth"
    checkpoint_import.save_ours(imported, out, meta)
    reloaded, _ = load_model(out)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(reloaded(x), src(x), atol=1e-6)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_malicious_global_is_rejected(tmp_path) -> None:
    path = tmp_path / "evil.pth.tar"
    torch.save({"epoch": 1, "model": _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        checkpoint_import.load_official(path)


def test_unknown_class_is_rejected(tmp_path) -> None:
    path = tmp_path / "other.pth.tar"
    torch.save({"model": torch.nn.LSTM(2, 2)}, path)
    with pytest.raises(pickle.UnpicklingError, match="LSTM"):
        checkpoint_import.load_official(path)
