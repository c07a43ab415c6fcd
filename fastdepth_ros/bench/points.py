"""What ``depth/points`` costs per frame, and the node's default per-frame work beside it.

``fastdepth-ros bench --points-only --out FILE`` runs just this (seconds, no DDS); the full
bench adds it as ``results["points"]``.  The cloud is built exactly as the node builds it
(:class:`fastdepth_ros.pointcloud.CloudBuffer`: validity mask, back-projection through P
into the reused PointCloud2 message) from a depth of the node's own output grids: 224x224 (``output_size:
model``, the default) and 640x480 (``output_size: input``), at several ``points_stride``.
The depth is synthetic (smooth, 0.5-8 m, 3 % REP 117 flags): the cost depends on the grid
and the stride, not on the values.

Beside it, ``pipeline_default``: the node's per-frame work with its *default* engine
settings (``intra_op_threads`` 0, ``ort_allow_spinning`` false), the figure the README's
"ms per frame" quotes.
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..stats import summarize_ms

GRIDS: Tuple[Tuple[int, int], ...] = ((224, 224), (480, 640))  # (height, width)
STRIDES: Tuple[int, ...] = (1, 2, 4)


def _depth(hw: Tuple[int, int], seed: int = 0) -> np.ndarray:
    """A depth-like float32 image: smooth 0.5-8 m with 2 % NaN and 1 % +Inf (REP 117 flags)."""
    rng = np.random.default_rng(seed)
    h, w = hw
    v, u = np.mgrid[0:h, 0:w]
    z = (0.5 + 7.5 * (0.5 + 0.5 * np.sin(u / 37.0) * np.cos(v / 23.0))).astype(np.float32)
    flags = rng.random(hw)
    z[flags < 0.02] = np.nan
    z[(flags >= 0.02) & (flags < 0.03)] = np.inf
    return z


def points_cost(runs: int, warmup: int, grids: Sequence[Tuple[int, int]] = GRIDS,
                strides: Sequence[int] = STRIDES) -> List[Dict[str, object]]:
    """One row per grid x stride: back-projection alone into a new array, and the step the
    node runs while ``depth/points`` has a subscriber (depth -> its reused message; ms)."""
    from .. import pointcloud as pc
    from ..camera_info import pinhole

    try:
        import sensor_msgs.msg  # noqa: F401

        with_msg = True
    except ImportError:  # no ROS messages: the numpy part only
        with_msg = False
    rows: List[Dict[str, object]] = []
    for hw in grids:
        h, w = hw
        cam = pinhole(0.9 * w, 0.9 * w, (w - 1) / 2.0, (h - 1) / 2.0, w, h)
        k, p = cam.k.ravel().tolist(), cam.p.ravel().tolist()
        depth = _depth(hw)
        for stride in strides:
            back: List[float] = []
            whole: List[float] = []
            cloud = pc.CloudBuffer()
            for i in range(warmup + runs):
                t0 = time.perf_counter()
                fx, fy, cx, cy = pc.intrinsics_from_info(k, p)
                pts = pc.backproject(pc.depth_metres(depth, "32FC1"), fx, fy, cx, cy, stride)
                t1 = time.perf_counter()
                if with_msg:
                    cloud.fill(depth, "32FC1", k, p, None, stride)
                t2 = time.perf_counter()
                if i >= warmup:
                    back.append((t1 - t0) * 1e3)
                    whole.append((t2 - t1) * 1e3)
            row: Dict[str, object] = {
                "grid_hw": [h, w], "stride": stride, "points": int(pts.shape[0] * pts.shape[1]),
                "message_bytes": int(pts.nbytes), "backproject_ms": summarize_ms(back),
            }
            if with_msg:
                row["depth_to_msg_ms"] = summarize_ms(whole)
            rows.append(row)
    return rows


def run_points_bench(runs: int, warmup: int, model_path: Optional[str]) -> Dict[str, object]:
    """The ``--points-only`` result: point-cloud cost rows, and the node-default pipeline
    (when a model is given) measured in the same process right after."""
    from .models import pipeline_stages
    from .report import loadavg

    out: Dict[str, object] = {"loadavg_points": loadavg()}
    out["points"] = points_cost(runs, warmup)
    if model_path:
        out["loadavg_pipeline"] = loadavg()
        # the node's defaults: intra_op_threads 0 (one per core), ort_allow_spinning false
        out["pipeline_default"] = pipeline_stages(model_path, runs, warmup, threads=0, allow_spinning=False)
    return out
