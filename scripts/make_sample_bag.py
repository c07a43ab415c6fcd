#!/usr/bin/env python3
"""Regenerate the shipped sample bag ``data/sample_bag/`` (a rosbag2 folder) from the project's own renderer.

Everything in it is produced here: procedural rooms from ``fastdepth_ros.training.render``
(numpy ray caster, no torch), flown along a smooth drone-like path (slow yaw sweep, a
little forward motion, height bob), at 320x240 with the NYU Kinect intrinsics scaled by
0.5.  Topics: ``/camera/image_raw/compressed`` (JPEG q90), ``/camera/camera_info``,
``/camera/depth/image_raw`` (16UC1 millimetres, 0 = invalid, same stamps as the RGB).
mcap storage with zstd chunk compression, rosbag2 version 8; deterministic for a seed.

    .venv/bin/python scripts/make_sample_bag.py [--out data/sample_bag] [--frames 72]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastdepth_ros.replay.make_bag import RGBDFrame, write_rgbd_bag  # noqa: E402
from fastdepth_ros.training import render as R  # noqa: E402

T0_NS = 1_700_000_000_000_000_000  # a fixed, plausible epoch stamp: reproducible bags


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    fwd = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.cross(fwd, right)
    cr, sr = np.cos(roll), np.sin(roll)
    right, down = cr * right + sr * down, -sr * right + cr * down
    return np.stack([right, down, fwd], 1)


def _clear(scene, pos: np.ndarray) -> bool:
    size = scene.size
    if np.any(pos[:2] < 0.3) or np.any(pos[:2] > size[:2] - 0.3) or not 0.3 < pos[2] < size[2] - 0.3:
        return False
    return not any(R._inside(p, pos, margin=0.2) for p in [*scene.boxes, *scene.cylinders])


def render_path(scene_seed: int, n: int, k: R.Intrinsics) -> Iterator[tuple]:
    """``n`` frames of scene ``scene_seed`` along a smooth path: (rgb8, depth_m)."""
    rng = np.random.default_rng(scene_seed)
    scene = R.make_scene(rng)
    pos0, _, _, _ = R._camera(rng, scene)
    centre = scene.size[:2] / 2
    yaw0 = float(np.arctan2(centre[1] - pos0[1], centre[0] - pos0[0]))
    pitch0 = np.deg2rad(-12.0)
    v, u = np.mgrid[0 : k.height, 0 : k.width].astype(np.float64)
    cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], -1).reshape(-1, 3)
    pos = pos0.copy()
    for i in range(n):
        s = i / max(n - 1, 1)
        yaw = yaw0 + np.deg2rad(35.0) * np.sin(2 * np.pi * s)
        pitch = pitch0 + np.deg2rad(6.0) * np.sin(4 * np.pi * s)
        roll = np.deg2rad(3.0) * np.sin(6 * np.pi * s)
        step = 0.6 / n * np.array([np.cos(yaw), np.sin(yaw), 0.0])
        bob = np.array(
            [0.0, 0.0, 0.1 * np.sin(2 * np.pi * s) - 0.1 * np.sin(2 * np.pi * (i - 1) / max(n - 1, 1))]
        )
        if _clear(scene, pos + step + bob):
            pos = pos + step + bob
        rot = _rotation(yaw, pitch, roll)
        d = cam @ rot.T
        hits, face = R.cast(scene, pos, d)
        # fixed per-scene rngs: textures, exposure and noise stay the same along the path
        rgb = R._shade(scene, pos, d, hits, face, np.random.default_rng(scene_seed + 1)).reshape(
            k.height, k.width, 3
        )
        depth = hits.t.reshape(k.height, k.width).astype(np.float32)
        depth[(depth < R.MIN_DEPTH_M) | (depth > R.MAX_DEPTH_M) | ~np.isfinite(depth)] = 0.0
        yield R._postprocess(rgb, np.random.default_rng(scene_seed + 2)), depth


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out",
        default=str(ROOT / "data" / "sample_bag"),
        help="output: a .mcap file (single-file bag) or a bag directory",
    )
    ap.add_argument("--frames", type=int, default=72, help="total frames (split over the scenes)")
    ap.add_argument("--scenes", default="11,23,42", help="comma-separated scene seeds")
    ap.add_argument("--rate", type=float, default=10.0, help="frame rate, Hz")
    ap.add_argument("--scale", type=float, default=0.5, help="of the 640x480 Kinect camera")
    ap.add_argument("--quality", type=int, default=90, help="JPEG quality")
    args = ap.parse_args(argv)
    k = R.KINECT.scaled(args.scale)
    seeds = [int(s) for s in args.scenes.split(",")]
    per = [args.frames // len(seeds) + (1 if i < args.frames % len(seeds) else 0) for i in range(len(seeds))]
    period_ns = int(round(1e9 / args.rate))

    def frames() -> Iterator[RGBDFrame]:
        i = 0
        for seed, n in zip(seeds, per):
            for rgb, depth in render_path(seed, n, k):
                yield RGBDFrame(T0_NS + i * period_ns, rgb, depth)
                i += 1

    out = Path(args.out)
    t0 = time.time()
    if out.suffix == ".mcap":
        with tempfile.TemporaryDirectory() as tmp:
            bag = Path(tmp) / out.stem
            write_rgbd_bag(
                bag,
                frames(),
                k,
                storage="mcap",
                compress=True,
                rgb_format="jpeg",
                jpeg_quality=args.quality,
                depth_encoding="16UC1",
                progress=True,
            )
            if out.exists():
                out.unlink()
            shutil.copyfile(bag / (out.stem + ".mcap"), out)
    else:
        write_rgbd_bag(
            out,
            frames(),
            k,
            storage="mcap",
            compress=True,
            rgb_format="jpeg",
            jpeg_quality=args.quality,
            depth_encoding="16UC1",
            progress=True,
        )
    size = sum(p.stat().st_size for p in ([out] if out.is_file() else out.rglob("*")))
    print(
        "wrote %s: %d frames %dx%d, %.2f MB in %.1f s"
        % (out, args.frames, k.width, k.height, size / 1e6, time.time() - t0)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
