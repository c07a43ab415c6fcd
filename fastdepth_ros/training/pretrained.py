"""ImageNet MobileNet-v1 weights into FastDepth's encoder (the paper's initialisation).

The weights are TF-slim's ``mobilenet_v1_1.0_224`` converted to PyTorch layouts (an ``.npz``
with keys ``conv0.*``, ``dw{i}.*``, ``pw{i}.*``; :mod:`.tfgraph` rebuilds it from a package
on PyPI).  Three differences between TF-slim and this model are handled here, so the
network computes what the ImageNet network computed:

* **BatchNorm epsilon.** TF uses 1e-3 (PyTorch 1e-5): the encoder's BN layers are built with
  ``encoder_bn_eps=1e-3`` and the statistics are copied bit for bit.
* **Input scaling.** TF-slim feeds ``x/127.5 - 1`` = ``2u - 1`` for the node's ``u = x/255``.
  The first conv absorbs it: ``W' = 2W`` and the constant ``-sum(W)`` moves into BN's running
  mean (``mean' = mean + sum(W)``), exact except in the zero-padded border ring, where TF
  padded with ``-1`` in its own scale and we pad with ``0``.  The ONNX contract stays RGB/255.
* **Padding.** TF's "SAME" pads stride-2 layers bottom/right only; PyTorch pads symmetrically:
  a sub-pixel shift that fine-tuning absorbs (not corrected).

Narrower (pruned) widths keep, per layer, the output channels whose BN-folded filters have the
largest L2 norm (the magnitude criterion NetAdapt uses to pick filters); the following
depthwise layer and the next pointwise layer's inputs keep the same channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .model import FastDepth

TF_BN_EPS = 1e-3


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _bn_params(w: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    return {k: w[f"{name}.bn.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}


def folded_norm(weight: np.ndarray, bn: dict[str, np.ndarray], eps: float = TF_BN_EPS) -> np.ndarray:
    """L2 norm per output channel of the conv with BN's scale folded in (``eps``: that BN's)."""
    scale = bn["weight"] / np.sqrt(bn["running_var"] + eps)
    return np.linalg.norm(weight.reshape(weight.shape[0], -1), axis=1) * np.abs(scale)


def top_channels(scores: np.ndarray, keep: int) -> np.ndarray:
    """Indices (sorted) of the ``keep`` largest scores; ties go to the lower index."""
    if keep > scores.shape[0]:
        raise ValueError(f"cannot keep {keep} of {scores.shape[0]} channels")
    if keep == scores.shape[0]:
        return np.arange(keep)
    order = np.argsort(-scores, kind="stable")
    return np.sort(order[:keep])


def select_channels(
    weight: np.ndarray, bn: dict[str, np.ndarray], keep: int, eps: float = TF_BN_EPS
) -> np.ndarray:
    """Indices (sorted) of the ``keep`` output channels with the largest folded-filter norm."""
    return top_channels(folded_norm(weight, bn, eps), keep)


def _copy_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d, weight: np.ndarray, stats: dict) -> None:
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
        for k, v in stats.items():
            getattr(bn, k).copy_(torch.from_numpy(np.ascontiguousarray(v)))


def fold_input_scaling(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Make conv+BN on ``u = x/255`` compute what they computed on ``2u - 1`` (see module doc)."""
    with torch.no_grad():
        w = conv.weight.clone()
        conv.weight.mul_(2.0)
        bn.running_mean.add_(w.sum(dim=(1, 2, 3)))


def load_imagenet_encoder(model: FastDepth, weights: str | Path | dict[str, np.ndarray]) -> dict:
    """Copy the ImageNet weights into ``model``'s encoder (conv0..conv13), selecting channels
    for narrower widths; returns ``{layer: kept output channel indices}`` for the record.

    ``model`` must have been built with ``encoder_bn_eps=1e-3``.  The decoder is untouched.
    """
    w = load_npz(weights) if not isinstance(weights, dict) else weights
    for m in (model.conv0[1], model.conv13[4]):
        if abs(m.eps - TF_BN_EPS) > 1e-12:
            raise ValueError("build the model with encoder_bn_eps=1e-3 to load TF-slim weights")
    kept: dict[str, list[int]] = {}
    # conv0: full 3x3 conv on RGB
    bn0 = _bn_params(w, "conv0")
    keep = select_channels(w["conv0.conv.weight"], bn0, model.widths.encoder[0])
    _copy_conv_bn(model.conv0[0], model.conv0[1], w["conv0.conv.weight"][keep],
                  {k: v[keep] for k, v in bn0.items()})
    fold_input_scaling(model.conv0[0], model.conv0[1])
    kept["conv0"] = keep.tolist()
    prev = keep
    for i in range(1, 14):
        block = getattr(model, f"conv{i}")
        dw_bn = _bn_params(w, f"dw{i}")
        dw_stats = {k: v[prev] for k, v in dw_bn.items()}
        _copy_conv_bn(block[0], block[1], w[f"dw{i}.conv.weight"][prev], dw_stats)
        pw_w = w[f"pw{i}.conv.weight"][:, prev]
        pw_bn = _bn_params(w, f"pw{i}")
        keep = select_channels(w[f"pw{i}.conv.weight"], pw_bn, model.widths.encoder[i])
        _copy_conv_bn(block[3], block[4], pw_w[keep], {k: v[keep] for k, v in pw_bn.items()})
        kept[f"conv{i}"] = keep.tolist()
        prev = keep
    return kept


def imagenet_logits(model: FastDepth, weights: dict[str, np.ndarray], rgb_u: torch.Tensor) -> torch.Tensor:
    """ImageNet logits (1001 classes, 0 = background) of a *full-width* encoder loaded with
    :func:`load_imagenet_encoder`, for ``rgb_u`` in [0, 1] at 224x224: the check that the
    weights landed where TF-slim had them."""
    x = rgb_u
    with torch.no_grad():
        for i in range(14):
            x = getattr(model, f"conv{i}")(x)
        pooled = x.mean(dim=(2, 3))
        fc_w = torch.from_numpy(weights["fc.weight"]).reshape(1001, -1)
        return pooled @ fc_w.T + torch.from_numpy(weights["fc.bias"])
