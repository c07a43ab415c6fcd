"""Train FastDepth on rendered indoor scenes with the paper's recipe.

Recipe (Wofk et al. 2019, Sec. IV-A; official ``main.py``): L1 loss over pixels with valid
ground truth, SGD momentum 0.9, weight decay 1e-4, learning rate 0.01, batch 8, the official
augmentations (see :mod:`.data`).  Schedule: linear warm-up then cosine decay to zero over
``steps`` (ours; the paper trains 20 NYU epochs with its own decay).

Why steps instead of epochs: the training set grows while a background process renders it,
so an "epoch" is one pass over the frames cached when it starts.  Checkpoints hold model,
optimiser, step and config, so a killed run resumes where it stopped (a resumed run starts a
fresh pass over the data).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import data
from .model import FastDepth, build, from_config
from .progress import Progress


@dataclass
class TrainConfig:
    """Everything that defines a run (stored in every checkpoint)."""

    preset: str = "pruned"
    steps: int = 4000
    batch_size: int = 8
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    scenes: int = 12000  # upper bound of training seeds; fewer are used until rendered
    min_scenes: int = 64  # below this many cached frames, render on demand
    workers: int = 1
    render_workers: int = 0  # background processes that render training scenes meanwhile
    threads: int = 1
    seed: int = 0
    checkpoint_dir: str = ""
    checkpoint_every: int = 100
    eval_every: int = 250
    eval_scenes: int = 50
    export_path: str = ""  # if set, export ONNX + model card at every evaluation
    log_path: str = ""  # JSON lines of evaluations


def masked_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |pred - target| over pixels with valid (> 0) ground truth, as the official loss."""
    valid = target > 0
    return (pred - target).abs()[valid].mean()


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))


def default_checkpoint_dir() -> Path:
    return data.cache_root() / "runs" / "default"


def save_checkpoint(
    path: Path, model: FastDepth, opt: torch.optim.Optimizer, step: int, cfg: TrainConfig
) -> None:
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


def _cached_count(cfg: TrainConfig) -> int:
    """Frames cached contiguously from seed 0 (what the background renderer has finished)."""
    n = cfg.min_scenes
    while n < cfg.scenes and data.is_cached(n):
        n += 1
    return n


def start_renderers(cfg: TrainConfig) -> list:
    """``cfg.render_workers`` processes rendering seeds ``cfg.min_scenes .. cfg.scenes-1``
    (interleaved), so the training set grows while the model trains; a fresh machine needs
    this, or a prior ``fastdepth-ros render``, to train on more than ``cfg.min_scenes`` scenes.
    The first ``min_scenes`` the data loader renders itself on first use."""
    return data.start_renderers(cfg.min_scenes, max(0, cfg.scenes - cfg.min_scenes), cfg.render_workers)


def evaluate_torch(model: FastDepth, n_scenes: int) -> dict[str, float]:
    """Mean metrics on the first ``n_scenes`` held-out rendered scenes (val transform)."""
    from ..metrics import MetricsAccumulator, compute_metrics

    acc = MetricsAccumulator()
    model.eval()
    with torch.no_grad():
        for i in range(n_scenes):
            rgb, depth = data.load_or_render(data.HELDOUT_SEED0 + i)
            x, d = data.transform(rgb, depth, None)
            pred = model(x[None])[0, 0].numpy()
            acc.add(compute_metrics(pred, d[0].numpy()))
    model.train()
    return acc.mean().as_dict()


def train(cfg: TrainConfig, resume: bool = True, on_eval=None) -> Path:
    """Run (or resume) training; returns the checkpoint path.  ``on_eval(model, step,
    metrics)`` is called after each evaluation (used to export the shipped model)."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else default_checkpoint_dir()
    last = ckpt_dir / "last.pth"
    model = build(cfg.preset)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    step = 0
    if resume and last.exists():
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
        model = from_config(ckpt["model_config"])
        opt = torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step = int(ckpt["step"])
        print(f"resumed from {last} at step {step}", flush=True)
    model.train()
    log = Path(cfg.log_path) if cfg.log_path else ckpt_dir / "eval.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)

    renderers = start_renderers(cfg)
    try:
        _train_loop(cfg, model, opt, step, last, log, on_eval)
    finally:
        data.stop_renderers(renderers)
    return last


def _train_loop(
    cfg: TrainConfig,
    model: FastDepth,
    opt: torch.optim.Optimizer,
    step: int,
    last: Path,
    log: Path,
    on_eval,
) -> None:
    """The step loop; each pass over the data re-reads how many scenes are cached."""
    epoch = 0
    with Progress(cfg.steps, "train", start=step) as bar:
        while step < cfg.steps:
            ds = data.RenderedScenes(0, _cached_count(cfg), train=True)
            ds.epoch = epoch
            gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch + step)
            loader = torch.utils.data.DataLoader(
                ds,
                batch_size=cfg.batch_size,
                shuffle=True,
                generator=gen,
                drop_last=True,
                num_workers=cfg.workers,
                persistent_workers=False,
            )
            t_data = time.monotonic()
            for x, d in loader:
                for group in opt.param_groups:
                    group["lr"] = lr_at(step, cfg)
                wait_s = time.monotonic() - t_data
                loss = masked_l1(model(x), d)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                bar.update(1, loss=loss.item(), lr=lr_at(step - 1, cfg), scenes=len(ds), wait_s=wait_s)
                if not math.isfinite(loss.item()):
                    raise FloatingPointError(f"loss became {loss.item()} at step {step}")
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    save_checkpoint(last, model, opt, step, cfg)
                if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
                    metrics = evaluate_torch(model, cfg.eval_scenes)
                    record = {"step": step, "time": time.time(), "loss": loss.item(), **metrics}
                    with log.open("a") as f:
                        f.write(json.dumps(record) + "\n")
                    print(f"eval step {step}: " + json.dumps(record), flush=True)
                    if on_eval is not None:
                        on_eval(model, step, metrics)
                if step >= cfg.steps:
                    break
                t_data = time.monotonic()
            epoch += 1
    save_checkpoint(last, model, opt, step, cfg)
