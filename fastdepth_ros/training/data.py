"""Rendered-scene datasets: a disk cache of frames plus the official FastDepth transforms.

Why a cache: a frame costs ~0.5 s of numpy ray casting but a training step only ~0.15 s per
image, so frames are rendered once (in a background process or on first use) and reused
across epochs.  The cache lives outside the repository (``~/.cache/fastdepth_ros``), keyed
by renderer version and scale so a changed renderer never serves stale frames.

The transforms follow dwofk/fast-depth ``dataloaders/nyu.py`` for 480x640 frames:
train = resize x250/480, rotate +-5 deg, scale s in [1, 1.5] (depth / s), centre crop
228x304, random horizontal flip, colour jitter 0.4, resize to 224x224;
val = resize x250/480, centre crop 228x304, resize to 224x224.  Here the whole geometric
chain is one affine ``grid_sample`` per image (bilinear RGB, nearest depth).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..geometry import plan_sampling
from . import render

#: First seed of the held-out evaluation scenes; training uses seeds below it.
HELDOUT_SEED0 = 10_000_000
RENDER_SCALE = 0.5  # frames are 240x320 samples of the 480x640 Kinect frame
OUTPUT_HW = (224, 224)


def cache_root() -> Path:
    """Where datasets and checkpoints live (``FASTDEPTH_CACHE_DIR`` or ~/.cache/fastdepth_ros)."""
    env = os.environ.get("FASTDEPTH_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "fastdepth_ros"


def scene_dir(scale: float = RENDER_SCALE) -> Path:
    return cache_root() / f"scenes_v{render.RENDERER_VERSION}_s{scale:g}"


def load_or_render(
    seed: int, scale: float = RENDER_SCALE, cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 HxWx3, depth float32 metres) of scene ``seed``, from the cache if present."""
    path = scene_dir(scale) / f"{seed:08d}.npz"
    if cache and path.exists():
        try:
            with np.load(path) as z:
                return z["rgb"], z["depth_mm"].astype(np.float32) / 1000.0
        except (OSError, ValueError, KeyError):
            pass  # a partial file from a killed writer: render again
    frame = render.render(seed, scale)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        depth_mm = np.round(frame.depth_m * 1000.0).astype(np.uint16)
        np.savez(tmp, rgb=frame.rgb, depth_mm=depth_mm)
        os.replace(tmp, path)
    return frame.rgb, frame.depth_m


@dataclass(frozen=True)
class Augment:
    """One draw of the official training augmentations."""

    angle_deg: float = 0.0
    scale: float = 1.0
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0

    @staticmethod
    def sample(rng: np.random.Generator) -> Augment:
        return Augment(
            angle_deg=float(rng.uniform(-5.0, 5.0)),
            scale=float(rng.uniform(1.0, 1.5)),
            flip=bool(rng.random() < 0.5),
            brightness=float(rng.uniform(0.6, 1.4)),
            contrast=float(rng.uniform(0.6, 1.4)),
            saturation=float(rng.uniform(0.6, 1.4)),
        )

    @staticmethod
    def draws(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` draws of the same distributions as arrays (a batch augmented on a GPU)."""
        return {
            "angle_deg": rng.uniform(-5.0, 5.0, n),
            "scale": rng.uniform(1.0, 1.5, n),
            "flip": rng.random(n) < 0.5,
            "brightness": rng.uniform(0.6, 1.4, n).astype(np.float32),
            "contrast": rng.uniform(0.6, 1.4, n).astype(np.float32),
            "saturation": rng.uniform(0.6, 1.4, n).astype(np.float32),
        }


def crop_grids(
    frame_hw: tuple[int, int], angle_deg: torch.Tensor, scale: torch.Tensor, flip: torch.Tensor
) -> torch.Tensor:
    """``grid_sample`` grids (Bx224x224x2) of B augmented official crops of one frame size.

    The crop is the node's ``input_mode: crop`` plan for the frame's resolution (the official
    250/480 resize and centre 228x304 window for 480x640, generalised to any size); zoom
    ``scale`` and rotation act about the crop centre in source pixels, so rotation keeps the
    aspect; ``flip`` mirrors the output columns.  The per-sample parameters are 1-D tensors on
    the device the grids are wanted on (a GPU run augments whole batches there)."""
    h, w = frame_hw
    plan = plan_sampling(frame_hw, OUTPUT_HW, "crop")
    ay, by = plan.rows.affine()
    ax, bx = plan.cols.affine()
    oh, ow = OUTPUT_HW
    dev = angle_deg.device
    gv, gu = torch.meshgrid(torch.arange(oh, dtype=torch.float64, device=dev),
                            torch.arange(ow, dtype=torch.float64, device=dev), indexing="ij")
    gu = torch.where(flip.bool()[:, None, None], (ow - 1) - gu, gu)  # B x oh x ow
    cx_src, cy_src = ax * (ow - 1) / 2 + bx, ay * (oh - 1) / 2 + by  # crop centre, source px
    s = scale.double()[:, None, None]
    px = (ax * gu + bx - cx_src) / s
    py = (ay * gv + by - cy_src) / s
    a = torch.deg2rad(angle_deg.double())[:, None, None]
    rx = torch.cos(a) * px - torch.sin(a) * py + cx_src
    ry = torch.sin(a) * px + torch.cos(a) * py + cy_src
    return torch.stack([(rx + 0.5) / w * 2 - 1, (ry + 0.5) / h * 2 - 1], -1).float()


def crop_grid(frame_hw: tuple[int, int], aug: Augment) -> torch.Tensor:
    """The grid (1x224x224x2) of one augmented crop (:func:`crop_grids` for one sample)."""
    return crop_grids(frame_hw, torch.tensor([aug.angle_deg]), torch.tensor([aug.scale]),
                      torch.tensor([aug.flip]))


def jitter(rgb: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor,
           saturation: torch.Tensor) -> torch.Tensor:
    """Brightness / contrast / saturation jitter of a Bx3xHxW batch in [0, 1] (per-sample
    factors, 1-D tensors), in the official order."""
    rgb = rgb * brightness[:, None, None, None]
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    rgb = (rgb - mean) * contrast[:, None, None, None] + mean
    gray = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2])[:, None]
    rgb = (rgb - gray) * saturation[:, None, None, None] + gray
    return rgb.clamp(0.0, 1.0)


def transform(rgb: np.ndarray, depth_m: np.ndarray, aug: Augment | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame -> (rgb 3x224x224 in [0,1], depth 1x224x224 m); ``aug=None`` is the val path."""
    a = aug or Augment()
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()[None] / 255.0
    d = torch.from_numpy(np.ascontiguousarray(depth_m, dtype=np.float32))[None, None]
    grid = crop_grid(rgb.shape[:2], a)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    d = F.grid_sample(d, grid, mode="nearest", padding_mode="zeros", align_corners=False)[0]
    if aug is not None:
        x = jitter(x[None], *(torch.tensor([v]) for v in (a.brightness, a.contrast, a.saturation)))[0]
        d = d / a.scale
    return x, d


def is_cached(seed: int, scale: float = RENDER_SCALE) -> bool:
    return (scene_dir(scale) / f"{seed:08d}.npz").exists()


def prerender(
    seed0: int, count: int, scale: float = RENDER_SCALE, offset: int = 0, stride: int = 1, on_frame=None
) -> int:
    """Fill the cache for seeds ``seed0 + offset, seed0 + offset + stride, ...`` below
    ``seed0 + count``; returns how many were rendered (cached ones are skipped).

    ``stride`` > 1 splits one range among processes (process k takes ``offset=k``), which
    keeps the cached range contiguous from ``seed0`` as it grows: training only uses the
    contiguous prefix (see ``train._cached_count``).  ``on_frame()`` is called per seed."""
    done = 0
    for seed in range(seed0 + offset, seed0 + count, max(1, stride)):
        if not is_cached(seed, scale):
            load_or_render(seed, scale)
            done += 1
        if on_frame is not None:
            on_frame()
    return done


def start_renderers(seed0: int, count: int, workers: int) -> list:
    """``workers`` background processes running :func:`prerender` over ``seed0 .. seed0+count-1``
    interleaved (process k takes ``offset=k``).  Spawned, not forked (no torch/fork interplay);
    they inherit ``os.environ``, so ``FASTDEPTH_CACHE_DIR`` applies to them too."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=prerender, args=(seed0, count), kwargs={"offset": k, "stride": workers},
                    daemon=True, name=f"fastdepth-render-{k}")
        for k in range(workers)
    ]
    for proc in procs:
        proc.start()
    return procs


def stop_renderers(procs: list) -> None:
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=10)
