"""Train FastDepth: the paper's recipe on rendered scenes and real RGB-D folders.

Recipe (Wofk et al. 2019, Sec. IV-A; official ``main.py``): L1 loss over pixels with valid
ground truth, SGD momentum 0.9, weight decay 1e-4, learning rate 0.01, batch 8, the official
augmentations (see :mod:`.data`, :mod:`.folders`).  Schedule: linear warm-up then cosine
decay to zero over ``steps`` (ours; the paper trains 20 NYU epochs with its own decay).

Each batch draws its samples from a mixture: rendered scenes (share ``render_share``) and the
real RGB-D folders (the rest, in proportion to their frame counts).  Targets live in the
canonical camera (:mod:`.canonical`).  Optional extras, each off by default:

* ``init="imagenet"``: the encoder starts from ImageNet MobileNet-v1 (:mod:`.pretrained`);
* ``init_from``: start from the weights of another checkpoint (e.g. a synthetic pretraining) or
  of an exported ONNX (e.g. the official model); ``frozen_bn`` then keeps the BatchNorm
  statistics as loaded (an ONNX has them folded away, so batch statistics would change the
  function it starts from) and trains the convolutions and BN affine parameters;
* ``teacher`` + ``distill_weight``: an ONNX teacher's prediction on the same augmented input
  as a second L1 target on real frames (dense, so it also covers the sensor's holes);
* ``device="cuda"``: the whole step on a GPU (frames, augmentation and teacher there too,
  :mod:`.device_batches`, :mod:`.onnx_weights`);
* ``time_budget_min``: a lent machine for a fixed time; the run measures its step rate over
  ``calibration_steps`` steps and lowers ``steps`` so the cosine schedule ends in the budget.
  The chosen ``steps`` is stored in the checkpoint, so a rerun with that ``--steps`` replays it.

Why steps instead of epochs: the sample drawn at position ``i`` of the run is a pure function
of ``(seed, i)``, so a killed run resumes exactly where it stopped from ``last.pth`` (model,
optimiser, step, config), and the rendered set may grow while training runs.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import data
from .checkpoint import load_model, save_checkpoint
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
    init: str = "scratch"  # or "imagenet" (encoder from the npz in ``pretrained``)
    pretrained: str = ""  # ImageNet MobileNet-v1 npz (see fastdepth-ros imagenet-npz)
    init_from: str = ""  # start from this checkpoint's weights (not its optimiser or step)
    real: list = field(default_factory=list)  # RGB-D folder specs ("PATH[:FIRST-LAST]")
    render_share: float = 1.0  # fraction of each batch from rendered scenes (rest: real)
    val: list = field(default_factory=list)  # RGB-D folder specs to validate on
    teacher: str = ""  # ONNX teacher for distillation on real frames
    distill_weight: float = 0.0
    distill_rendered: bool = False  # the teacher's target on rendered scenes too
    device: str = "cpu"  # where the model trains ("cuda" on a GPU machine)
    data_on_device: bool = False  # batches made on ``device`` (device_batches); the GPU default
    time_budget_min: float = 0.0  # > 0: after calibrating, lower ``steps`` to fit this wall time
    calibration_steps: int = 300
    budget_refit_every: int = 0  # > 0: fit the step count to the budget again every n steps
    frozen_bn: bool = False  # BatchNorm statistics stay as loaded (fine-tuning a folded ONNX)
    optimizer: str = "sgd"  # or "adam" (lr-sized steps per weight, for fine-tuning folded weights)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))


def default_checkpoint_dir() -> Path:
    return data.cache_root() / "runs" / "default"


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


def initial_model(cfg: TrainConfig) -> FastDepth:
    """The model a fresh run starts from (``preset``, ``init``, ``init_from``)."""
    if cfg.init_from and str(cfg.init_from).endswith(".onnx"):
        from .onnx_weights import load_onnx

        return load_onnx(cfg.init_from).train()
    if cfg.init_from:
        return load_model(cfg.init_from)[0].train()
    if cfg.init == "imagenet":
        from .pretrained import TF_BN_EPS, load_imagenet_encoder

        if not cfg.pretrained:
            raise ValueError("init=imagenet needs the ImageNet npz (--pretrained PATH)")
        model = build(cfg.preset, encoder_bn_eps=TF_BN_EPS)
        load_imagenet_encoder(model, cfg.pretrained)
        return model
    if cfg.init != "scratch":
        raise ValueError(f"init must be scratch or imagenet, got {cfg.init!r}")
    return build(cfg.preset)


def train_mode(model: FastDepth, cfg: TrainConfig) -> FastDepth:
    """``model.train()``, with the BatchNorm layers left in eval mode when ``cfg.frozen_bn``."""
    model.train()
    if cfg.frozen_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
    return model


def _sgd(model: FastDepth, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The paper's SGD, or Adam where a folded ONNX is fine-tuned: its weights carry the
    folded BatchNorm scales, so one SGD learning rate moves some layers far more than others."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer != "sgd":
        raise ValueError(f"optimizer must be sgd or adam, got {cfg.optimizer!r}")
    return torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )


def train(cfg: TrainConfig, resume: bool = True, on_eval=None) -> Path:
    """Run (or resume) training; returns the checkpoint path.  ``on_eval(model, step,
    metrics)`` is called after each evaluation (used to export the shipped model)."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else default_checkpoint_dir()
    last = ckpt_dir / "last.pth"
    step = 0
    if resume and last.exists():
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
        model = from_config(ckpt["model_config"])
        model.load_state_dict(ckpt["model"])
        model.to(device)
        opt = _sgd(model, cfg)
        opt.load_state_dict(ckpt["optimizer"])
        step = int(ckpt["step"])
        print(f"resumed from {last} at step {step}", flush=True)
    else:
        model = initial_model(cfg).to(device)
        opt = _sgd(model, cfg)
    train_mode(model, cfg)
    log = Path(cfg.log_path) if cfg.log_path else ckpt_dir / "eval.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)

    renderers = start_renderers(cfg) if cfg.render_share > 0 else []
    try:
        _train_loop(cfg, model, opt, step, last, log, on_eval)
    finally:
        data.stop_renderers(renderers)
    return last


def _teacher_targets(teacher, x: torch.Tensor, use: torch.Tensor) -> torch.Tensor | None:
    """The teacher's depth for the samples flagged in ``use`` (others zero), or None.
    ``teacher`` is a torch module on the batch's device, or an ONNX Runtime predictor (CPU)."""
    if teacher is None:
        return None
    if isinstance(teacher, torch.nn.Module):  # the whole batch: no device sync to test ``use``
        with torch.no_grad():
            return teacher(x) * use[:, None, None, None]
    if not bool(use.any()):
        return None
    out = torch.zeros(x.shape[0], 1, *x.shape[2:])
    for i in torch.nonzero(use).flatten().tolist():
        out[i, 0] = torch.from_numpy(teacher(x[i : i + 1].numpy()))
    return out


def _make_teacher(cfg: TrainConfig):
    """The distillation teacher: ONNX Runtime on CPU runs, the same weights as a torch module
    on the GPU (:mod:`.onnx_weights`), or None."""
    if not (cfg.teacher and cfg.distill_weight > 0):
        return None
    if not cfg.data_on_device:
        from .evaluate import onnx_predictor

        return onnx_predictor(cfg.teacher, threads=1)
    from .onnx_weights import load_onnx

    return load_onnx(cfg.teacher).to(cfg.device)


def batch_loss(
    pred: torch.Tensor, target: torch.Tensor, teacher_depth: torch.Tensor | None, use: torch.Tensor, w: float
) -> torch.Tensor:
    """L1 on valid ground truth (0 if none is valid), plus ``w`` x L1 to the teacher over the
    pixels of the flagged samples.  Written as masked sums, never with data-dependent Python
    branches or indexing, so a GPU step queues without waiting for the device."""
    valid = (target > 0).to(pred.dtype)
    loss = ((pred - target).abs() * valid).sum() / valid.sum().clamp(min=1.0)
    if teacher_depth is not None and w > 0:
        flagged = use.to(pred.dtype)[:, None, None, None].expand_as(pred)
        loss = loss + w * ((pred - teacher_depth).abs() * flagged).sum() / flagged.sum().clamp(min=1.0)
    return loss


def _cpu_batches(cfg: TrainConfig, step: int, stop: int):
    """Batches ``step .. stop-1`` from DataLoader workers (:class:`.mixture.Mixture`)."""
    from .mixture import Mixture

    mixture = Mixture(cfg, n_rendered=_cached_count(cfg) if cfg.render_share > 0 else 0)
    loader = torch.utils.data.DataLoader(
        mixture,
        batch_size=cfg.batch_size,
        sampler=range(step * cfg.batch_size, stop * cfg.batch_size),
        num_workers=cfg.workers,
        worker_init_fn=_one_thread,
    )
    for x, d, use in loader:
        yield x, d, use, mixture.n_rendered


class _Budget:
    """Fits ``cfg.steps`` to ``cfg.time_budget_min``: times steps ``calibration_steps/2 ..
    calibration_steps`` (after start-up and cuDNN's first-call tuning), then sets the total so
    the rest ends in the remaining budget (never above the given steps).  With
    ``budget_refit_every`` > 0 the total is fitted again every that many steps from the rate
    since the calibration mark: on a shared machine the load at the start says little about
    the load later (``fastdepth-ros adapt``)."""

    def __init__(self, cfg: TrainConfig, step: int) -> None:
        self.cfg = cfg
        self.t0 = time.monotonic()
        self.start = step
        self.max_steps = cfg.steps
        self.mark: tuple[int, float] | None = None
        self.fitted_at: int | None = None
        self.done = cfg.time_budget_min <= 0

    def update(self, step: int) -> None:
        if self.done:
            return
        now = time.monotonic()
        if self.mark is None and step - self.start >= self.cfg.calibration_steps // 2:
            self.mark = (step, now)
        if self.mark is None or step - self.start < self.cfg.calibration_steps:
            return
        if self.fitted_at is not None and step - self.fitted_at < self.cfg.budget_refit_every:
            return
        rate = (step - self.mark[0]) / max(1e-6, now - self.mark[1])
        left_s = max(0.0, self.cfg.time_budget_min * 60.0 - (now - self.t0))
        before = self.cfg.steps
        self.cfg.steps = max(step + 1, min(self.max_steps, step + int(rate * left_s)))
        first = self.fitted_at is None
        self.fitted_at = step
        self.done = self.cfg.budget_refit_every <= 0
        if first or abs(self.cfg.steps - before) > 0.02 * before:
            print(f"time budget: {rate:.2f} steps/s, training to step {self.cfg.steps}", flush=True)


def _train_loop(
    cfg: TrainConfig,
    model: FastDepth,
    opt: torch.optim.Optimizer,
    step: int,
    last: Path,
    log: Path,
    on_eval,
) -> None:
    """The step loop, in chunks of ``eval_every`` steps; each chunk re-reads how many rendered
    scenes are cached (the set grows while a background renderer runs)."""
    from .evaluate import validation_sets

    teacher = _make_teacher(cfg)
    val_sets = validation_sets(cfg.val)
    device_batches = None
    if cfg.data_on_device:
        from .device_batches import DeviceBatches

        n = _cached_count(cfg) if cfg.render_share > 0 else 0
        device_batches = DeviceBatches(cfg, n, cfg.device)
    chunk = cfg.eval_every or cfg.steps
    budget = _Budget(cfg, step)
    sync_every = 50 if cfg.data_on_device else 1  # loss.item() waits for the GPU
    with Progress(cfg.steps, "train", start=step) as bar:
        while step < cfg.steps:
            stop = min(cfg.steps, (step // chunk + 1) * chunk)
            if device_batches is not None:
                if cfg.render_share > 0:
                    device_batches.grow_rendered(_cached_count(cfg))
                batches = ((*device_batches.batch(i, cfg.batch_size), device_batches.n_rendered)
                           for i in range(step, stop))
            else:
                batches = _cpu_batches(cfg, step, stop)
            t_data = time.monotonic()
            for x, d, use, n_rendered in batches:
                for group in opt.param_groups:
                    group["lr"] = lr_at(step, cfg)
                wait_s = time.monotonic() - t_data
                t_model = _teacher_targets(teacher, x, use)
                loss = batch_loss(model(x), d, t_model, use, cfg.distill_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                budget.update(step)
                bar.total = cfg.steps
                if step % sync_every == 0 or step == cfg.steps:
                    loss_v = loss.item()
                    bar.update(step - bar.n, loss=loss_v, lr=lr_at(step - 1, cfg), scenes=n_rendered,
                               wait_s=wait_s)
                    if not math.isfinite(loss_v):
                        raise FloatingPointError(f"loss became {loss_v} at step {step}")
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    save_checkpoint(last, model, opt, step, cfg)
                if step >= cfg.steps or step >= stop:
                    break
                t_data = time.monotonic()
            if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
                _evaluate_and_log(cfg, model, step, loss.item(), val_sets, log, on_eval)
                train_mode(model, cfg)
    save_checkpoint(last, model, opt, step, cfg)


def _one_thread(_worker: int) -> None:
    torch.set_num_threads(1)


def _evaluate_and_log(cfg, model, step: int, loss: float, val_sets, log: Path, on_eval) -> None:
    from .evaluate import evaluate_sets

    if val_sets:
        metrics = evaluate_sets(model, val_sets)
    else:
        metrics = evaluate_torch(model, cfg.eval_scenes)
    record = {"step": step, "time": time.time(), "loss": loss, **metrics}
    with log.open("a") as f:
        f.write(json.dumps(record) + "\n")
    print(f"eval step {step}: " + json.dumps(record), flush=True)
    if on_eval is not None:
        on_eval(model, step, metrics)
