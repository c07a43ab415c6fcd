"""Replay report: accuracy against ground truth, latency, rate, drops; JSON + CSV + PNG.

Grid registration (how prediction and ground truth are compared): the depth image is
compared on *its own* grid.  Each depth pixel ``(u, v)`` is mapped into the ground-truth
image through the two pinhole models, ``x = fx_gt / fx_d * (u - cx_d) + cx_gt`` (same for
``y``), and the ground truth is sampled there (nearest neighbour; outside the image:
invalid).  ``K_d`` comes from the node's ``depth/camera_info`` with the same stamp (it
describes the model's 224x224 crop grid by default, or the camera grid with
``output_size: input``), ``K_gt`` from the bag's colour ``camera_info`` (the ground truth
is registered to the colour camera, as in TUM/NYU and our bags; a GT image of another
size is assumed to be the same camera rescaled).  When ``depth/camera_info`` is missing
the depth must have the ground truth's size and is compared pixel for pixel.  With
``output_size: input`` in crop mode the node fills the area outside the model's view
with NaN; those pixels are outside the bounding box of finite depth and are excluded,
while NaN/Inf *inside* it count as failures (see :func:`fastdepth_ros.metrics.compute_metrics`).

Metrics are the official FastDepth ones over valid ground-truth pixels, per frame and
"overall" = the mean over frames (the official evaluation averages per-image metrics).
Latency is measured per frame from the moment the replay published the image (its
stamp's frame) to the moment the depth with that stamp arrived, on one monotonic clock.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..geometry import rescale_intrinsics
from ..imaging import depth_to_metres
from ..metrics import MetricsAccumulator, compute_metrics, median_scaled
from ..stats import percentile
from . import bagio

CSV_FIELDS = [
    "frame",
    "stamp_ns",
    "sent",
    "received",
    "latency_ms",
    "depth_encoding",
    "depth_width",
    "depth_height",
    "delta1",
    "delta2",
    "delta3",
    "rmse_m",
    "mae_m",
    "absrel",
    "log10",
    "valid_pixels",
    "delta1_median_scaled",
]


def detect_gt_topic(bag: bagio.BagReader, image_topic: str, explicit: Optional[str]) -> Optional[str]:
    topics = bag.topics
    if explicit:
        if explicit not in topics:
            raise bagio.BagError("%s: no ground-truth topic %s" % (bag.path, explicit))
        return explicit
    cands = sorted(
        t.name
        for t in topics.values()
        if t.msgtype == bagio.IMAGE and "depth" in t.name.lower() and t.name != image_topic
        and "anchor" not in t.name.lower()  # metric anchors (make-bag --anchor-points) are not the truth
    )
    return cands[0] if cands else None


def _k(info: Any) -> Tuple[float, float, float, float, int, int]:
    k = [float(x) for x in info.k]
    return k[0], k[4], k[2], k[5], int(info.width), int(info.height)


def map_to_grid(
    src: np.ndarray,
    k_src: Tuple[float, ...],
    k_dst: Tuple[float, ...],
    dst_hw: Tuple[int, int],
    fill: float = np.nan,
) -> np.ndarray:
    """Sample ``src`` (an image of camera ``k_src``) at each pixel of the grid ``k_dst``.

    ``k_*`` are ``(fx, fy, cx, cy, width, height)``; if ``src`` is not ``width x height``
    of its ``k_src`` the camera is taken as rescaled to ``src``'s size (pixel-centre rule).
    Nearest neighbour; pixels falling outside ``src`` get ``fill``.
    """
    fx_s, fy_s, cx_s, cy_s, w_s, h_s = k_src
    h, w = src.shape[:2]
    if (w, h) != (w_s, h_s) and w_s > 0 and h_s > 0:
        sx, sy = w / w_s, h / h_s
        fx_s, fy_s, cx_s, cy_s = rescale_intrinsics(fx_s, fy_s, cx_s, cy_s, sx, sy)
    fx_d, fy_d, cx_d, cy_d = k_dst[:4]
    hd, wd = dst_hw
    x = np.rint(fx_s / fx_d * (np.arange(wd) - cx_d) + cx_s).astype(np.int64)
    y = np.rint(fy_s / fy_d * (np.arange(hd) - cy_d) + cy_s).astype(np.int64)
    okx, oky = (x >= 0) & (x < w), (y >= 0) & (y < h)
    out = src[np.clip(y, 0, h - 1)[:, None], np.clip(x, 0, w - 1)[None, :]]
    outside = ~(oky[:, None] & okx[None, :])
    if outside.any():
        out = out.astype(np.float32) if (out.dtype.kind != "f" and not np.isfinite(fill)) else out.copy()
        out[outside] = fill
    return out


def footprint(depth: np.ndarray) -> np.ndarray:
    """Bounding box of finite depth as a mask (the model's view in an 'input'-sized output)."""
    finite = np.isfinite(depth)
    mask = np.zeros(depth.shape, bool)
    rows, cols = np.flatnonzero(finite.any(1)), np.flatnonzero(finite.any(0))
    if rows.size and cols.size:
        mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = True
    return mask


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/Inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def build_report(
    input_bag: Path,
    output_bag: Optional[Path],
    published: Sequence[Any],
    received: Sequence[Any],
    out_dir: Path,
    *,
    image_topic: str,
    info_topic: Optional[str],
    gt_topic: Optional[str] = None,
    depth_topic: str = "/depth/image",
    depth_info_topic: str = "/depth/camera_info",
    montage_frames: int = 4,
    min_range_m: float = 0.1,
    max_range_m: float = 10.0,
    extra: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Write ``report.json``, ``frames.csv`` and ``montage.png`` into ``out_dir``; return the report.

    ``published``: items with ``index, stamp_ns, bag_stamp_ns, sent_s`` (the player's log);
    ``received``: items with ``topic, stamp_ns, recv_s`` (the recorder's log).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    sent_by_stamp: Dict[int, Any] = {}
    for p in published:
        sent_by_stamp.setdefault(p.stamp_ns, p)
    first_recv: Dict[int, float] = {}
    for r in received:
        if r.topic == depth_topic and r.stamp_ns is not None and r.stamp_ns not in first_recv:
            first_recv[r.stamp_ns] = r.recv_s

    gt_topic, rows, acc, acc_scaled, montage, notes = _score_outputs(
        input_bag, output_bag, published, sent_by_stamp, first_recv, image_topic, info_topic, gt_topic,
        depth_topic, depth_info_topic, montage_frames)

    # ---- timing
    latencies = [
        (first_recv[p.stamp_ns] - p.sent_s) * 1e3 for p in sent_by_stamp.values() if p.stamp_ns in first_recv
    ]
    out_rate = _rate_hz([first_recv[s] for s in sent_by_stamp if s in first_recv])
    in_rate = _rate_hz([p.sent_s for p in published])
    n_sent = len(sent_by_stamp)
    n_recv = sum(1 for s in sent_by_stamp if s in first_recv)
    overall = acc.mean()
    report: Dict[str, Any] = {
        "input_bag": str(input_bag),
        "output_bag": str(output_bag) if output_bag else None,
        "topics": {
            "image": image_topic,
            "camera_info": info_topic,
            "ground_truth": gt_topic,
            "depth": depth_topic,
            "depth_camera_info": depth_info_topic,
        },
        "frames": {
            "published": n_sent,
            "received": n_recv,
            "dropped": n_sent - n_recv,
            "with_ground_truth": acc.frames,
        },
        "rate_hz": {"input": in_rate, "output": out_rate},
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "mean": float(np.mean(latencies)) if latencies else None,
            "max": float(np.max(latencies)) if latencies else None,
            "n": len(latencies),
        },
        "metrics": overall.as_dict() if acc.frames else None,
        # per-frame median scaling with the ground truth: the depth's shape, without its scale
        # (what metric anchoring can reach at best on average; see docs/anchoring.md)
        "metrics_median_scaled": acc_scaled.mean().as_dict() if acc_scaled.frames else None,
        "metrics_definition": "official FastDepth metrics over valid ground-truth pixels, mean over frames",
        "notes": sorted(set(notes)),
        "files": {"csv": "frames.csv", "montage": "montage.png" if montage else None},
    }
    if extra:
        report.update(extra)
    report = _clean(report)
    _write_csv(out_dir / "frames.csv", rows)
    if montage:
        write_montage(
            out_dir / "montage.png", [montage[i] for i in sorted(montage)], min_range_m, max_range_m
        )
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _score_outputs(
    input_bag: Path,
    output_bag: Optional[Path],
    published: Sequence[Any],
    sent_by_stamp: Dict[int, Any],
    first_recv: Dict[int, float],
    image_topic: str,
    info_topic: Optional[str],
    gt_topic: Optional[str],
    depth_topic: str,
    depth_info_topic: str,
    montage_frames: int,
) -> Tuple[Optional[str], List[Dict[str, Any]], MetricsAccumulator, MetricsAccumulator,
           Dict[int, Dict[str, Any]], List[str]]:
    """One CSV row per published frame, scored against the input bag's ground truth on the
    depth image's grid; returns (ground-truth topic, rows, metrics, montage frames, notes)."""
    # ---- ground truth + camera_info from the input bag (by stamp)
    gt_raw: Dict[int, bagio.BagMessage] = {}
    infos: Dict[int, Any] = {}
    with bagio.BagReader(input_bag) as bag:
        gt_topic = detect_gt_topic(bag, image_topic, gt_topic)
        wanted = [t for t in (gt_topic, info_topic) if t]
        for m in bag.messages(wanted):
            stamp = _stamp(m)
            if m.topic == gt_topic:
                gt_raw[stamp] = m
            else:
                infos[stamp] = bag.deserialize(m)
        some_info = next(iter(infos.values()), None)
        # ---- depth outputs
        rows: List[Dict[str, Any]] = []
        acc, acc_scaled = MetricsAccumulator(), MetricsAccumulator()
        montage_pick = _pick(sorted({p.index for p in published}), montage_frames)
        montage: Dict[int, Dict[str, Any]] = {}
        depth_infos: Dict[int, Any] = {}
        depth_msgs: Dict[int, bagio.BagMessage] = {}
        notes: List[str] = []
        if output_bag is not None and Path(output_bag).exists():
            with bagio.BagReader(output_bag) as out:
                for m in out.messages([depth_topic, depth_info_topic]):
                    stamp = _stamp(m)
                    if m.topic == depth_info_topic:
                        depth_infos.setdefault(stamp, out.deserialize(m))
                    else:
                        depth_msgs.setdefault(stamp, m)
                for stamp, m in depth_msgs.items():
                    p = sent_by_stamp.get(stamp)
                    if p is None:
                        continue
                    pred_m, enc = _depth_m(out.deserialize(m), m.msgtype)
                    row = _row(p, first_recv.get(stamp), enc, pred_m.shape)
                    gm = gt_raw.get(p.bag_stamp_ns)
                    info = infos.get(p.bag_stamp_ns, some_info)
                    gt_grid = None
                    if gm is not None:
                        gt_m, _ = _depth_m(bag.deserialize(gm), gm.msgtype, zero_invalid=False)
                        gt_grid = _gt_on_grid(gt_m, info, depth_infos.get(stamp), pred_m.shape, notes)
                    if gt_grid is not None:
                        gt_grid = np.where(footprint(pred_m), gt_grid, np.nan)
                        metrics = compute_metrics(pred_m, gt_grid)
                        acc.add(metrics)
                        row.update(metrics.as_dict())
                        scaled = compute_metrics(median_scaled(pred_m, gt_grid), gt_grid)
                        acc_scaled.add(scaled)
                        row["delta1_median_scaled"] = scaled.delta1
                        if p.index in montage_pick and p.index not in montage:
                            montage[p.index] = {"stamp": p.bag_stamp_ns, "pred": pred_m, "gt": gt_grid,
                                                "info": info, "dinfo": depth_infos.get(stamp)}
                    rows.append(row)
        for p in published:  # frames without output
            if p.stamp_ns not in depth_msgs:
                rows.append(_row(p, None, "", (0, 0)))
        rows.sort(key=lambda r: (r["stamp_ns"], r["frame"]))
        if montage:
            _attach_rgb(bag, image_topic, montage)
    return gt_topic, rows, acc, acc_scaled, montage, notes


def _depth_m(msg: Any, msgtype: str, zero_invalid: bool = True) -> Tuple[np.ndarray, str]:
    """A depth message as float metres and its encoding; with ``zero_invalid`` a 16UC1 zero
    (REP 118 invalid) becomes NaN."""
    img, enc = bagio.decode_image(msg, msgtype)
    depth_m = depth_to_metres(img, enc)
    if zero_invalid and enc == "16UC1":
        depth_m = np.where(depth_m > 0, depth_m, np.nan)
    return depth_m, enc


def _rate_hz(times_s: Sequence[float]) -> Optional[float]:
    """Events per second between the first and the last of ``times_s`` (None for < 2)."""
    t = sorted(times_s)
    return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else None


def _write_csv(path: Path, rows: Sequence[Dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {
                    k: ("" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v)
                    for k, v in r.items()
                }
            )


def _stamp(m: bagio.BagMessage) -> int:
    from .recorder import cdr_stamp_ns

    s = cdr_stamp_ns(m.raw)
    return m.t_ns if s is None else s


def _pick(indices: Sequence[int], n: int) -> set:
    if not indices or n <= 0:
        return set()
    if len(indices) <= n:
        return set(indices)
    return (
        {indices[int(round(i * (len(indices) - 1) / (n - 1)))] for i in range(n)} if n > 1 else {indices[0]}
    )


def _row(p: Any, recv_s: Optional[float], enc: str, shape: Tuple[int, ...]) -> Dict[str, Any]:
    return {
        "frame": p.index,
        "stamp_ns": p.stamp_ns,
        "sent": 1,
        "received": int(recv_s is not None),
        "latency_ms": None if recv_s is None else round((recv_s - p.sent_s) * 1e3, 3),
        "depth_encoding": enc,
        "depth_width": shape[1] if len(shape) > 1 else 0,
        "depth_height": shape[0] if shape else 0,
    }


def _gt_on_grid(
    gt_m: np.ndarray, info: Any, dinfo: Any, hw: Tuple[int, int], notes: List[str]
) -> Optional[np.ndarray]:
    gt = np.where(np.isfinite(gt_m) & (gt_m > 0), gt_m, np.nan).astype(np.float32)
    if dinfo is not None and info is not None:
        return map_to_grid(gt, _k(info), _k(dinfo), hw)
    if gt.shape == tuple(hw):
        notes.append("no depth/camera_info (or camera_info): compared pixel for pixel (same size)")
        return gt
    notes.append(
        "frames skipped: depth %dx%d differs from ground truth %dx%d and there is no camera_info "
        "to register them" % (hw[1], hw[0], gt.shape[1], gt.shape[0])
    )
    return None


def _attach_rgb(bag: bagio.BagReader, image_topic: str, montage: Dict[int, Dict[str, Any]]) -> None:
    from ..imaging import to_rgb8

    by_stamp = {v["stamp"]: v for v in montage.values()}
    for m in bag.messages([image_topic]):
        v = by_stamp.get(_stamp(m))
        if v is None or "rgb" in v:
            continue
        arr, enc = bagio.decode_image(bag.deserialize(m), m.msgtype)
        v["rgb"] = np.ascontiguousarray(to_rgb8(np.array(arr), enc))


def _error_rgb(err: np.ndarray, max_err_m: float) -> np.ndarray:
    import cv2

    x = np.clip(np.nan_to_num(err, nan=0.0) / max_err_m, 0, 1)
    rgb = cv2.cvtColor(cv2.applyColorMap((x * 255).astype(np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    rgb[~np.isfinite(err)] = 0
    return rgb


def write_montage(
    path: Path, frames: Sequence[Dict[str, Any]], min_m: float, max_m: float, tile_h: int = 224
) -> None:
    """Rows of RGB | predicted depth | ground truth | |error| (0..1 m), all on the depth grid."""
    import cv2

    from ..visualize import colorize_depth

    rows = []
    for f in frames:
        pred, gt = f["pred"], f["gt"]
        hw = pred.shape
        rgb = f.get("rgb")
        if rgb is not None and f.get("info") is not None and f.get("dinfo") is not None:
            rgb = map_to_grid(rgb, _k(f["info"]), _k(f["dinfo"]), hw, fill=0).astype(np.uint8)
        elif rgb is None or rgb.shape[:2] != hw:
            rgb = np.zeros(hw + (3,), np.uint8) if rgb is None else cv2.resize(rgb, (hw[1], hw[0]))
        tiles = [
            rgb,
            colorize_depth(pred.astype(np.float32), min_m, max_m, "32FC1"),
            colorize_depth(gt.astype(np.float32), min_m, max_m, "32FC1"),
            _error_rgb(np.abs(pred - gt), 1.0),
        ]
        scale = tile_h / hw[0]
        size = (max(1, int(round(hw[1] * scale))), tile_h)
        tiles = [cv2.resize(np.ascontiguousarray(t), size, interpolation=cv2.INTER_NEAREST) for t in tiles]
        rows.append(np.hstack(tiles))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    header = np.zeros((22, width, 3), np.uint8)
    tw = width // 4
    for i, name in enumerate(("RGB", "predicted depth", "ground truth", "|error| 0-1 m")):
        cv2.putText(
            header, name, (i * tw + 6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA
        )
    img = np.vstack([header] + rows)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def format_summary(report: Dict[str, Any]) -> str:
    """The short table the demo prints."""
    f, lat, m, rate = report["frames"], report["latency_ms"], report.get("metrics") or {}, report["rate_hz"]

    def num(x: Any, fmt: str) -> str:
        return "n/a" if x is None else fmt % x

    lines = [
        (
            "frames",
            "%d published, %d depth received, %d dropped" % (f["published"], f["received"], f["dropped"]),
        ),
        ("fps", "%s in, %s out" % (num(rate.get("input"), "%.1f"), num(rate.get("output"), "%.1f"))),
        ("latency p50/p95", "%s / %s ms" % (num(lat.get("p50"), "%.1f"), num(lat.get("p95"), "%.1f"))),
        ("delta1", num(m.get("delta1"), "%.3f")),
        ("delta1 median-scaled", num((report.get("metrics_median_scaled") or {}).get("delta1"), "%.3f")),
        ("RMSE", num(m.get("rmse_m"), "%.3f m")),
        ("AbsRel", num(m.get("absrel"), "%.3f")),
    ]
    anchoring = report.get("anchoring") or {}
    if anchoring:
        lines.append(("delta1 without / with anchors", "%s / %s" % (
            num((anchoring.get("without_anchors") or {}).get("delta1"), "%.3f"),
            num((anchoring.get("with_anchors") or {}).get("delta1"), "%.3f"))))
    width = max(len(k) for k, _ in lines)
    return "\n".join("%-*s  %s" % (width, k, v) for k, v in lines)
