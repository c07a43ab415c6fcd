"""Export a trained FastDepth to the ONNX graph the ROS node runs.

Contract with the node's engine: input ``rgb`` float32 1x3xHxW, RGB in [0, 1] with no mean/std
normalisation; output ``depth`` float32 1x1xHxW in metres; BN folded into the convs (the
graph is then structurally the reference model's); opset 13+.  The TorchScript-based
exporter is used because it needs no extra packages (the dynamo exporter needs onnxscript).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..engine import CANONICAL_FOCAL_KEY
from .canonical import CANONICAL_FOCAL_PX
from .fold import fold_batchnorm

OPSET = 17
INPUT_NAME = "rgb"
OUTPUT_NAME = "depth"


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_hw: tuple[int, int] = (224, 224),
    opset: int = OPSET,
    canonical_focal_px: float | None = CANONICAL_FOCAL_PX,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Fold BN, trace at ``input_hw`` and write ``path``; returns the path.

    ``canonical_focal_px`` goes into the graph's metadata (the node's focal scaling reads it):
    every model this package trains or imports learnt depth at NYU's focal length, which is
    the canonical camera (:mod:`.canonical`); None leaves it out.  ``metadata``: more
    key/value pairs for the graph (e.g. ``adapt``'s source bag, split and alpha)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folded = fold_batchnorm(model).eval()
    tmp = path.with_suffix(".tmp.onnx")
    trace_to_onnx(folded, (torch.rand(1, 3, *input_hw),), tmp, [INPUT_NAME], [OUTPUT_NAME], opset)
    props = dict(metadata or {})
    if canonical_focal_px is not None:
        props = {CANONICAL_FOCAL_KEY: repr(float(canonical_focal_px)), **props}
    if props:
        import onnx

        graph = onnx.load(str(tmp))
        for key, value in props.items():
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(graph, str(tmp))
    tmp.replace(path)  # atomic: a node reading the file never sees half a model
    return path


def trace_to_onnx(
    module: nn.Module,
    inputs: tuple,
    path: str | Path,
    input_names: list,
    output_names: list,
    opset: int = OPSET,
) -> None:
    """TorchScript-trace ``module`` on ``inputs`` into ``path`` with the settings every graph of
    this package is exported with (also the single blocks that :mod:`.latency` times)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            inputs,
            str(path),
            input_names=input_names,
            output_names=output_names,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )


def onnx_session(path: str | Path, threads: int = 1):
    """A CPU ONNX Runtime session (plain onnxruntime, no dependency on the node's engine)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def max_abs_diff(
    model: nn.Module, path: str | Path, input_hw: tuple[int, int] = (224, 224), seed: int = 0
) -> float:
    """Largest |PyTorch - ONNX Runtime| depth difference on one random image (metres)."""
    x = torch.rand(1, 3, *input_hw, generator=torch.Generator().manual_seed(seed))
    model = model.eval()
    with torch.no_grad():
        ref = model(x).numpy()
    out = onnx_session(path).run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    return float(np.max(np.abs(out - ref)))
