"""What a training batch is made of, and what a run validates on.

:class:`Mixture` maps a sample position ``i`` of the run to one training sample, drawn with
the RNG ``(seed, i)``: first the source (rendered scenes with probability ``render_share``,
else a real folder in proportion to its frame count), then the frame and the augmentation.
A pure function of ``i`` makes resuming exact and the run reproducible from its config.

Validation follows the official val transform on each folder and reports, per folder, the
metric scores (after converting the canonical prediction back to the folder's camera, as the
node does) and the median-scaled ones (the shape of the depth map without its global scale).
"""

from __future__ import annotations

import numpy as np
import torch

from . import data
from .canonical import CANONICAL_FOCAL_PX
from .folders import FolderSpec, FolderTrainSet, RGBDFolder


class Mixture(torch.utils.data.Dataset):
    """Sample ``i`` -> (rgb 3x224x224, canonical depth 1x224x224, distill flag)."""

    def __init__(self, cfg, n_rendered: int) -> None:
        self.seed = int(cfg.seed)
        self.distill_rendered = bool(getattr(cfg, "distill_rendered", False))
        self.n_rendered = int(n_rendered)
        self.real = [FolderTrainSet(RGBDFolder(FolderSpec.parse(s))) for s in cfg.real]
        sizes = np.array([len(r) for r in self.real], dtype=np.float64)
        render_share = float(cfg.render_share) if self.n_rendered > 0 else 0.0
        if not self.real:
            if self.n_rendered <= 0:
                raise ValueError("nothing to train on: no rendered scenes and no real folders")
            render_share = 1.0
        real_p = (1.0 - render_share) * sizes / sizes.sum() if self.real else np.zeros(0)
        self.p = np.concatenate([[render_share], real_p])
        self.p = self.p / self.p.sum()

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


class ValidationSet:
    """One folder's val-transformed frames, loaded once, and its focal conversion."""

    def __init__(self, name: str, samples: list, focal_model_px: float) -> None:
        self.name, self.samples = name, samples
        self.focal_px = focal_model_px
        self.to_camera = focal_model_px / CANONICAL_FOCAL_PX


def validation_sets(specs: list) -> list[ValidationSet]:
    """Each ``PATH[:FIRST-LAST]`` spec as a :class:`ValidationSet`; ``nyu_sample`` names the
    official NYU sample of the reference folder (already val-transformed, canonical camera)."""
    out = []
    for spec in specs:
        if spec == "nyu_sample":
            from .evaluate import official_sample

            sample = official_sample()
            if sample is not None:
                out.append(ValidationSet("nyu_official_sample", [sample], CANONICAL_FOCAL_PX))
            continue
        folder = RGBDFolder(FolderSpec.parse(spec))
        samples = [folder.val_sample(i) for i in range(len(folder))]
        out.append(ValidationSet(folder.name, samples, folder.focal_model_px()))
    return out


def evaluate_sets(model, sets: list[ValidationSet]) -> dict:
    """``{folder: {delta1, rmse_m, absrel, ..., median_scaled: {...}}}`` for a torch model."""
    from .evaluate import run

    was_training = model.training
    model.eval()
    out = {}
    with torch.no_grad():
        for vs in sets:

            def predict(x: np.ndarray, k: float = vs.to_camera) -> np.ndarray:
                return model(torch.from_numpy(x.astype(np.float32)))[0, 0].numpy() * k

            out[vs.name] = run(predict, vs.samples)[0]
    model.train(was_training)
    return out
