"""Our training checkpoints: model weights + constructor config (+ optimiser, step, run config).

Weights-only unpickling (``torch.load(weights_only=True)``) everywhere, so loading a checkpoint
never runs code; the model is rebuilt from its stored constructor arguments.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from .model import FastDepth, from_config


def save_checkpoint(path: Path, model: FastDepth, opt: torch.optim.Optimizer, step: int, cfg) -> None:
    """Atomically write model, optimiser, step and the run's TrainConfig (a dataclass)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "model_config": model.config(),
            "optimizer": opt.state_dict(),
            "step": step,
            "train_config": asdict(cfg),
        },
        tmp,
    )
    tmp.replace(path)


def load_model(path: str | Path) -> tuple[FastDepth, dict]:
    """A model from one of our checkpoints (weights-only unpickling: no code runs)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = from_config(ckpt["model_config"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt
