"""``fastdepth-ros adapt``: from a bag recorded with a depth camera to a model for that camera
and those rooms, in one command, with a before/after report.

The steps are the shipped model's recipe (docs/model.md), chained:

1. the bag as an RGB-D folder (:mod:`fastdepth_ros.replay.bag_folder`), in a state directory
   under the cache (``FASTDEPTH_CACHE_DIR``), never beside the output;
2. a split by time: the last ``val_fraction`` of the recording is held out, and the frames
   within ``gap_s`` before it are dropped (neighbouring frames are near-duplicates, which
   would leak the held-out frames into training);
3. the fine-tune from ``init_from`` with frozen BatchNorm, the start model as teacher (weight
   0.3, also on the rendered rooms), 30 % rendered rooms, targets in the canonical camera
   from the bag's camera_info, fitted to ``time_budget_min`` (:class:`.train._Budget`) and
   resumable from the state directory;
4. WiSE-FT: every candidate α is scored on the held-out frames and on a generality check of
   frames outside the bag (the official NYU sample, held-out rendered rooms, ``keep``
   folders); the α with the best held-out δ1 among those that lose at most
   ``max_generality_loss`` δ1 on *every* generality set against the start model is taken
   (worst set, not the mean: the rendered rooms are in the training mix and improve, which
   would hide a loss on real frames);
5. DIR/model.onnx (metadata: canonical focal length, source bag, split, α), DIR/card.md with
   a montage, DIR/report.json; the final figures come from the exported file through
   :func:`.evaluate.evaluate`, the function behind ``fastdepth-ros eval``, so the report and
   ``eval`` agree.  DIR is written as a hidden sibling and renamed when complete.

Why the generality check: a fine-tune on one recording forgets; measured on the 7-Scenes
kitchen, α 0.5 kept NYU-style frames (0.76) while α 1.0 lost them (0.55) for a small gain in
the kitchen, so α cannot be chosen on the bag's frames alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..replay.bag_folder import BagFolderError, bag_to_folder

#: --steps before the time budget lowers it (never reached on a real budget)
UNBOUNDED_STEPS = 1_000_000
ALPHAS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SOURCE_BAG_KEY = "fastdepth_ros.source_bag"
SPLIT_KEY = "fastdepth_ros.split"
ALPHA_KEY = "fastdepth_ros.wise_alpha"
LAUNCH_LINE = "ros2 launch fastdepth_ros depth.launch.py model:=%s"


class AdaptError(ValueError):
    """Bad input or settings for adapt; one line for the user."""


@dataclass
class AdaptConfig:
    bag: str
    out: str
    init_from: str
    image_topic: str | None = None
    depth_topic: str | None = None
    info_topic: str | None = None
    max_dt_s: float = 0.02
    val_fraction: float = 0.2
    gap_s: float = 1.0
    time_budget_min: float = 20.0
    max_steps: int = 0  # 0: as many as the time budget allows
    device: str = "cpu"
    threads: int = 0  # torch threads; 0: all cores
    keep: list = field(default_factory=list)
    batch_size: int = 16
    lr: float = 1e-4
    warmup_steps: int = 50
    distill_weight: float = 0.3
    render_share: float = 0.3
    rendered_rooms: int = 128
    heldout_rooms: int = 50
    alphas: tuple = ALPHAS
    max_generality_loss: float = 0.03
    min_frames: int = 50
    seed: int = 0
    state_dir: str = ""  # default: CACHE/adapt/<key of bag, start model and settings>


# --------------------------------------------------------------------------- state
def _bag_fingerprint(bag: Path) -> list:
    files = sorted(bag.rglob("*")) if bag.is_dir() else [bag]
    return [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files if f.is_file()]


def state_dir(cfg: AdaptConfig) -> Path:
    """Where the folder, the training checkpoint and the scores live between runs: keyed by
    the bag's files, the start model and every setting that changes the result."""
    from . import data

    if cfg.state_dir:
        return Path(cfg.state_dir)
    bag = Path(cfg.bag).resolve()
    # what the folder and the fine-tune depend on (not the α choice: rescoring needs no retraining)
    scoring_only = ("out", "state_dir", "threads", "keep", "alphas", "max_generality_loss", "heldout_rooms")
    settings = {k: v for k, v in asdict(cfg).items() if k not in scoring_only}
    settings["bag_files"] = _bag_fingerprint(bag)
    settings["init_sha"] = hashlib.sha256(Path(cfg.init_from).read_bytes()).hexdigest()
    key = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return data.cache_root() / "adapt" / ("%s-%s" % (bag.name, key))


def time_split(stamps_ns: list, val_fraction: float, gap_s: float) -> dict:
    """Indices of the training and held-out frames: the last ``val_fraction`` of the frames
    (in time) held out, the frames within ``gap_s`` before the first held-out one dropped."""
    n = len(stamps_ns)
    if not 0.0 < val_fraction < 1.0:
        raise AdaptError("--val-fraction must be between 0 and 1, got %g" % val_fraction)
    first_val = min(n - 1, max(1, int(math.floor(n * (1.0 - val_fraction)))))
    cut_ns = stamps_ns[first_val] - int(round(gap_s * 1e9))
    train = [i for i in range(first_val) if stamps_ns[i] < cut_ns]
    if len(train) < 10:
        raise AdaptError(
            "only %d training frames before the held-out part and the %.1f s gap; record longer "
            "or lower --val-fraction / --gap-s" % (len(train), gap_s)
        )
    t0 = stamps_ns[0]

    def part(ids: list) -> dict:
        return {
            "first": "%05d" % ids[0],
            "last": "%05d" % ids[-1],
            "frames": len(ids),
            "from_s": round((stamps_ns[ids[0]] - t0) / 1e9, 3),
            "to_s": round((stamps_ns[ids[-1]] - t0) / 1e9, 3),
        }

    return {
        "val_fraction": val_fraction,
        "gap_s": gap_s,
        "gap_frames": first_val - len(train),
        "train": part(train),
        "held_out": part(list(range(first_val, n))),
    }


class LoadSampler:
    """The 1-minute load average every ``period_s`` while training: the machine is shared, and
    a step rate means little without the load it was measured under."""

    def __init__(self, period_s: float = 15.0) -> None:
        self.samples: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period_s,), daemon=True)

    def _run(self, period_s: float) -> None:
        while True:
            self.samples.append(round(os.getloadavg()[0], 2))
            if self._stop.wait(period_s):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.samples.append(round(os.getloadavg()[0], 2))

    def summary(self) -> dict:
        s = self.samples or [0.0]
        return {
            "load1_min": min(s),
            "load1_mean": round(sum(s) / len(s), 2),
            "load1_max": max(s),
            "samples": len(s),
            "cores": os.cpu_count(),
        }


# --------------------------------------------------------------------------- steps
def _folder(cfg: AdaptConfig, state: Path) -> dict:
    folder = state / "folder"
    if not (folder / "meta.json").is_file():
        print("reading %s into %s" % (cfg.bag, folder), flush=True)
        bag_to_folder(
            cfg.bag,
            folder,
            cfg.image_topic,
            cfg.depth_topic,
            cfg.info_topic,
            cfg.max_dt_s,
            cfg.min_frames,
            progress=True,
        )
    meta = json.loads((folder / "meta.json").read_text())
    if len(meta["frames"]) < cfg.min_frames:
        raise AdaptError(
            "%s: only %d paired frames; adapt needs at least %d"
            % (cfg.bag, len(meta["frames"]), cfg.min_frames)
        )
    return meta


def _train_copy(state: Path, split: dict, width: int) -> str:
    """The training frames as a smaller copy when the camera is large: the official transform
    shrinks a 640x480 frame to 333x250 first, so half resolution loses little and loads fast."""
    from .folders import FolderSpec, RGBDFolder, write_scaled

    spec = "%s:%d-%d" % (state / "folder", int(split["train"]["first"]), int(split["train"]["last"]))
    if width < 560:
        return spec
    out = state / "train_half"
    if not (out / "meta.json").is_file():
        tmp = state / ".train_half.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        write_scaled(RGBDFolder(FolderSpec.parse(spec)), tmp, 320.0 / width)
        os.replace(tmp, out)
    return str(out)


def _render(cfg: AdaptConfig) -> None:
    from . import data
    from .progress import Progress

    todo = [s for s in range(cfg.rendered_rooms) if not data.is_cached(s)]
    todo += [
        data.HELDOUT_SEED0 + s for s in range(cfg.heldout_rooms) if not data.is_cached(data.HELDOUT_SEED0 + s)
    ]
    if not todo:
        return
    with Progress(len(todo), "render rooms") as bar:
        for seed in todo:
            data.load_or_render(seed)
            bar.update(1)


def _train(cfg: AdaptConfig, state: Path, train_spec: str) -> tuple:
    """Fine-tune (or resume); returns (checkpoint, steps, train wall s of this run, load summary)."""
    import torch

    from .train import TrainConfig, train

    run = state / "run"
    done = run / "done.json"
    if done.is_file():
        d = json.loads(done.read_text())
        print("fine-tune finished before (%d steps); reusing %s" % (d["steps"], run / "last.pth"), flush=True)
        return run / "last.pth", d["steps"], d["train_wall_s"], d["load_average"]
    tcfg = TrainConfig(
        steps=cfg.max_steps or UNBOUNDED_STEPS,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        warmup_steps=min(cfg.warmup_steps, max(1, (cfg.max_steps or UNBOUNDED_STEPS) // 5)),
        scenes=cfg.rendered_rooms,
        min_scenes=min(64, cfg.rendered_rooms),
        render_workers=0,
        threads=cfg.threads or os.cpu_count() or 1,
        seed=cfg.seed,
        checkpoint_dir=str(run),
        checkpoint_every=10,
        eval_every=0,
        init_from=cfg.init_from,
        real=[train_spec],
        render_share=cfg.render_share,
        teacher=cfg.init_from,
        distill_weight=cfg.distill_weight,
        distill_rendered=True,
        device=cfg.device,
        data_on_device=True,
        time_budget_min=cfg.time_budget_min,
        calibration_steps=20,
        budget_refit_every=20,
        frozen_bn=True,
    )
    last = run / "last.pth"
    if last.is_file():  # resume: the step count the budget chose, when it had chosen one
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
        stored = int((ckpt.get("train_config") or {}).get("steps", tcfg.steps))
        if stored < tcfg.steps:
            tcfg.steps, tcfg.time_budget_min = stored, 0.0
        print("resuming the fine-tune at step %d of %s" % (int(ckpt["step"]), tcfg.steps), flush=True)
    t0 = time.monotonic()
    with LoadSampler() as load:
        train(tcfg, resume=True)
    wall_s = time.monotonic() - t0
    steps = int(torch.load(last, map_location="cpu", weights_only=True)["step"])
    summary = load.summary()
    done.write_text(json.dumps({"steps": steps, "train_wall_s": round(wall_s, 1), "load_average": summary}))
    return last, steps, round(wall_s, 1), summary


def _generality_specs(cfg: AdaptConfig) -> list:
    return ["nyu_sample", *cfg.keep]


def _sets(cfg: AdaptConfig, held_spec: str) -> tuple:
    from ..resources import reference_dir
    from .canonical import CANONICAL_FOCAL_PX
    from .evaluate import ValidationSet, heldout, validation_sets

    held = validation_sets([held_spec])[0]
    general = validation_sets(_generality_specs(cfg))
    if not any(v.name == "nyu_official_sample" for v in general):
        print("adapt: warning: the official NYU sample is not in %s (set FASTDEPTH_REFERENCE_DIR): the "
              "generality check has no real frames outside the bag unless --keep adds some"
              % reference_dir(), file=sys.stderr, flush=True)
    if cfg.heldout_rooms > 0:
        general.append(ValidationSet("heldout_rendered", heldout(cfg.heldout_rooms), CANONICAL_FOCAL_PX))
    return held, general


def batched_scores(model, sets: list, batch: int = 16) -> dict:
    """``{set: metrics}`` of a torch model (canonical depth, converted to each set's camera), as
    :func:`.evaluate.run` scores them, but with the frames in batches: ten candidate αs on a
    shared 2-core machine would otherwise take minutes of one-frame forward passes."""
    import numpy as np
    import torch

    from .canonical import CANONICAL_FOCAL_PX
    from .evaluate import score

    def pairs(vs):
        k = vs.focal_px / CANONICAL_FOCAL_PX
        for i in range(0, len(vs.samples), batch):
            chunk = vs.samples[i : i + batch]
            x = torch.from_numpy(np.stack([rgb.transpose(2, 0, 1) for rgb, _ in chunk]).astype(np.float32))
            with torch.no_grad():
                preds = model(x)[:, 0].numpy() * k
            yield from zip(preds, (gt for _, gt in chunk))

    model.eval()
    return {vs.name: score(pairs(vs)) for vs in sets}


def choose_alpha(cfg: AdaptConfig, checkpoint: Path, held_spec: str) -> tuple:
    """Score every α on the held-out frames and the generality sets; returns (α, rows)."""
    from .checkpoint import load_weights, mix
    from .evaluate import _scores
    from .progress import Progress

    held, general = _sets(cfg, held_spec)
    sets = [held, *general]
    start_scores = _scores(cfg.init_from, 1, sets)[0]
    start, tuned = load_weights(cfg.init_from), load_weights(checkpoint)
    rows = []
    with Progress(len(cfg.alphas), "score alphas", every=1) as bar:
        for alpha in cfg.alphas:
            s = batched_scores(mix(start, tuned, alpha), sets)
            gen = {v.name: round(s[v.name]["delta1"], 4) for v in general}
            loss = {k: round(start_scores[k]["delta1"] - v, 4) for k, v in gen.items()}
            worst = max(loss.values()) if loss else 0.0
            rows.append(
                {
                    "alpha": alpha,
                    "held_out_delta1": round(s[held.name]["delta1"], 4),
                    "held_out_scaled_delta1": round(s[held.name]["median_scaled"]["delta1"], 4),
                    "generality_delta1": gen,
                    "generality_loss": loss,
                    "worst_generality_loss": worst,
                    "eligible": worst <= cfg.max_generality_loss + 1e-9,
                }
            )
            bar.update(1, alpha=alpha, held=rows[-1]["held_out_delta1"], worst_loss=worst)
    eligible = [r for r in rows if r["eligible"]]
    if not eligible:  # possible when a --keep camera is scaled differently from the start model
        eligible = [min(rows, key=lambda r: r["alpha"])]
        print("adapt: warning: no alpha keeps the generality check within %.2f; taking the smallest (%g)"
              % (cfg.max_generality_loss, eligible[0]["alpha"]), file=sys.stderr, flush=True)
    best = max(eligible, key=lambda r: (r["held_out_delta1"], -r["alpha"]))
    return best["alpha"], rows, {k: round(v["delta1"], 4) for k, v in start_scores.items()}


def _metrics(m: dict) -> dict:
    ms = m.get("median_scaled", {})
    return {
        "frames": m["frames"],
        "delta1": round(m["delta1"], 4),
        "abs_rel": round(m["absrel"], 4),
        "rmse_m": round(m["rmse_m"], 4),
        "scaled_delta1": round(ms.get("delta1", float("nan")), 4),
        "scaled_abs_rel": round(ms.get("absrel", float("nan")), 4),
    }


# --------------------------------------------------------------------------- the command
def adapt(cfg: AdaptConfig) -> dict:
    """Run every step (resuming what a previous run of the same settings finished); returns
    the report.  Raises AdaptError / BagFolderError / BagError / OSError on bad input."""
    t_start = time.monotonic()
    out = Path(cfg.out)
    if out.exists():
        raise AdaptError("%s exists already; remove it or pick another --out" % out)
    if not Path(cfg.init_from).is_file():
        raise AdaptError("--init-from %s: no such model file" % cfg.init_from)
    for spec in cfg.keep:
        from .folders import FolderSpec

        if not (FolderSpec.parse(spec).path / "meta.json").is_file():
            raise AdaptError("--keep %s: not an RGB-D folder (no meta.json)" % spec)
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise AdaptError("--device %s: no CUDA device visible to torch" % cfg.device)
    state = state_dir(cfg)
    state.mkdir(parents=True, exist_ok=True)
    print("state (resumable): %s" % state, flush=True)
    meta = _folder(cfg, state)
    stamps = [int(f["stamp_ns"]) for f in meta["frames"]]
    split = time_split(stamps, cfg.val_fraction, cfg.gap_s)
    (state / "split.json").write_text(json.dumps(split, indent=1))
    held_spec = "%s:%d-%d" % (
        state / "folder",
        int(split["held_out"]["first"]),
        int(split["held_out"]["last"]),
    )
    train_spec = _train_copy(state, split, int(meta["intrinsics"]["width"]))
    print(
        "split: train %s-%s (%d frames), gap %.1f s (%d frames), held out %s-%s (%d frames)"
        % (
            split["train"]["first"],
            split["train"]["last"],
            split["train"]["frames"],
            split["gap_s"],
            split["gap_frames"],
            split["held_out"]["first"],
            split["held_out"]["last"],
            split["held_out"]["frames"],
        ),
        flush=True,
    )
    _render(cfg)
    reused = (state / "run" / "done.json").is_file()  # this run only scores and exports
    checkpoint, steps, train_wall_s, load = _train(cfg, state, train_spec)
    alpha, rows, start_scores = choose_alpha(cfg, checkpoint, held_spec)
    print(
        "WiSE-FT alpha %.2g (best held-out δ1 among alphas losing <= %.2f δ1 on every generality set)"
        % (alpha, cfg.max_generality_loss),
        flush=True,
    )

    tmp = out.parent / (".%s.partial-%d" % (out.name, os.getpid()))
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        from .checkpoint import load_weights, mix
        from .evaluate import evaluate
        from .export import export_onnx

        model = mix(load_weights(cfg.init_from), load_weights(checkpoint), alpha)
        split_meta = {**split, "folder": str(state / "folder")}
        export_onnx(
            model,
            tmp / "model.onnx",
            metadata={
                SOURCE_BAG_KEY: str(Path(cfg.bag).resolve()),
                SPLIT_KEY: json.dumps(split_meta),
                ALPHA_KEY: repr(float(alpha)),
            },
        )
        result = evaluate(
            tmp / "model.onnx",
            n_heldout=cfg.heldout_rooms,
            montage=tmp / "montage.png",
            folders=[held_spec, *cfg.keep],
            compare=cfg.init_from,
            nyu=True,
            montage_per_set=3,
        )
        held_name = _set_name(held_spec)
        generality = {}
        for name, m in result.items():
            if (
                name in ("model", "compare", "montage", held_name)
                or not isinstance(m, dict)
                or "delta1" not in m
            ):
                continue
            start_m, ours = _metrics(result["compare"][name]), _metrics(m)
            generality[name] = {
                "start": start_m,
                "adapted": ours,
                "delta1_loss": round(start_m["delta1"] - ours["delta1"], 4),
            }
        report = {
            "bag": str(Path(cfg.bag).resolve()),
            "topics": meta.get("topics"),
            "pairing": meta.get("pairing"),
            "intrinsics": meta.get("intrinsics"),
            "start_model": str(Path(cfg.init_from).resolve()),
            "split": split_meta,
            "held_out": {
                "set": held_spec,
                "start": _metrics(result["compare"][held_name]),
                "adapted": _metrics(result[held_name]),
            },
            "generality": generality,
            "generality_sets": sorted(generality),
            "generality_worst_delta1_loss": max((g["delta1_loss"] for g in generality.values()), default=0.0),
            "wise_alpha": alpha,
            "alpha_rule": "best held-out δ1 among alphas losing <= %g δ1 on every generality set against the "
            "start model" % cfg.max_generality_loss,
            "alphas": rows,
            "alpha_scores_start": start_scores,
            "steps": steps,
            "batch_size": cfg.batch_size,
            "recipe": {
                "lr": cfg.lr,
                "frozen_bn": True,
                "teacher": "start model",
                "distill_weight": cfg.distill_weight,
                "render_share": cfg.render_share,
                "rendered_rooms": cfg.rendered_rooms,
                "canonical_camera": "targets scaled by f_canonical / f_bag (camera_info)",
            },
            "device": cfg.device,
            "time_budget_min": cfg.time_budget_min,
            "train_wall_s": train_wall_s,
            "load_average_during_training": load,
            "files": {"model": "model.onnx", "card": "card.md", "montage": "montage.png"},
        }
        report["launch"] = LAUNCH_LINE % (out / "model.onnx")
        report["fine_tune_reused"] = reused
        report["total_wall_s"] = round(time.monotonic() - t_start, 1)
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
        (tmp / "card.md").write_text(card_markdown(report))
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _set_name(spec: str) -> str:
    from .folders import FolderSpec

    return FolderSpec.parse(spec).name


def _row(name: str, label: str, m: dict) -> str:
    return "| %s | %d | %s | %.3f | %.3f | %.3f | %.3f | %.3f |" % (
        name,
        m["frames"],
        label,
        m["delta1"],
        m["rmse_m"],
        m["abs_rel"],
        m["scaled_delta1"],
        m["scaled_abs_rel"],
    )


def card_markdown(report: dict) -> str:
    """The model card of an adapted model: what it was made from, and start vs adapted."""
    s = report["split"]
    lines = [
        "# Adapted FastDepth: model card",
        "",
        "Made by `fastdepth-ros adapt` from `%s` (topics: %s), starting from `%s`."
        % (
            report["bag"],
            ", ".join("%s `%s`" % kv for kv in (report.get("topics") or {}).items()),
            Path(report["start_model"]).name,
        ),
        "",
        "* Split by time: training frames %s–%s (%.1f–%.1f s), a %.1f s gap (%d frames dropped), held out "
        "%s–%s (%.1f–%.1f s, the last %d %%)."
        % (
            s["train"]["first"],
            s["train"]["last"],
            s["train"]["from_s"],
            s["train"]["to_s"],
            s["gap_s"],
            s["gap_frames"],
            s["held_out"]["first"],
            s["held_out"]["last"],
            s["held_out"]["from_s"],
            s["held_out"]["to_s"],
            round(100 * s["val_fraction"]),
        ),
        "* Fine-tune: %d steps of %d frames in %.1f min (%s; 1-min load average %.1f–%.1f on %s cores), "
        "frozen BatchNorm, the start model as teacher (weight %g), %d %% rendered rooms."
        % (
            report["steps"],
            report["batch_size"],
            report["train_wall_s"] / 60.0,
            report["device"],
            report["load_average_during_training"]["load1_min"],
            report["load_average_during_training"]["load1_max"],
            report["load_average_during_training"]["cores"],
            report["recipe"]["distill_weight"],
            round(100 * report["recipe"]["render_share"]),
        ),
        "* WiSE-FT α = %g: %s." % (report["wise_alpha"], report["alpha_rule"]),
        "",
        "## Held-out frames of the recording and the generality check",
        "",
        "Metric: after the node's focal scaling to the set's camera (the start model as the node runs it). "
        "Median-scaled: each prediction scaled by median(truth)/median(prediction) first (shape only).",
        "",
        "| set | frames | model | δ1 | RMSE (m) | AbsRel | δ1 median-scaled | AbsRel median-scaled |",
        "|---|---|---|---|---|---|---|---|",
        _row("held out", "start", report["held_out"]["start"]),
        _row("held out", "**adapted**", report["held_out"]["adapted"]),
    ]
    for name, g in report["generality"].items():
        lines += [_row(name, "start", g["start"]), _row(name, "adapted", g["adapted"])]
    lines += [
        "",
        "## Every α tried",
        "",
        "| α | held-out δ1 | held-out δ1 median-scaled | generality δ1 (loss vs start) | eligible |",
        "|---|---|---|---|---|",
    ]
    for r in report["alphas"]:
        gen = ", ".join(
            "%s %.3f (%+.3f)" % (k, v, -r["generality_loss"][k]) for k, v in r["generality_delta1"].items()
        )
        lines.append(
            "| %g | %.3f | %.3f | %s | %s |"
            % (
                r["alpha"],
                r["held_out_delta1"],
                r["held_out_scaled_delta1"],
                gen,
                "yes" if r["eligible"] else "no",
            )
        )
    lines += [
        "",
        "Montage (RGB | adapted | start | ground truth | error of the adapted model): "
        "![montage](montage.png)",
        "",
        "Use it: `%s`" % report["launch"],
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def add_args(p) -> None:
    from ..replay.bag_folder import add_topic_args

    p.add_argument(
        "--bag",
        required=True,
        help="rosbag2 bag (sqlite3 or mcap) with colour, registered depth, camera_info",
    )
    p.add_argument(
        "--out", required=True, help="output directory (must not exist): model.onnx, card.md, report.json"
    )
    add_topic_args(p)
    p.add_argument("--init-from", default=None, help="start model .onnx (default: the shipped model)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="the last part of the recording held out")
    p.add_argument("--gap-s", type=float, default=1.0, help="seconds dropped before the held-out part")
    p.add_argument(
        "--time-budget-min",
        type=float,
        default=20.0,
        help="minutes of fine-tuning (the step count is fitted to it after a short calibration)",
    )
    p.add_argument("--max-steps", type=int, default=0, help="cap the fine-tune steps (0: the budget decides)")
    p.add_argument("--batch-size", type=int, default=16, help="frames per step (the shipped recipe's 16)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="DIR[:FIRST-LAST]",
        help="RGB-D folder the model must not forget (added to the generality check; repeatable)",
    )
    p.add_argument(
        "--max-generality-loss",
        type=float,
        default=0.03,
        help="largest δ1 loss against the start model allowed on any generality set",
    )
    p.add_argument("--rendered-rooms", type=int, default=128, help="rendered training rooms (cached)")
    p.add_argument(
        "--heldout-rooms", type=int, default=50, help="held-out rendered rooms in the generality check"
    )
    p.add_argument(
        "--state-dir", default="", help="resumable state (default: under FASTDEPTH_CACHE_DIR/adapt)"
    )


def cmd_adapt(args) -> int:
    from ..replay.bag_folder import describe_error, signal_safe_sigxfsz
    from ..replay.bagio import BagError
    from ..resources import default_model_path

    signal_safe_sigxfsz()
    cfg = AdaptConfig(
        bag=args.bag,
        out=args.out,
        init_from=args.init_from or str(default_model_path()),
        image_topic=args.image_topic,
        depth_topic=args.depth_topic,
        info_topic=args.camera_info_topic,
        max_dt_s=args.max_dt,
        val_fraction=args.val_fraction,
        gap_s=args.gap_s,
        time_budget_min=args.time_budget_min,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
        keep=list(args.keep),
        max_generality_loss=args.max_generality_loss,
        rendered_rooms=args.rendered_rooms,
        heldout_rooms=args.heldout_rooms,
        state_dir=args.state_dir,
    )
    try:
        report = adapt(cfg)
    except (AdaptError, BagFolderError, BagError, OSError) as exc:
        print("adapt: error: %s" % describe_error(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("adapt: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    h = report["held_out"]
    print(
        "held-out δ1: start %.3f -> adapted %.3f (median-scaled %.3f -> %.3f); worst generality loss %.3f; "
        "alpha %g; %d steps"
        % (
            h["start"]["delta1"],
            h["adapted"]["delta1"],
            h["start"]["scaled_delta1"],
            h["adapted"]["scaled_delta1"],
            report["generality_worst_delta1_loss"],
            report["wise_alpha"],
            report["steps"],
        )
    )
    print("wrote %s/model.onnx, card.md, report.json, montage.png" % args.out)
    print(LAUNCH_LINE % (Path(args.out) / "model.onnx"))
    return 0
