"""Import official FastDepth checkpoints (``mobilenet-nnconv5dw-skipadd[-pruned].pth.tar``).

The official files are ``torch.save`` of a dict whose ``model`` is a whole pickled
``models.MobileNetSkipAdd`` (plus ``epoch``, ``best_result``, maybe ``args``/``optimizer``).
Unpickling that normally imports the official repository's code and, like any pickle, can
run arbitrary callables.  So a restricted unpickler resolves only an allowlist: torch's own
tensor-rebuild helpers and the plain ``torch.nn`` layers the model is made of; the official
names (``models.MobileNetSkipAdd``, ``metrics.Result``, ``argparse.Namespace``, the
optimizer) map onto inert stand-ins in this module; every other global (``os.system``,
``builtins.eval``, ...) raises :class:`pickle.UnpicklingError`.  The weights then go through
a normal ``state_dict`` load into :class:`~.model.FastDepth`, with widths read from tensor
shapes, so pruned and unpruned checkpoints both import.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import save_model
from .model import FastDepth


class OfficialMobileNetSkipAdd(nn.Module):
    """Stand-in for ``models.MobileNetSkipAdd``: only holds the unpickled submodules."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - never run
        raise RuntimeError("stand-in for the official class; load its state_dict instead")


class OfficialDataParallel(OfficialMobileNetSkipAdd):
    """Stand-in for ``torch.nn.DataParallel`` wrappers around the model."""


class Inert:
    """Stand-in for non-model objects in the checkpoint (``metrics.Result``, argparse
    ``Namespace``, optimiser): keeps the pickled state as plain data, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state


#: (module, name) -> object.  Official code names map to stand-ins; torch internals and
#: torch.nn layer classes are allowed as themselves.
_MAPPED: dict[tuple[str, str], Any] = {
    ("models", "MobileNetSkipAdd"): OfficialMobileNetSkipAdd,
    ("torch.nn.parallel.data_parallel", "DataParallel"): OfficialDataParallel,
    ("metrics", "Result"): Inert,
    ("argparse", "Namespace"): Inert,
    ("torch.optim.sgd", "SGD"): Inert,
    ("torch.optim.adam", "Adam"): Inert,
    ("torch.optim.optimizer", "_RequiredParameter"): Inert,
}
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,  # protocol-2 pickles spell builtins this way
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("torch.nn.modules.conv", "Conv2d"): nn.Conv2d,
    ("torch.nn.modules.batchnorm", "BatchNorm2d"): nn.BatchNorm2d,
    ("torch.nn.modules.activation", "ReLU"): nn.ReLU,
    ("torch.nn.modules.activation", "ReLU6"): nn.ReLU6,
    ("torch.nn.modules.container", "Sequential"): nn.Sequential,
    ("torch.nn.modules.pooling", "AvgPool2d"): nn.AvgPool2d,
    ("torch.nn.modules.linear", "Linear"): nn.Linear,
}
for _name in ("Float", "Double", "Half", "Long", "Int", "Byte", "Bool"):
    _ALLOWED[("torch", f"{_name}Storage")] = getattr(torch, f"{_name}Storage")


def _numpy_allowed() -> dict[tuple[str, str], Any]:
    """numpy scalars/dtypes appear in ``best_result``; their rebuilders only build values."""
    import numpy as np

    out: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "scalar")] = np._core.multiarray.scalar  # type: ignore[attr-defined]
    out[("numpy", "dtype")] = np.dtype
    return out


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only allowlisted globals (see module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _MAPPED:
            return _MAPPED[key]
        if key in _ALLOWED:
            return _ALLOWED[key]
        numpy_ok = _numpy_allowed()
        if key in numpy_ok:
            return numpy_ok[key]
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a checkpoint")


class restricted_pickle:  # noqa: N801 - used as a module object by torch.load
    """The ``pickle_module`` handed to ``torch.load``."""

    Unpickler = RestrictedUnpickler
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def load(f, **kwargs: Any) -> Any:
        return RestrictedUnpickler(f, **kwargs).load()


def load_official(path: str | Path) -> dict:
    """The checkpoint dict, unpickled with the allowlist (raises UnpicklingError otherwise)."""
    obj = torch.load(path, map_location="cpu", pickle_module=restricted_pickle, weights_only=False)
    if isinstance(obj, nn.Module):
        obj = {"model": obj}
    if not isinstance(obj, dict) or "model" not in obj:
        raise ValueError(f"{path}: expected a dict with a 'model' entry")
    return obj


def official_state_dict(model: nn.Module | dict) -> dict[str, torch.Tensor]:
    """The weights of an unpickled official model (or a state_dict), ``module.`` stripped."""
    sd = model.state_dict() if isinstance(model, nn.Module) else dict(model)
    return {k.removeprefix("module."): v for k, v in sd.items()}


def widths_from_state_dict(sd: dict[str, torch.Tensor]) -> dict:
    """FastDepth constructor arguments implied by official tensor shapes."""
    encoder = [sd["conv0.0.weight"].shape[0]] + [sd[f"conv{i}.3.weight"].shape[0] for i in range(1, 14)]
    decoder = [sd[f"decode_conv{s}.1.0.weight"].shape[0] for s in range(1, 6)]
    return {
        "encoder_widths": [int(c) for c in encoder],
        "decoder_widths": [int(c) for c in decoder],
        "upsample": "nnconv",
        "depthwise": True,
        "skip": "add",
        "decoder_kernel": int(sd["decode_conv1.0.0.weight"].shape[-1]),
    }


def import_official(path: str | Path) -> tuple[FastDepth, dict]:
    """Our :class:`FastDepth` with an official checkpoint's weights, and metadata."""
    ckpt = load_official(path)
    sd = official_state_dict(ckpt["model"])
    config = widths_from_state_dict(sd)
    model = FastDepth(**config)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # checkpoints from PyTorch < 0.4.1 have no BN ``num_batches_tracked`` counters
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match FastDepth: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    epoch = ckpt.get("epoch")
    meta = {
        "source": Path(path).name,
        "epoch": int(epoch) if isinstance(epoch, int) else None,
        "config": config,
    }
    return model.eval(), meta


def save_ours(model: FastDepth, path: str | Path, meta: dict) -> None:
    """Save in our weights-only checkpoint format (loadable by ``train.load_model``)."""
    save_model(path, model, step=0, imported=meta)
