"""``fastdepth-ros train | render | export | import-checkpoint | eval | prune`` subcommands.

The main CLI calls :func:`register`; torch is imported only inside the handlers so
``fastdepth-ros --help`` works on a robot without torch.  ``python -m
fastdepth_ros.training.cli ...`` runs the same subcommands standalone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEFAULT_ONNX = "models/fastdepth.onnx"


def _train(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from . import card
    from .train import TrainConfig, train

    cfg = TrainConfig(
        preset=args.preset,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        scenes=args.scenes,
        workers=args.workers,
        render_workers=args.render_workers,
        threads=args.threads,
        seed=args.seed,
        checkpoint_dir=args.checkpoint_dir or "",
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        eval_scenes=args.eval_scenes,
        export_path=args.export or "",
        init=args.init,
        pretrained=args.pretrained or "",
        init_from=args.init_from or "",
        real=list(args.real),
        render_share=args.render_share,
        val=list(args.val),
        teacher=args.teacher or "",
        distill_weight=args.distill_weight,
        distill_rendered=args.distill_rendered,
        log_path=args.log or "",
        device=args.device,
        data_on_device=args.device != "cpu" or args.data_on_device,
        frozen_bn=args.frozen_bn,
        optimizer=args.optimizer,
        time_budget_min=args.time_budget_min,
    )

    def on_eval(model, step: int, metrics: dict) -> None:
        if not args.export:
            return
        info = {
            "steps": step,
            "planned_steps": cfg.steps,
            "batch_size": cfg.batch_size,
            "frames_seen": step * cfg.batch_size,
        }
        c = card.ship(model, args.export, info, n_heldout=args.card_heldout, train_config=asdict(cfg),
                      folders=[v for v in cfg.val if v != "nyu_sample"], compare=cfg.teacher or None)
        print(f"exported {args.export} at step {step}: {json.dumps(c['accuracy'], default=str)}", flush=True)

    path = train(cfg, resume=not args.no_resume, on_eval=on_eval)
    print(f"checkpoint: {path}")
    return 0


def _adapt(args: argparse.Namespace) -> int:
    from .adapt import cmd_adapt

    return cmd_adapt(args)


def _interpolate(args: argparse.Namespace) -> int:
    import torch

    from .checkpoint import interpolate, save_model

    model = interpolate(args.start, args.tuned, args.alpha)
    info = {}
    if not str(args.tuned).endswith(".onnx"):  # the fine-tune's run config and steps, for the card
        ckpt = torch.load(args.tuned, map_location="cpu", weights_only=True)
        info = {k: ckpt[k] for k in ("step", "train_config") if k in ckpt}
    info.setdefault("train_config", {})["wise_ft"] = {
        "start": Path(args.start).name, "tuned": Path(args.tuned).name, "alpha": args.alpha,
        "alpha_chosen_by": args.why or "WiSE-FT's default, fixed before evaluating"}
    save_model(args.output, model, **info)
    print(f"wrote {args.output}: {1 - args.alpha:g} x {args.start} + {args.alpha:g} x {args.tuned}")
    return 0


def _scale_folder(args: argparse.Namespace) -> int:
    from .folders import FolderSpec, RGBDFolder, write_scaled

    folder = RGBDFolder(FolderSpec.parse(args.source))
    n = write_scaled(folder, args.output, args.scale, args.jpeg_quality, args.every)
    print(f"wrote {n} frames of {folder.name} at x{args.scale:g} to {args.output}")
    return 0


def _render(args: argparse.Namespace) -> int:
    from . import data
    from .progress import Progress

    seed0 = (data.HELDOUT_SEED0 if args.heldout else 0) + args.start
    seeds = range(seed0, seed0 + args.scenes)
    print(f"rendering seeds {seeds[0]}..{seeds[-1]} into {data.scene_dir()}", flush=True)
    cached_before = sum(data.is_cached(seed) for seed in seeds)
    with Progress(args.scenes, "render") as bar:
        if args.workers <= 1:
            data.prerender(seed0, args.scenes, on_frame=lambda: bar.update(1))
        else:
            procs = data.start_renderers(seed0, args.scenes, args.workers)
            seen = cached_before
            bar.update(seen)
            while any(proc.is_alive() for proc in procs):  # progress = cached seeds in the range
                time.sleep(1.0)
                cached = sum(data.is_cached(seed) for seed in seeds)
                bar.update(cached - seen)
                seen = cached
            data.stop_renderers(procs)
            if any(proc.exitcode for proc in procs):
                print("error: a rendering process failed (exit codes %s)" % [p.exitcode for p in procs],
                      file=sys.stderr)
                return 1
    done = sum(data.is_cached(seed) for seed in seeds) - cached_before
    print(f"rendered {done} new scenes ({args.scenes - done} were cached)")
    return 0


def _imagenet_npz(args: argparse.Namespace) -> int:
    from .tfgraph import SDIST, build_npz

    print(f"reading the MobilenetV1 constants of {args.sdist or SDIST + ' (pip download from PyPI)'}")
    weights = build_npz(args.output, args.sdist)
    print(f"wrote {args.output}: {len(weights)} tensors")
    return 0


def _export(args: argparse.Namespace) -> int:
    from . import card
    from .export import export_onnx, max_abs_diff
    from .train import load_model

    model, ckpt = load_model(args.checkpoint)
    if args.card:
        cfg = ckpt.get("train_config") or {}
        steps = int(ckpt.get("step", 0))
        info = {"steps": steps, "frames_seen": steps * int(cfg.get("batch_size", 8)),
                "checkpoint": Path(args.checkpoint).name}
        if args.wall_time_h is not None:
            info["wall_time_h_2core_cpu"] = args.wall_time_h
        if args.trained_on:
            info["trained_on"] = args.trained_on
        folders = args.folder or [v for v in cfg.get("val", []) if v != "nyu_sample"]
        c = card.ship(model, args.output, info, n_heldout=args.heldout, train_config=cfg,
                      folders=folders, compare=args.compare, montage=args.montage,
                      run_logs=dict(item.split("=", 1) for item in args.run_log))
        if args.docs:
            from .evaluate import update_docs

            update_docs(c, args.docs)
            print(f"updated the accuracy table in {args.docs}")
        print(json.dumps(c["accuracy"], indent=2, default=str))
    else:
        export_onnx(model, args.output)
    print(f"wrote {args.output}; max |torch - onnx| = {max_abs_diff(model, args.output):.2e} m")
    return 0


def _import(args: argparse.Namespace) -> int:
    from .checkpoint_import import import_official, save_ours
    from .export import export_onnx

    model, meta = import_official(args.checkpoint)
    print(f"imported {args.checkpoint}: {json.dumps(meta)}")
    if args.output:
        save_ours(model, args.output, meta)
        print(f"wrote {args.output}")
    if args.onnx:
        export_onnx(model, args.onnx)
        print(f"wrote {args.onnx}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .evaluate import dumps, evaluate, format_table, latency_ms

    result = evaluate(args.model, n_heldout=args.heldout, montage=args.montage, threads=args.threads,
                      folders=args.folder, compare=args.compare, nyu=not args.no_nyu,
                      montage_per_set=args.montage_per_set)
    if str(args.model).endswith(".onnx"):
        result["latency_ms_median"] = latency_ms(args.model, args.threads)
    print(format_table(result))
    text = dumps(result)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


class _Given(argparse.Action):
    """Store the value and note that the option was given: a resumed NetAdapt search takes
    only the settings given again (a default would silently replace the stored value, e.g.
    2000 long-term steps for the 600 the run started with)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        namespace.given = {*getattr(namespace, "given", ()), self.dest}


#: config field <- argparse dest, where they differ (the resume-changeable settings)
_PRUNE_FIELD = {"torch_threads": "threads_torch"}


def _prune(args: argparse.Namespace) -> int:

    from . import pareto
    from .data import cache_root
    from .netadapt import NetAdaptConfig, Search

    default_dir = cache_root() / "netadapt" / f"{args.provider}-{args.threads}t"
    run_dir = Path(args.run_dir) if args.run_dir else default_dir
    cfg = NetAdaptConfig(
        parent=str(Path(args.parent).resolve()) if args.parent else "", latency=args.latency,
        provider=args.provider, threads=args.threads, lut_runs=args.lut_runs, lut_path=args.lut or "",
        target_ms=args.target_ms, target_ratio=args.target_ratio, target_vs_pruned=args.target_vs_pruned,
        reduction=args.reduction, decay=args.decay, step=args.step, min_width=args.min_width,
        max_iterations=args.max_iterations, budget=args.budget, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, threads_torch=args.torch_threads, workers=args.workers, real=list(args.real),
        render_share=args.render_share, val=list(args.val),
        val_stride=args.val_stride, select=args.select, measure_every=args.measure_every,
        long_steps=args.long_steps, long_lr=args.long_lr, points=args.points, official=not args.no_official,
        also_iterations=list(args.also_iterations), long_batch_size=args.long_batch_size,
        long_warmup_steps=args.long_warmup_steps, stop_on=args.stop_on,
        data_on_device=args.data_on_device, frozen_bn=args.frozen_bn, teacher=args.teacher or "",
        distill_weight=args.distill_weight, distill_rendered=args.distill_rendered,
    )
    if not (run_dir / "config.json").exists() and not args.parent:
        print("error: --parent is needed to start a search", file=sys.stderr)
        return 2
    given = {_PRUNE_FIELD.get(d, d) for d in getattr(args, "given", ())}
    if args.no_official:
        given.add("official")
    search = Search(run_dir, cfg, given=given)
    print(f"netadapt run directory: {run_dir}", flush=True)
    if args.stage == "lut" or (args.stage == "all" and not (run_dir / "lut_check.json").exists()):
        search.check_table(rounds=args.rounds, refine=args.refine)
    if args.stage in ("all", "search"):
        search.run()
    if args.stage in ("all", "finalize", "report"):
        final = run_dir / "final.json"
        if args.stage == "report" and not final.exists():
            print(f"error: {final} missing: run --stage finalize first", file=sys.stderr)
            return 2
        rows = json.loads(final.read_text()) if args.stage == "report" else search.finalize()
        final.write_text(json.dumps(rows, indent=1))
        pareto.report(search, rows, rounds=args.rounds, plot=args.plot)
    return 0


def register(subparsers) -> None:
    """Add the training subcommands to an ``argparse`` subparsers object."""
    p = subparsers.add_parser("train", help="train FastDepth on rendered indoor scenes")
    p.add_argument("--preset", default="pruned", choices=["pruned", "full"])
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--warmup-steps", type=int, default=100, help="linear warm-up before the cosine decay")
    p.add_argument("--scenes", type=int, default=12000, help="max training scenes (seeds)")
    p.add_argument("--workers", type=int, default=1, help="data loader processes")
    p.add_argument("--render-workers", type=int, default=1,
                   help="background processes rendering training scenes while training (0: train "
                   "on what `fastdepth-ros render` cached, at least the first 64 scenes)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-dir", help="default ~/.cache/fastdepth_ros/runs/default")
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--eval-scenes", type=int, default=50)
    p.add_argument("--export", help=f"ship ONNX + card here at each evaluation (e.g. {DEFAULT_ONNX})")
    p.add_argument("--card-heldout", type=int, default=100)
    p.add_argument("--no-resume", action="store_true", help="ignore an existing last.pth")
    p.add_argument("--init", default="scratch", choices=["scratch", "imagenet"],
                   help="encoder initialisation (imagenet: the paper's; needs --pretrained)")
    p.add_argument("--pretrained", help="ImageNet MobileNet-v1 npz (fastdepth-ros imagenet-npz builds it)")
    p.add_argument("--init-from", help="start from this checkpoint's or ONNX file's weights")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    p.add_argument("--frozen-bn", action="store_true",
                   help="keep BatchNorm statistics as loaded (for --init-from an ONNX, whose BN is folded)")
    p.add_argument("--real", action="append", default=[], metavar="DIR[:FIRST-LAST]",
                   help="RGB-D folder to train on (repeatable; rgb/, depth/ mm, meta.json)")
    p.add_argument("--render-share", type=float, default=1.0,
                   help="fraction of each batch from rendered scenes; the rest from --real folders")
    p.add_argument("--val", action="append", default=[], metavar="DIR[:FIRST-LAST]",
                   help="RGB-D folder to validate on at each evaluation (repeatable; 'nyu_sample' "
                   "= the official NYU sample); default: held-out rendered scenes")
    p.add_argument("--teacher", help="ONNX teacher for distillation on the real frames")
    p.add_argument("--distill-weight", type=float, default=0.0, help="weight of the L1 to the teacher")
    p.add_argument("--distill-rendered", action="store_true",
                   help="the teacher's target on rendered scenes too")
    p.add_argument("--log", help="JSON lines of evaluations (default CHECKPOINT_DIR/eval.jsonl)")
    p.add_argument("--device", default="cpu",
                   help="cpu, or cuda[:N]: frames, augmentation, teacher and model on that GPU")
    p.add_argument("--data-on-device", action="store_true",
                   help="make batches on --device (always on a GPU; on a CPU it replaces the data loader)")
    p.add_argument("--time-budget-min", type=float, default=0.0,
                   help="lower --steps after a calibration so the run ends in this many minutes")
    p.set_defaults(func=_train)

    from .adapt import add_args as add_adapt_args

    p = subparsers.add_parser(
        "adapt", help="fine-tune the model to your camera and rooms from a bag with registered depth",
        description="One command from a recorded bag (colour, registered depth, camera_info) to "
        "DIR/model.onnx, DIR/card.md and DIR/report.json: the bag as an RGB-D folder, a split by time, "
        "the shipped fine-tune recipe within a time budget (resumable), WiSE-FT alpha chosen on held-out "
        "frames and a generality check (docs/model.md).")
    add_adapt_args(p)
    p.set_defaults(func=_adapt)

    p = subparsers.add_parser("interpolate", help="weight-space mix of a fine-tune and its start (WiSE-FT): "
                              "(1 - alpha) START + alpha TUNED")
    p.add_argument("start", help="the fine-tune's starting weights (.pth or .onnx)")
    p.add_argument("tuned", help="the fine-tuned checkpoint (.pth or .onnx)")
    p.add_argument("--alpha", type=float, default=0.5, help="0 = start, 1 = tuned (WiSE-FT's default 0.5)")
    p.add_argument("-o", "--output", required=True, help="our .pth checkpoint to write")
    p.add_argument("--why", help="how alpha was chosen, for the model card")
    p.set_defaults(func=_interpolate)

    p = subparsers.add_parser("scale-folder", help="write a resized copy of an RGB-D folder (intrinsics "
                              "scaled; depth sampled nearest, so holes stay holes)")
    p.add_argument("source", metavar="DIR[:FIRST-LAST]")
    p.add_argument("output")
    p.add_argument("--scale", type=float, required=True, help="e.g. 0.5 for half width and height")
    p.add_argument("--jpeg-quality", type=int, default=92)
    p.add_argument("--every", type=int, default=1, help="keep every n-th frame")
    p.set_defaults(func=_scale_folder)

    p = subparsers.add_parser("render", help="render training (or held-out) scenes into the cache")
    p.add_argument("--scenes", type=int, default=3000, help="how many seeds")
    p.add_argument("--start", type=int, default=0, help="first seed")
    p.add_argument("--heldout", action="store_true", help="the held-out evaluation seeds instead")
    p.add_argument("--workers", type=int, default=1, help="rendering processes")
    p.set_defaults(func=_render)

    p = subparsers.add_parser("imagenet-npz", help="rebuild the ImageNet MobileNet-v1 npz for --init "
                              "imagenet from its PyPI source (no TensorFlow needed)")
    p.add_argument("-o", "--output", required=True, help="npz to write")
    p.add_argument("--sdist", help="a local nudity-0.2.3.tar.gz instead of downloading it")
    p.set_defaults(func=_imagenet_npz)

    p = subparsers.add_parser("export", help="export a training checkpoint to ONNX")
    p.add_argument("checkpoint", help="our .pth (from train or import-checkpoint)")
    p.add_argument("-o", "--output", default=DEFAULT_ONNX)
    p.add_argument("--card", action="store_true", help="also evaluate and write the .json card")
    p.add_argument("--heldout", type=int, default=100)
    p.add_argument("--folder", action="append", default=[], metavar="DIR[:FIRST-LAST]",
                   help="RGB-D folders for the card's accuracy (default: the run's --val folders)")
    p.add_argument("--compare", help="a second model evaluated on the same frames (e.g. the reference)")
    p.add_argument("--montage", help="also write an evaluation montage PNG")
    p.add_argument("--wall-time-h", type=float,
                   help="training wall time on this 2-core CPU to record in the card")
    p.add_argument("--trained-on", help="where and how long it trained, for the card (e.g. a GPU run)")
    p.add_argument("--docs", help="with --card: rewrite the generated accuracy table in this markdown file")
    p.add_argument("--run-log", action="append", default=[], metavar="RECIPE=EVAL_JSONL",
                   help="with --card: record a training run's validation curve under this recipe name")
    p.set_defaults(func=_export)

    p = subparsers.add_parser(
        "import-checkpoint", help="convert an official mobilenet-nnconv5dw-skipadd*.pth.tar"
    )
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", help="write our .pth checkpoint")
    p.add_argument("--onnx", help="also export ONNX here")
    p.set_defaults(func=_import)

    p = subparsers.add_parser("eval", help="evaluate an .onnx or .pth model (beside another one)")
    p.add_argument("model", nargs="?", default=DEFAULT_ONNX)
    p.add_argument("--folder", action="append", default=[], metavar="DIR[:FIRST-LAST]",
                   help="RGB-D folder (rgb/, depth/ uint16 mm, meta.json) to evaluate on; repeatable")
    p.add_argument("--compare", help="a second .onnx/.pth evaluated on the same frames (e.g. the reference)")
    p.add_argument("--no-nyu", action="store_true", help="skip the official NYU sample")
    p.add_argument("--montage-per-set", type=int, default=3, help="montage rows per evaluation set")
    p.add_argument("--heldout", type=int, default=100, help="held-out rendered scenes")
    p.add_argument("--montage",
                   help="also write a montage PNG here: RGB | prediction(s) | ground truth | error")
    p.add_argument("--json", help="also write the JSON result here")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_eval)

    p = subparsers.add_parser(
        "prune", help="NetAdapt: prune a full-width checkpoint for the latency measured on this runtime",
        description="NetAdapt (Yang et al. 2018) as FastDepth used it; resumable: run the same command again "
        "after an interruption (docs/netadapt.md)")
    p.add_argument("--parent", help="our .pth (fastdepth-ros train --preset full ...) or an exported .onnx "
                   "(e.g. models/fastdepth.onnx; with --frozen-bn)")
    p.add_argument("--run-dir", help="state directory (default ~/.cache/fastdepth_ros/netadapt/PROVIDER-Nt)")
    p.add_argument("--stage", default="all", choices=["all", "lut", "search", "finalize", "report"],
                   help="lut: check the latency table against whole networks; search: the NetAdapt loop; "
                   "finalize: long-term fine-tunes + Pareto table/plot; report: only the table/plot")
    p.add_argument("--latency", default="ort", choices=["ort", "macs"],
                   help="ort: per-block tables measured on --provider; macs: MACs as a proxy (no timing)")
    p.add_argument("--provider", default="cpu", help="ORT execution provider: cpu, cuda, tensorrt")
    p.add_argument("--threads", type=int, default=2, help="ORT intra-op threads for all timings")
    p.add_argument("--lut-runs", type=int, default=40, help="timed runs per table entry (the fastest counts)")
    p.add_argument("--lut", help="latency table JSON (default: under ~/.cache/fastdepth_ros/latency/)")
    p.add_argument("--target-ms", type=float, default=0.0, help="final latency target in ms")
    p.add_argument("--target-ratio", type=float, default=0.0, help="... or as a fraction of the parent's")
    p.add_argument("--target-vs-pruned", type=float, default=1.3,
                   help="default target: the official pruned widths' latency divided by this")
    p.add_argument("--reduction", type=float, default=0.05,
                   help="first iteration's latency reduction, fraction of the parent's latency")
    p.add_argument("--decay", type=float, default=0.96, help="per-iteration decay of the reduction")
    p.add_argument("--step", type=int, default=8, help="widths are multiples of this")
    p.add_argument("--min-width", type=int, default=8)
    p.add_argument("--max-iterations", action=_Given, type=int, default=100)
    p.add_argument("--budget", type=int, default=50, help="short-term fine-tune steps per proposal")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.002, help="short-term fine-tune learning rate (constant)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch-threads", action=_Given, type=int, default=1,
                   help="torch intra-op threads for the fine-tunes")
    p.add_argument("--workers", action=_Given, type=int, default=1,
                   help="data loader processes for the fine-tunes")
    p.add_argument("--data-on-device", action="store_true",
                   help="fine-tune batches from frames held in memory (faster on a small CPU)")
    p.add_argument("--frozen-bn", action="store_true",
                   help="keep BatchNorm as loaded (needed for an .onnx parent: its BatchNorm is folded)")
    p.add_argument("--teacher", help="ONNX teacher for distillation in every fine-tune")
    p.add_argument("--distill-weight", type=float, default=0.0)
    p.add_argument("--distill-rendered", action="store_true",
                   help="the teacher's target on rendered scenes too")
    p.add_argument("--real", action="append", default=[], metavar="DIR[:FIRST-LAST]",
                   help="RGB-D folder to fine-tune on (repeatable)")
    p.add_argument("--render-share", type=float, default=0.3,
                   help="fraction of each batch from rendered scenes")
    p.add_argument("--val", action="append", default=[], metavar="DIR[:FIRST-LAST]",
                   help="held-out RGB-D folder to select and report on (repeatable; disjoint from --real)")
    p.add_argument("--val-stride", type=int, default=4, help="proposals are validated on every n-th frame")
    p.add_argument("--select", default="delta1", choices=["delta1", "delta1_scaled", "agreement"],
                   help="keep the proposal with the best mean over the --val folders of δ1, median-"
                        "scaled δ1, or δ1 against the parent's depth (agreement: when the labelled "
                        "frames are from the fine-tuned scenes)")
    p.add_argument("--measure-every", action=_Given, type=int, default=1,
                   help="measure the chosen network's whole latency every n iterations (0: never)")
    p.add_argument("--stop-on", action=_Given, default="table", choices=["table", "measured"],
                   help="table: stop when the latency table meets the target; measured: also as "
                   "soon as the chosen network's measured latency meets the goal measured the same way")
    p.add_argument("--long-steps", action=_Given, type=int, default=2000,
                   help="long-term fine-tune steps per final point")
    p.add_argument("--long-lr", action=_Given, type=float, default=0.01)
    p.add_argument("--long-batch-size", action=_Given, type=int, default=0, help="0: --batch-size")
    p.add_argument("--long-warmup-steps", action=_Given, type=int, default=-1,
                   help="-1: min(100, long steps / 10)")
    p.add_argument("--points", action=_Given, type=int, default=1,
                   help="NetAdapt points to long-term fine-tune")
    p.add_argument("--also-iterations", action=_Given, type=int, nargs="*", default=[], metavar="K",
                   help="long-term fine-tune these iterations too (e.g. the first whose measured "
                   "latency meets the goal)")
    p.add_argument("--no-official", action="store_true", help="skip the official pruned widths' row")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved whole-network measuring rounds (table check, Pareto table)")
    p.add_argument("--refine", type=int, default=2,
                   help="extra measuring passes over the checked networks' table entries (stage lut)")
    p.add_argument("--plot", help="also copy the Pareto PNG here")
    p.set_defaults(func=_prune)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastdepth-ros")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
