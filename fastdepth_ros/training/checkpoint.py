"""Our training checkpoints: model weights + constructor config (+ optimiser, step, run config).

Weights-only unpickling (``torch.load(weights_only=True)``) everywhere, so loading a checkpoint
never runs code; the model is rebuilt from its stored constructor arguments.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from .model import FastDepth, from_config


def save_model(path: str | Path, model: FastDepth, **info) -> None:
    """Atomically write the weights and constructor config (what ``export`` and ``eval``
    read), with ``info`` beside them (optimiser, step, run config, provenance)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "model_config": model.config(), **info}, tmp)
    tmp.replace(path)


def save_checkpoint(path: Path, model: FastDepth, opt: torch.optim.Optimizer, step: int, cfg) -> None:
    """A resumable training checkpoint: model, optimiser, step and the run's TrainConfig."""
    save_model(path, model, optimizer=opt.state_dict(), step=step, train_config=asdict(cfg))


def load_model(path: str | Path) -> tuple[FastDepth, dict]:
    """A model from one of our checkpoints (weights-only unpickling: no code runs)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = from_config(ckpt["model_config"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def load_weights(path: str | Path) -> FastDepth:
    """A model from our ``.pth`` checkpoint or from an exported ``.onnx`` (:mod:`.onnx_weights`)."""
    if str(path).endswith(".onnx"):
        from .onnx_weights import load_onnx

        return load_onnx(path)
    return load_model(path)[0]


def interpolate(start: str | Path, tuned: str | Path, alpha: float) -> FastDepth:
    """Weight-space ensemble of a fine-tune and its start (WiSE-FT, Wortsman et al., CVPR 2022):
    ``(1 - alpha) * start + alpha * tuned``, tensor by tensor.

    Why: fine-tuning on a few rooms gains there and forgets elsewhere; the interpolation of a
    model with its own fine-tune keeps most of both (the paper's default is alpha = 0.5).  Both
    must have the same widths, and the same BatchNorm statistics (a ``--frozen-bn`` fine-tune)
    so that the mixture is of like parameters."""
    a, b = load_weights(start), load_weights(tuned)
    if a.config() != b.config():
        raise ValueError(f"{start} and {tuned} differ in architecture: {a.config()} vs {b.config()}")
    return mix(a, b, alpha, into=a)


def mix(start: FastDepth, tuned: FastDepth, alpha: float, into: FastDepth | None = None) -> FastDepth:
    """:func:`interpolate` of two models already in memory (same architecture): the mixture's
    weights loaded ``into`` a model (default: a copy of ``start``, which stays as it was, so
    one start can be mixed at several alphas)."""
    import copy

    sa, sb = start.state_dict(), tuned.state_dict()
    mixed = {k: (1.0 - alpha) * va + alpha * sb[k] if va.is_floating_point() else sb[k]
             for k, va in sa.items()}
    out = into if into is not None else copy.deepcopy(start)
    out.load_state_dict(mixed)
    return out.eval()

