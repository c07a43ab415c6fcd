"""Fold BatchNorm into the preceding convolution, for export and for counting deployed params.

Why: the deployed graph (and the reference model's 1,352,225 parameters) has no BN layers;
each conv carries a bias instead.  Folding in PyTorch keeps the ONNX graph identical in
structure to the reference and lets the parameter counter see what is actually shipped.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn


def fuse_conv_bn(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Module:
    """A copy of ``conv`` with ``bn`` (eval statistics) folded into weight and bias.

    Written out because torch's ``fuse_conv_bn_eval`` mis-scales grouped transposed convs
    (their weight is laid out ``[in, out/groups, kh, kw]``)."""
    fused = copy.deepcopy(conv)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    w = conv.weight.detach()
    if isinstance(conv, nn.ConvTranspose2d):
        g = conv.groups
        w = w.reshape(g, w.shape[0] // g, w.shape[1], *w.shape[2:])
        w = w * scale.reshape(g, 1, -1, 1, 1)
        w = w.reshape(conv.weight.shape)
    else:
        w = w * scale.reshape(-1, 1, 1, 1)
    fused.weight = nn.Parameter(w)
    fused.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias.detach())
    return fused


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Return an eval-mode copy where every Conv/ConvTranspose directly followed by a
    BatchNorm2d inside an ``nn.Sequential`` absorbs it (the BN becomes ``nn.Identity``)."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules.keys())
        for a, b in itertools.pairwise(names):
            conv, bn = module._modules[a], module._modules[b]
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(bn, nn.BatchNorm2d):
                module._modules[a] = fuse_conv_bn(conv, bn)
                module._modules[b] = nn.Identity()
    return folded
