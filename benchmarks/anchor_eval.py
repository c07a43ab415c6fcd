#!/usr/bin/env python3
"""Metric scale anchoring, measured: δ1 before/after anchors on held-out real frames, and
what anchoring adds to the per-frame latency.  Prints JSON (and writes it with ``--out``).

    .venv/bin/python benchmarks/anchor_eval.py --out benchmarks/results/anchor_eval.json

Frames: the RealSense office set (all 10, validation only) and the 7-Scenes validation split
(``7scenes_redkitchen:800-998``), read from FASTDEPTH_REALDATA_DIR (default
``../shared/realdata``), never copied.  Each frame goes through the node's own
:class:`~fastdepth_ros.pipeline.DepthPipeline` (``input_mode: crop``, model grid, focal
scaling from the folder's intrinsics) and the node's :class:`~fastdepth_ros.anchor.Anchoring`
(default parameters; frames stamped at the set's rate), for the shipped model and, on the
same frames, the official model (FASTDEPTH_REFERENCE_DIR, canonical focal 229.948 px).
Scores are against the ground truth on the model grid (the official val transform):

* ``metric``: the model's own scale; ``median_scaled``: per-frame median scaling with the
  ground truth itself (the shape limit, an upper bound no anchor can beat on average);
* ``sparse40``: 40 random valid ground-truth pixels per frame on anchor/depth;
  ``sparse40_gt_x2``: the same with ground truth and anchors x2 (another "world");
* ``range``: a Range of full cone angle ``--range-fov`` from the ground truth's centre;
* ``dense``: the whole ground-truth image as anchor/depth (a depth camera); the live
  accuracy the node would report (held-out checkerboard half) is given beside.

Latency: ``pipeline.process`` wall time per frame, frames paced at 30 Hz, with no anchors,
40 sparse anchors and a dense 640x480 anchor: the three modes run on the same frame in a
random order each period, so a difference is paired (median of per-period differences), in
wall time and in process CPU time (which a loaded machine's preemption does not inflate);
and the anchoring hook's own time inside ``process`` (what anchoring adds to the path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastdepth_ros.anchor import AnchorConfig, Anchoring  # noqa: E402
from fastdepth_ros.engine import Engine, EngineConfig  # noqa: E402
from fastdepth_ros.geometry import CameraIntrinsics  # noqa: E402
from fastdepth_ros.metrics import MetricsAccumulator, compute_metrics, median_scaled  # noqa: E402
from fastdepth_ros.pipeline import DepthPipeline, PipelineConfig  # noqa: E402
from fastdepth_ros.replay.anchor_sim import range_reading, sparse_anchor  # noqa: E402
from fastdepth_ros.resources import default_model_path, reference_dir  # noqa: E402

OFFICIAL_CANONICAL_FOCAL_PX = 229.948  # NYU's Kinect through the official crop (docs/node.md)
SETS = {"realsense_office": ("realsense_office", 10.0), "7scenes_val": ("7scenes_redkitchen:800-998", 15.0)}


def realdata_dir() -> Path:
    return Path(os.environ.get("FASTDEPTH_REALDATA_DIR", ROOT.parent / "shared" / "realdata"))


def camera_of(folder: Any) -> CameraIntrinsics:
    k = np.array([[folder.fx, 0, folder.cx], [0, folder.fy, folder.cy], [0, 0, 1.0]])
    return CameraIntrinsics(width=folder.width, height=folder.height, k=k, p=np.hstack([k, np.zeros((3, 1))]))


def evaluate_set(pipeline: DepthPipeline, folder: Any, rate_hz: float, range_fov: float,
                 n_points: int, seed: int) -> Dict[str, Any]:
    camera = camera_of(folder)
    canon = pipeline.canonical_focal_px
    rng = np.random.default_rng(seed)
    acc = {name: MetricsAccumulator() for name in
           ("metric", "median_scaled", "sparse", "sparse_gt_x2", "range", "dense")}
    anchorings = {name: Anchoring(AnchorConfig()) for name in ("sparse", "sparse_gt_x2", "range", "dense")}
    live: List[Dict[str, float]] = []
    offline_live: List[float] = []
    anchored_frames = {name: 0 for name in anchorings}
    for i in range(len(folder)):
        rgb, gt = folder.load(i)
        stamp_ns = int(1e9 + i * 1e9 / rate_hz) * 1
        geo = pipeline.geometry(rgb.shape[:2], camera)
        rows, cols = geo.sampling.row_indices[:, None], geo.sampling.col_indices[None, :]
        gt_grid = gt[rows, cols]
        plain = pipeline.process(rgb, camera).depth
        acc["metric"].add(compute_metrics(plain, gt_grid))
        acc["median_scaled"].add(compute_metrics(median_scaled(plain, gt_grid), gt_grid))
        truth = {"sparse": gt_grid, "sparse_gt_x2": gt_grid * 2, "range": gt_grid, "dense": gt_grid}
        anchorings["sparse"].add_depth(sparse_anchor(gt, n_points, rng), stamp_ns, gt.shape)
        anchorings["sparse_gt_x2"].add_depth(sparse_anchor(gt, n_points, rng, 2.0), stamp_ns, gt.shape)
        reading = range_reading(gt, camera.k, range_fov)
        if reading is not None:
            anchorings["range"].add_range(reading, 0.05, 40.0, range_fov, stamp_ns)
        dense = np.where(gt > 0, gt, np.nan).astype(np.float32)
        anchorings["dense"].add_depth(dense, stamp_ns, gt.shape)
        for name, anch in anchorings.items():
            result = pipeline.process(rgb, camera, _timed(anch, stamp_ns, camera, canon, []))
            anchored_frames[name] += result.anchor_scale is not None
            acc[name].add(compute_metrics(result.depth, truth[name]))
            if name == "dense":
                got = anch.maybe_live_accuracy(result.depth, result.geometry, camera, stamp_ns,
                                               now_s=float(i))
                if got is not None:
                    live.append({"delta1": got.delta1, "absrel": got.absrel, "pixels": got.pixels})
                    offline_live.append(compute_metrics(result.depth, gt_grid).delta1)
    out: Dict[str, Any] = {"frames": len(folder), "anchored_frames": anchored_frames}
    for name, a in acc.items():
        m = a.mean()
        out[name] = {"delta1": round(m.delta1, 4), "absrel": round(m.absrel, 4), "rmse_m": round(m.rmse_m, 4)}
    out["dense_live_accuracy_mean"] = {
        "delta1": round(float(np.mean([x["delta1"] for x in live])), 4) if live else None,
        "absrel": round(float(np.mean([x["absrel"] for x in live])), 4) if live else None,
        "vs_full_gt_delta1": round(float(np.mean(offline_live)), 4) if offline_live else None,
    }
    ub = out["median_scaled"]["delta1"]
    out["ratios_to_median_scaled"] = {n: round(out[n]["delta1"] / ub, 3)
                                      for n in ("sparse", "sparse_gt_x2", "range")}
    return out


def latency(pipeline: DepthPipeline, folder: Any, n_points: int, frames: int) -> Dict[str, Any]:
    """Per-frame process() time at 30 Hz pacing: none / sparse / dense anchors, interleaved."""
    camera = camera_of(folder)
    canon = pipeline.canonical_focal_px
    rng = np.random.default_rng(1)
    rgb, gt = folder.load(0)
    modes = {"none": None, "sparse40": Anchoring(AnchorConfig()), "dense": Anchoring(AnchorConfig())}
    times: Dict[str, List[float]] = {m: [] for m in modes}
    cpu: Dict[str, List[float]] = {m: [] for m in modes}
    hook: Dict[str, List[float]] = {m: [] for m in modes if modes[m] is not None}
    for _ in range(5):
        pipeline.process(rgb, camera)
    t_next = time.perf_counter()
    for i in range(frames):
        stamp_ns = int(1e9 + i * 1e9 / 30.0)
        modes["sparse40"].add_depth(sparse_anchor(gt, n_points, rng), stamp_ns, gt.shape)
        modes["dense"].add_depth(np.where(gt > 0, gt, np.nan).astype(np.float32), stamp_ns, gt.shape)
        order = list(modes.items())
        rng.shuffle(order)
        for mode, anch in order:
            t_next += 1.0 / 30.0 / len(modes)
            time.sleep(max(0.0, t_next - time.perf_counter()))
            rescale = None if anch is None else _timed(anch, stamp_ns, camera, canon, hook[mode])
            t0, c0 = time.perf_counter(), time.process_time()
            pipeline.process(rgb, camera, rescale)
            times[mode].append((time.perf_counter() - t0) * 1e3)
            cpu[mode].append((time.process_time() - c0) * 1e3)
    out: Dict[str, Any] = {"frames_per_mode": frames, "rate_hz": 30.0,
                           "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    for mode, t in times.items():
        out[mode] = _summary(t)
    for mode in ("sparse40", "dense"):
        diff = np.array(times[mode]) - np.array(times["none"])  # paired: same period
        out["%s_minus_none_median_ms" % mode] = round(float(np.median(diff)), 3)
        cpu_diff = np.array(cpu[mode]) - np.array(cpu["none"])
        out["%s_minus_none_cpu_median_ms" % mode] = round(float(np.median(cpu_diff)), 3)
        # what anchoring itself adds to the latency path (the fit inside process()), free of
        # the load of a shared machine that moves the end-to-end figures by milliseconds
        out["%s_hook" % mode] = _summary(hook[mode])
    return out


def _summary(t: List[float]) -> Dict[str, float]:
    return {"median_ms": round(float(np.median(t)), 3), "p95_ms": round(float(np.percentile(t, 95)), 3)}


def _timed(anch: Anchoring, stamp_ns: int, camera: CameraIntrinsics, canon: Optional[float],
           sink: List[float]) -> Any:
    def rescale(m: np.ndarray, g: Any) -> Optional[float]:
        t0 = time.perf_counter()
        scale = anch.scale_for(m, g, stamp_ns, camera, canon).scale
        sink.append((time.perf_counter() - t0) * 1e3)
        return scale
    return rescale


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None)
    p.add_argument("--points", type=int, default=40)
    p.add_argument("--range-fov", type=float, default=0.1, help="rad, full cone angle")
    p.add_argument("--latency-frames", type=int, default=150)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency-only", action="store_true", help="skip the accuracy sets")
    args = p.parse_args(argv)
    from fastdepth_ros.training.folders import RGBDFolder

    root = realdata_dir()
    if not root.is_dir():
        print("no real data at %s (set FASTDEPTH_REALDATA_DIR)" % root, file=sys.stderr)
        return 2
    models = {"shipped": (str(default_model_path()), 0.0)}
    ref = reference_dir() / "fastdepth_pruned_ref.onnx"
    if ref.is_file():
        models["official"] = (str(ref), OFFICIAL_CANONICAL_FOCAL_PX)
    config = EngineConfig(providers=["cpu"], intra_op_threads=args.threads, warmup_runs=1)
    result: Dict[str, Any] = {"points": args.points, "range_fov_rad": args.range_fov, "seed": args.seed,
                              "anchor_config": AnchorConfig().__dict__, "sets": {}}
    for set_name, (spec, rate) in ({} if args.latency_only else SETS).items():
        folder = RGBDFolder(str(root / spec))
        result["sets"][set_name] = {"rate_hz": rate}
        for model_name, (path, canon) in models.items():
            pipeline = DepthPipeline(Engine(path, config), PipelineConfig(canonical_focal_px=canon))
            result["sets"][set_name][model_name] = evaluate_set(pipeline, folder, rate, args.range_fov,
                                                                args.points, args.seed)
            print("%s %s done" % (set_name, model_name), file=sys.stderr)
    if args.latency_frames:
        folder = RGBDFolder(str(root / "realsense_office"))
        pipeline = DepthPipeline(Engine(models["shipped"][0], config))
        result["latency_30hz"] = latency(pipeline, folder, args.points, args.latency_frames)
    text = json.dumps(result, indent=1, default=list)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
