"""``fastdepth-ros``: the command line tool (infer; training, replay and bench add theirs).

Subcommands register themselves from their own modules, imported lazily, so ``--help``
and ``infer`` never import torch or rclpy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .engine import EngineConfig, ModelLoadError
from .stats import percentile, summarize_ms


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    """Model/provider options shared by every subcommand that runs the model."""
    parser.add_argument("--model", default="", help="ONNX model (default: the package's own model)")
    parser.add_argument(
        "--providers",
        default="cpu",
        help="comma-separated execution providers in order of preference: tensorrt,cuda,cpu",
    )
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0 = ORT default)")
    parser.add_argument("--fp16", action="store_true", help="TensorRT fp16")
    parser.add_argument("--device-id", type=int, default=0)
    parser.add_argument("--trt-cache", default="", help="TensorRT engine cache directory")


def add_pipeline_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-mode", choices=("crop", "full"), default="crop")
    parser.add_argument("--output-size", default="model", help="model | input | WxH")
    parser.add_argument("--min-range", type=float, default=0.1, help="metres")
    parser.add_argument("--max-range", type=float, default=10.0, help="metres")


def engine_from_args(args: argparse.Namespace):
    from .engine import Engine
    from .resources import default_model_path

    config = EngineConfig(
        providers=[p for p in args.providers.split(",") if p.strip()],
        device_id=args.device_id,
        fp16=args.fp16,
        trt_engine_cache_path=args.trt_cache,
        intra_op_threads=args.threads,
    )
    return Engine(args.model or str(default_model_path()), config)


def pipeline_from_args(args: argparse.Namespace, engine):
    from .pipeline import DepthPipeline, PipelineConfig

    return DepthPipeline(
        engine,
        PipelineConfig(
            input_mode=args.input_mode,
            output_size=args.output_size,
            min_range_m=args.min_range,
            max_range_m=args.max_range,
        ),
    )


def load_rgb8(path: Path) -> np.ndarray:
    """An image file (any format OpenCV reads) or a .npy HxWx3 array -> HxWx3 uint8 RGB.

    Float .npy arrays are taken as RGB in [0, 1], the official sample's format.
    """
    if path.suffix == ".npy":
        arr = np.load(path)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError("%s: expected HxWx3, got shape %s" % (path, arr.shape))
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        return arr
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("%s: not an image OpenCV can read" % path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def cmd_infer(args: argparse.Namespace) -> int:
    import cv2

    from .visualize import colorize_depth

    try:
        engine = engine_from_args(args)
    except ModelLoadError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    pipeline = pipeline_from_args(args, engine)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print("model %s on %s%s" % (engine.model_path, engine.provider,
                                "" if not engine.notes else " (" + "; ".join(engine.notes) + ")"))
    stages: Dict[str, List[float]] = {}
    for name in args.images:
        path = Path(name)
        t0 = time.perf_counter()
        try:
            rgb = load_rgb8(path)
        except (OSError, ValueError) as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 2
        load_ms = (time.perf_counter() - t0) * 1e3
        if args.input_mode == "crop" and tuple(rgb.shape[:2]) == tuple(engine.input_hw):
            # a frame at the model's size is usually already preprocessed (the official
            # evaluation's 224x224 crops): cropping it again gives a different, wrong depth
            print("note: %s is already %dx%d (the model input); crop mode crops it again. "
                  "Use --input-mode full for preprocessed frames." % (path.name, rgb.shape[1], rgb.shape[0]),
                  file=sys.stderr)
        per_image: Dict[str, List[float]] = {}
        for _ in range(max(args.repeat, 1)):
            result = pipeline.process(rgb)
            for k, v in result.timings_ms.items():
                per_image.setdefault(k, []).append(v)
        t1 = time.perf_counter()
        np.save(out_dir / (path.stem + "_depth.npy"), result.depth)
        png = colorize_depth(result.depth, args.min_range, args.max_range, result.encoding)
        cv2.imwrite(str(out_dir / (path.stem + "_depth.png")), cv2.cvtColor(png, cv2.COLOR_RGB2BGR))
        write_ms = (time.perf_counter() - t1) * 1e3
        timings = {"load": load_ms, **{k: percentile(v, 50) for k, v in per_image.items()},
                   "write": write_ms}
        for k, v in timings.items():
            stages.setdefault(k, []).append(v)
        d = result.depth[np.isfinite(result.depth)] if result.encoding == "32FC1" else result.depth
        print("%s: %dx%d -> %dx%d depth %.2f..%.2f m | %s" % (
            path.name, rgb.shape[1], rgb.shape[0], result.depth.shape[1], result.depth.shape[0],
            float(d.min()) if d.size else float("nan"), float(d.max()) if d.size else float("nan"),
            " ".join("%s %.2f ms" % kv for kv in timings.items())))
    summary = {k: summarize_ms(v) for k, v in stages.items()}
    (out_dir / "timings.json").write_text(json.dumps({"engine": engine.describe(), "stages_ms": summary},
                                                    indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastdepth-ros", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("infer", help="run the model on image files, write .npy depth + colour PNG")
    p.add_argument("images", nargs="+", help="image files (PNG/JPEG/...) or HxWx3 .npy")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--repeat", type=int, default=1, help="runs per image for timing (median)")
    add_engine_args(p)
    add_pipeline_args(p)
    p.set_defaults(func=cmd_infer)
    for module in _optional_command_modules():
        module.register(sub)
    return parser


def _optional_command_modules() -> list:
    """Subcommand providers that exist in this install (training needs torch only to run)."""
    import importlib

    found = []
    for name in ("fastdepth_ros.training.cli", "fastdepth_ros.replay.cli", "fastdepth_ros.bench.cli"):
        try:
            found.append(importlib.import_module(name))
        except ImportError as exc:
            if not str(getattr(exc, "name", "") or "").startswith("fastdepth_ros"):
                raise
    return found


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .resources import ReferenceDataError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ReferenceDataError as exc:  # development data not named: say so, no traceback
        print("fastdepth-ros %s: error: %s" % (args.command, exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
