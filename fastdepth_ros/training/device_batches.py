"""Training batches drawn and augmented on the training device (a GPU run's data path).

Why: on a GPU a FastDepth step takes milliseconds, while the CPU path (:class:`.mixture.Mixture`
in DataLoader workers) decodes and warps one sample at a time and would starve it.  Here every
frame of every source is decoded once into device memory, and each batch is one gather, one
batched ``grid_sample`` per source and one batched jitter, with the same distributions as
the CPU path: source by ``render_share`` and frame counts, the official augmentations
(:func:`.data.crop_grids`, :func:`.data.jitter`), depth / zoom, real targets in the canonical
camera.  Batch ``step`` is drawn from the RNG ``(seed, step)``, so a resumed run continues
with the batches it would have drawn.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .canonical import CANONICAL_FOCAL_PX
from .folders import FolderSpec, RGBDFolder
from .mixture import source_probabilities


def _stacked(frames: list, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(rgb uint8 NxHxWx3, depth float32 NxHxW) on ``device`` from (rgb, depth) arrays."""
    rgb = torch.stack([torch.from_numpy(np.ascontiguousarray(r)) for r, _ in frames])
    depth = torch.stack([torch.from_numpy(np.ascontiguousarray(d, dtype=np.float32)) for _, d in frames])
    return rgb.to(device), depth.to(device)


class _Source:
    """One frame size's worth of frames on the device: rgb uint8 NxHxWx3, depth float NxHxW m."""

    def __init__(self, name: str, frames: list, focal_factor: float, distill: bool, device) -> None:
        self.name = name
        self.rgb, self.depth = _stacked(frames, device)
        self.focal_factor = float(focal_factor)
        self.distill = bool(distill)

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    def extend(self, frames: list) -> None:
        if frames:
            rgb, depth = _stacked(frames, self.rgb.device)
            self.rgb, self.depth = torch.cat([self.rgb, rgb]), torch.cat([self.depth, depth])


class DeviceBatches:
    """Batches of (rgb Bx3x224x224 in [0, 1], canonical depth Bx1x224x224 m with 0 = invalid,
    distill flags B) from rendered scenes and RGB-D folders, made on ``device``."""

    def __init__(self, cfg, n_rendered: int, device: torch.device | str) -> None:
        self.seed = int(cfg.seed)
        self.device = torch.device(device)
        self.render_share = float(cfg.render_share)
        self.sources: list[_Source] = []
        self.rendered: _Source | None = None
        if n_rendered > 0 and self.render_share > 0:
            frames = [data.load_or_render(i) for i in range(n_rendered)]
            self.rendered = _Source("rendered", frames, 1.0, bool(cfg.distill_rendered), self.device)
        for spec in cfg.real:
            folder = RGBDFolder(FolderSpec.parse(spec))
            frames = [folder.load(i) for i in range(len(folder))]
            factor = CANONICAL_FOCAL_PX / folder.focal_model_px()
            self.sources.append(_Source(folder.name, frames, factor, True, self.device))
        # the share of the rendered source is fixed once it exists (it only grows)
        self.p = source_probabilities(self.render_share, self.n_rendered, [len(s) for s in self.sources])

    @property
    def n_rendered(self) -> int:
        return len(self.rendered) if self.rendered is not None else 0

    def grow_rendered(self, n_rendered: int) -> None:
        """Load rendered scenes up to ``n_rendered`` (a background renderer adds them)."""
        if self.rendered is not None and n_rendered > len(self.rendered):
            self.rendered.extend([data.load_or_render(i) for i in range(len(self.rendered), n_rendered)])

    def batch(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(step)])
        sources = [self.rendered] + self.sources
        which = rng.choice(len(sources), size=batch_size, p=self.p)
        x = torch.empty(batch_size, 3, *data.OUTPUT_HW, device=self.device)
        d = torch.empty(batch_size, 1, *data.OUTPUT_HW, device=self.device)
        use = torch.zeros(batch_size, dtype=torch.bool, device=self.device)
        for k in np.unique(which):
            src = sources[k]
            rows = np.nonzero(which == k)[0]
            n = len(rows)
            frame = torch.from_numpy(rng.integers(len(src), size=n)).to(self.device)
            draws = data.Augment.draws(rng, n)
            aug = {name: torch.from_numpy(v).to(self.device) for name, v in draws.items()}
            rgb = src.rgb[frame].permute(0, 3, 1, 2).float() / 255.0
            grid = data.crop_grids(tuple(src.rgb.shape[1:3]), aug["angle_deg"], aug["scale"], aug["flip"])
            xs = F.grid_sample(rgb, grid, mode="bilinear", padding_mode="border", align_corners=False)
            ds = F.grid_sample(src.depth[frame][:, None], grid, mode="nearest", padding_mode="zeros",
                               align_corners=False)
            idx = torch.from_numpy(rows).to(self.device)
            x[idx] = data.jitter(xs, aug["brightness"], aug["contrast"], aug["saturation"])
            d[idx] = ds / aug["scale"].float()[:, None, None, None] * src.focal_factor
            use[idx] = src.distill
        return x, d, use

