"""What a training batch is made of.

:class:`Mixture` maps a sample position ``i`` of the run to one training sample, drawn with
the RNG ``(seed, i)``: first the source (rendered scenes with probability ``render_share``,
else a real folder in proportion to its frame count), then the frame and the augmentation.
A pure function of ``i`` makes resuming exact and the run reproducible from its config.
"""

from __future__ import annotations

import numpy as np
import torch

from . import data
from .folders import FolderSpec, FolderTrainSet, RGBDFolder


def source_probabilities(render_share: float, n_rendered: int, sizes: list) -> np.ndarray:
    """Probability of each source: rendered scenes first (``render_share`` if any are
    rendered, all of it without real folders), then the real folders by frame count."""
    sizes = np.asarray(sizes, dtype=np.float64)
    share = float(render_share) if n_rendered > 0 else 0.0
    if len(sizes) == 0:
        if n_rendered <= 0:
            raise ValueError("nothing to train on: no rendered scenes and no real folders")
        share = 1.0
    real = (1.0 - share) * sizes / sizes.sum() if len(sizes) else np.zeros(0)
    p = np.concatenate([[share], real])
    return p / p.sum()


class Mixture(torch.utils.data.Dataset):
    """Sample ``i`` -> (rgb 3x224x224, canonical depth 1x224x224, distill flag)."""

    def __init__(self, cfg, n_rendered: int) -> None:
        self.seed = int(cfg.seed)
        self.distill_rendered = bool(getattr(cfg, "distill_rendered", False))
        self.n_rendered = int(n_rendered)
        self.real = [FolderTrainSet(RGBDFolder(FolderSpec.parse(s))) for s in cfg.real]
        self.p = source_probabilities(cfg.render_share, self.n_rendered, [len(r) for r in self.real])

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(i)])
        k = int(rng.choice(len(self.p), p=self.p))
        if k == 0:
            rgb, depth = data.load_or_render(int(rng.integers(self.n_rendered)))
            x, d = data.transform(rgb, depth, data.Augment.sample(rng))
            return x, d, torch.tensor(self.distill_rendered)
        x, d = self.real[k - 1].sample(rng)
        return x, d, torch.tensor(True)
