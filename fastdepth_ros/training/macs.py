"""Count multiply-accumulates and deployed parameters of a model, the way the paper does.

Convention (matches the reference layer table of the official pruned model, 366,393,384 MACs):
a conv costs ``out_pixels * out_channels * (in_channels / groups) * kh * kw`` MACs; a
transposed conv ``in_pixels * in_channels * (out_channels / groups) * kh * kw``; biases,
BN, activations, upsampling and skip additions are free.  Parameters are counted after BN
folding, i.e. conv weights plus one bias per output channel of a conv that had BN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .fold import fold_batchnorm


@dataclass(frozen=True)
class Cost:
    """Inference cost of a model at one input size."""

    macs: int
    params: int
    input_hw: tuple[int, int]

    def as_dict(self) -> dict:
        return {
            "macs": self.macs,
            "params": self.params,
            "input_hw": list(self.input_hw),
        }


def count_macs(model: nn.Module, input_hw: tuple[int, int] = (224, 224)) -> int:
    """MACs of one forward pass at ``input_hw`` via forward hooks on conv layers."""
    total: list[int] = [0]

    def hook(module: nn.Module, inputs, output) -> None:
        w = module.weight
        k = w.shape[2] * w.shape[3]
        if isinstance(module, nn.ConvTranspose2d):
            x = inputs[0]
            cout_per_group = w.shape[1]
            total[0] += x.numel() * cout_per_group * k
        else:
            total[0] += output.numel() * w.shape[1] * k

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_hw))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0]


def count_params(model: nn.Module) -> int:
    """Learnable parameters after folding BN into convs (what the exported graph stores)."""
    return sum(p.numel() for p in fold_batchnorm(model).parameters())


def measure(model: nn.Module, input_hw: tuple[int, int] = (224, 224)) -> Cost:
    """MACs and deployed params of ``model``."""
    return Cost(count_macs(model, input_hw), count_params(model), tuple(input_hw))
