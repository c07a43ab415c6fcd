"""RGB-D folders: the project's format for real recordings, for training and evaluation.

Layout (one folder per camera/sequence)::

    rgb/NNNNN.jpg|png      8-bit colour
    depth/NNNNN.png        uint16 millimetres, 0 = invalid, registered to the colour image
    meta.json              {"intrinsics": {"fx", "fy", "cx", "cy", "width", "height"}, ...}

Frames are paired by file stem.  ``meta.json`` may list ``"frames": [{"id": "00000"}, ...]``;
otherwise every stem present in both ``rgb/`` and ``depth/`` is a frame.  A frame range
``folder:START-END`` (inclusive, by stem number) selects a split, e.g. 7-Scenes' temporal
split ``7scenes_redkitchen:0-798`` for training and ``:800-998`` for validation.

Training samples use the official augmentations (rotation +-5 deg, zoom s in [1, 1.5], flip,
colour jitter) around the official crop generalised to any resolution (the node's
``input_mode: crop`` plan), as one bilinear ``grid_sample`` for colour and a nearest one for
depth; targets are in the canonical camera (:mod:`.canonical`): ``d * f_can / (f_model * s)``.
Evaluation samples use the exact official val transform (the node's nearest sampling).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..geometry import plan_sampling, rescale_intrinsics
from .canonical import CANONICAL_FOCAL_PX, MODEL_HW, frame_focal_px
from .data import Augment, transform

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class FolderSpec:
    """A folder and an optional inclusive stem-number range."""

    path: Path
    first: int | None = None
    last: int | None = None

    @staticmethod
    def parse(text: str) -> FolderSpec:
        """``PATH`` or ``PATH:START-END``."""
        head, sep, tail = str(text).rpartition(":")
        if sep and tail and "-" in tail and tail.replace("-", "").isdigit():
            a, b = tail.split("-", 1)
            return FolderSpec(Path(head), int(a), int(b))
        return FolderSpec(Path(text))

    @property
    def name(self) -> str:
        rng = f"[{self.first}-{self.last}]" if self.first is not None else ""
        return self.path.name + rng


class RGBDFolder:
    """The frames of one folder: file pairs, intrinsics, loading in metres."""

    def __init__(self, spec: FolderSpec | str | Path) -> None:
        spec = spec if isinstance(spec, FolderSpec) else FolderSpec.parse(str(spec))
        self.spec = spec
        root = spec.path
        meta_path = root / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path} missing: an RGB-D folder needs rgb/, depth/, meta.json")
        self.meta = json.loads(meta_path.read_text())
        k = self.meta.get("intrinsics") or {}
        try:
            self.fx, self.fy = float(k["fx"]), float(k["fy"])
            self.cx, self.cy = float(k["cx"]), float(k["cy"])
            self.width, self.height = int(k["width"]), int(k["height"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{meta_path}: intrinsics need fx, fy, cx, cy, width, height ({exc})") from None
        if not (self.fx > 0 and self.fy > 0 and self.width > 0 and self.height > 0):
            raise ValueError(f"{meta_path}: intrinsics must be positive")
        rgb = {p.stem: p for p in (root / "rgb").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        depth = {p.stem: p for p in (root / "depth").iterdir() if p.suffix.lower() == ".png"}
        listed = [str(f["id"]) for f in self.meta.get("frames", []) if "id" in f]
        stems = listed or sorted(set(rgb) & set(depth))
        if spec.first is not None:
            stems = [s for s in stems if s.isdigit() and spec.first <= int(s) <= spec.last]
        missing = [s for s in stems if s not in rgb or s not in depth]
        if missing:
            raise FileNotFoundError(f"{root}: frames without rgb or depth file: {missing[:5]}")
        self.frames = [(s, rgb[s], depth[s]) for s in stems]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def name(self) -> str:
        return self.spec.name

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(rgb uint8 HxWx3, depth float32 metres with 0 = invalid) of frame ``i``."""
        stem, rgb_path, depth_path = self.frames[i]
        bgr = cv2.imread(str(rgb_path), cv2.IMREAD_COLOR)
        raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
        if bgr is None or raw is None:
            raise OSError(f"{self.spec.path}: cannot read frame {stem}")
        if raw.dtype != np.uint16 or raw.ndim != 2:
            raise ValueError(f"{depth_path}: depth must be single-channel uint16 millimetres")
        if raw.shape != bgr.shape[:2] or raw.shape != (self.height, self.width):
            raise ValueError(
                f"{self.spec.path}: frame {stem} is not {self.width}x{self.height} in rgb and depth"
            )
        return np.ascontiguousarray(bgr[:, :, ::-1]), raw.astype(np.float32) / 1000.0

    def focal_model_px(self) -> float:
        """Focal length in model-input pixels under the official (crop) transform."""
        return frame_focal_px(self.fx, self.fy, (self.height, self.width))

    def val_sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(rgb 224x224x3 float32 [0,1], depth 224x224 m) by the official val transform
        (nearest sampling exactly as the node's ``input_mode: crop``)."""
        rgb, depth = self.load(i)
        plan = plan_sampling(rgb.shape[:2], MODEL_HW, "crop")
        rows, cols = plan.row_indices[:, None], plan.col_indices[None, :]
        return rgb[rows, cols].astype(np.float32) / 255.0, depth[rows, cols]


def train_sample(
    rgb: np.ndarray, depth_m: np.ndarray, focal_model_px: float, aug: Augment
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rgb 3x224x224 in [0,1], canonical depth 1x224x224 m, 0 = invalid) of an augmented crop:
    the official augmentations (:func:`.data.transform`, depth / zoom), then the canonical camera."""
    x, d = transform(rgb, depth_m, aug)
    return x, d * (CANONICAL_FOCAL_PX / focal_model_px)


class FolderTrainSet(torch.utils.data.Dataset):
    """Augmented training samples of one folder; frame and augmentation drawn from ``rng``."""

    def __init__(self, folder: RGBDFolder) -> None:
        self.folder = folder
        self.focal_px = folder.focal_model_px()

    def __len__(self) -> int:
        return len(self.folder)

    def sample(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, depth = self.folder.load(int(rng.integers(len(self.folder))))
        return train_sample(rgb, depth, self.focal_px, Augment.sample(rng))


def write_scaled(folder: RGBDFolder, output: str | Path, scale: float, jpeg_quality: int = 92,
                 every: int = 1) -> int:
    """Write every ``every``-th frame of ``folder`` resized by ``scale`` as a new RGB-D folder;
    returns the count.

    Why: a copy to train on elsewhere (a lent GPU machine, a laptop) is mostly depth PNG bytes,
    and the official transform first shrinks a 640x480 frame to 333x250 anyway.  Colour is
    area-averaged (JPEG), depth sampled nearest (averaging would invent depths across edges and
    holes), and the intrinsics follow the pixel grid: f' = f s, c' = (c + 0.5) s - 0.5."""
    out = Path(output)
    (out / "rgb").mkdir(parents=True, exist_ok=True)
    (out / "depth").mkdir(parents=True, exist_ok=True)
    w, h = round(folder.width * scale), round(folder.height * scale)
    sx, sy = w / folder.width, h / folder.height
    kept = list(range(0, len(folder.frames), max(1, every)))
    for i in kept:
        stem = folder.frames[i][0]
        rgb, depth = folder.load(i)
        small = cv2.resize(rgb[:, :, ::-1], (w, h), interpolation=cv2.INTER_AREA)
        mm = np.round(depth * 1000.0).astype(np.uint16)
        cv2.imwrite(str(out / "rgb" / f"{stem}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        mm_small = cv2.resize(mm, (w, h), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(out / "depth" / f"{stem}.png"), mm_small)
    meta = {k: v for k, v in folder.meta.items() if k != "frames"}
    meta["frames"] = [{"id": folder.frames[i][0]} for i in kept]
    fx, fy, cx, cy = rescale_intrinsics(folder.fx, folder.fy, folder.cx, folder.cy, sx, sy)
    meta["intrinsics"] = {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "width": w, "height": h}
    meta["scaled_from"] = {"folder": folder.name, "scale": scale, "every": every}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return len(kept)

