"""``fastdepth-ros bench`` command line: options, the run and the printed/written result.

Every default measures what a user's machine has: the shipped model and the unpruned
architecture; the official reference model only with ``--reference-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Optional, Sequence

from .report import render
from .run import DEFAULT_E2E_MODES, log, run_bench, run_points_only

DESCRIPTION = "what this machine does with FastDepth, in one JSON + one table"


def add_bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="", help="JSON result file (default: print only)")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke setting: few runs, 3 s e2e (numbers not meaningful)")
    p.add_argument("--runs", type=int, default=200, help="timed runs per configuration")
    p.add_argument("--warmup", type=int, default=20, help="warm-up runs per configuration")
    p.add_argument("--budget", type=float, default=8.0,
                   help="max seconds of timed runs per configuration (0 = no limit)")
    p.add_argument("--threads", default="1,2", help="ORT/torch intra-op thread counts")
    p.add_argument("--providers", default="",
                   help="execution providers to measure (default: every compute EP this ORT offers)")
    p.add_argument("--models", default="shipped,unpruned",
                   help="which of shipped,reference,unpruned to measure (reference needs --reference-dir)")
    p.add_argument("--model", action="append", default=[], metavar="LABEL=PATH",
                   help="extra ONNX model to measure (repeatable)")
    p.add_argument("--reference-dir", default=os.environ.get("FASTDEPTH_REFERENCE_DIR", ""),
                   help="folder with the official fastdepth_pruned_ref.onnx (+ _layers.json), for "
                        "--models ...,reference (default: $FASTDEPTH_REFERENCE_DIR)")
    p.add_argument("--no-eager", action="store_true", help="skip PyTorch eager timing")
    p.add_argument("--no-spin-variant", action="store_true",
                   help="skip the CPU sessions with ORT intra-op spinning off (threads > 1)")
    p.add_argument("--no-breakdown", action="store_true", help="skip encoder/decoder profiling")
    p.add_argument("--profile-runs", type=int, default=100, help="profiled runs per model")
    p.add_argument("--no-e2e", action="store_true", help="skip the node end-to-end run")
    p.add_argument("--e2e-model", default="shipped",
                   help="model label (or ONNX path) for the node run (default: shipped)")
    p.add_argument("--e2e-modes", default=DEFAULT_E2E_MODES,
                   help="comma list of publish rates in Hz, 'max', 'lockstep' and/or 'idle[@Hz]' "
                   "(camera publishing, depth not subscribed: node CPU while idle)")
    p.add_argument("--e2e-seconds", type=float, default=10.0, help="measuring window per mode")
    p.add_argument("--e2e-whatif", default="",
                   help="also run the first rate with other node configurations, e.g. "
                        "'nospin,1thread' (spin: ort_allow_spinning:=true; nospin: "
                        "ort_allow_spinning:=false; 1thread: intra_op_threads:=1)")
    p.add_argument("--no-relay", action="store_true",
                   help="skip the transport-floor run (a relay node without model)")
    p.add_argument("--e2e-param", action="append", default=[], metavar="NAME:=VALUE",
                   help="extra depth_node parameter (repeatable)")
    p.add_argument("--no-points", action="store_true", help="skip the depth/points cost")
    p.add_argument("--points-only", action="store_true",
                   help="only the depth/points cost (224x224 and 640x480 grids, strides 1, 2, 4) and the "
                        "node's default per-frame pipeline (--e2e-model); seconds, no DDS")
    p.add_argument("--peak-size", type=int, default=1024, help="square MatMul size for the peak")
    p.add_argument("--label", default="", help="machine label stored in the result")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="latency/throughput benchmark: model-only, encoder/decoder, eager, node e2e",
        description=DESCRIPTION)
    add_bench_args(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.quick:
        args.runs, args.warmup, args.profile_runs = min(args.runs, 10), min(args.warmup, 2), 5
        args.e2e_seconds, args.peak_size = min(args.e2e_seconds, 3.0), min(args.peak_size, 256)
    results = run_points_only(args) if args.points_only else run_bench(args)
    text = render(results)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
        log("wrote %s" % out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="run_bench", description=DESCRIPTION)
    add_bench_args(parser)
    return cmd_bench(parser.parse_args(argv))
