"""Our FastDepth class *is* the official architecture: with the reference model's (BN-folded)
weights copied in, it reproduces the reference ONNX output and its accuracy on the official
NYU sample.  This checks widths, strides, activations (ReLU6 encoder, ReLU decoder), the
nearest upsampling and the skip wiring all at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from deps import need

torch = need("torch")
onnx = need("onnx")

from fastdepth_ros.metrics import compute_metrics  # noqa: E402
from fastdepth_ros.training import export, fold, model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reference_weights_reproduce_reference_output(reference: Path) -> None:
    ref = reference
    from onnx import numpy_helper

    graph = onnx.load(ref / "fastdepth_pruned_ref.onnx").graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    ref_convs = [n for n in graph.node if n.op_type == "Conv"]
    ours = fold.fold_batchnorm(model.build("pruned")).eval()
    our_convs = [m for m in ours.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(ref_convs) == len(our_convs) == 38
    with torch.no_grad():
        for node, conv in zip(ref_convs, our_convs, strict=True):
            conv.weight.copy_(torch.from_numpy(inits[node.input[1]].copy()))
            conv.bias.copy_(torch.from_numpy(inits[node.input[2]].copy()))
    rgb = np.load(ref / "official_sample" / "rgb.npy").astype(np.float32)
    gt = np.load(ref / "official_sample" / "depth.npy")
    x = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        pred = ours(x)[0, 0].numpy()
    sess = export.onnx_session(ref / "fastdepth_pruned_ref.onnx")
    ref_pred = sess.run(["depth"], {"rgb": x.numpy()})[0][0, 0]
    assert np.max(np.abs(pred - ref_pred)) < 1e-3
    m = compute_metrics(pred, gt)
    assert m.delta1 >= 0.767 and m.rmse_m <= 0.640
