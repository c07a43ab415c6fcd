"""Load an exported FastDepth ONNX (ours or the official reference) back into :class:`FastDepth`.

Why: distillation on a GPU wants the teacher as a torch module on the same device as the
batch (ONNX Runtime here is CPU-only, and a host round trip per step would dominate the
step).  No installable library does this without torchvision (onnx2torch requires it), and
the graph is small and fixed: export folds every BatchNorm into its convolution, so the
ONNX holds, in graph order, one (weight, bias) pair per convolution of the network.  They
land in the module's convolutions in the same order, and each BatchNorm becomes the
identity plus that bias (weight 1, mean 0, variance 1 - eps), which reproduces the folded
graph exactly in eval mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .model import FastDepth


def _conv_params(path: str | Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(weight, bias) of every Conv node in graph order."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    out = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        if node.input[1] not in init:
            raise ValueError(f"{path}: Conv {node.name} has a non-constant weight")
        bias = init[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        out.append((init[node.input[1]], bias))
    return out


def _widths(convs: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[list[int], list[int]]:
    """Encoder and decoder widths of an NNConv5 / depthwise / add graph (38 convolutions:
    conv0, 13 x (dw, pw), 5 x (dw, pw), the final 1x1)."""
    if len(convs) != 1 + 13 * 2 + 5 * 2 + 1:
        raise ValueError(f"expected 38 convolutions of FastDepth NNConv5, found {len(convs)}")
    encoder = [convs[0][0].shape[0]] + [convs[2 * i][0].shape[0] for i in range(1, 14)]
    decoder = [convs[27 + 2 * i + 1][0].shape[0] for i in range(5)]
    return encoder, decoder


def load_onnx(path: str | Path) -> FastDepth:
    """A :class:`FastDepth` (eval mode) computing what the ONNX file computes."""
    convs = _conv_params(path)
    encoder, decoder = _widths(convs)
    model = FastDepth(encoder, decoder)
    modules = list(model.modules())
    pairs = [(m, modules[i + 1]) for i, m in enumerate(modules) if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for (conv, bn), (weight, bias) in zip(pairs, convs):
            if not isinstance(bn, nn.BatchNorm2d) or tuple(conv.weight.shape) != weight.shape:
                raise ValueError(f"{path}: layer {conv} does not match weight {weight.shape}")
            conv.weight.copy_(torch.from_numpy(np.array(weight)))
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(np.array(bias)) if bias is not None else torch.zeros_like(bn.bias))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    return model.eval()
