"""ONNX export equals PyTorch and honours the node's I/O contract; the shipped model too."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from deps import missing, need

torch = need("torch")
onnx = need("onnx")
need("onnxruntime")

from fastdepth_ros.training import export, model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "fastdepth.onnx"


def _with_random_bn(m: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.rand(n, generator=g) * 0.2)
    return m.eval()


def test_export_matches_pytorch(tmp_path) -> None:
    m = _with_random_bn(model.build("pruned"))
    path = export.export_onnx(m, tmp_path / "m.onnx")
    assert path.stat().st_size < 10 * 1024 * 1024
    g = onnx.load(path)
    assert g.opset_import[0].version >= 13
    assert not any(n.op_type == "BatchNormalization" for n in g.graph.node)  # folded
    sess = export.onnx_session(path)
    assert [i.name for i in sess.get_inputs()] == ["rgb"]
    assert [o.name for o in sess.get_outputs()] == ["depth"]
    assert sess.get_inputs()[0].shape == [1, 3, 224, 224]
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        ref = m(x).numpy()
    out = sess.run(["depth"], {"rgb": x.numpy()})[0]
    assert out.shape == (1, 1, 224, 224)
    assert np.max(np.abs(out - ref)) <= 1e-4 * max(1.0, float(np.abs(ref).max()))


@pytest.mark.parametrize("upsample", ["upconv", "upproj", "deconv"])
def test_ablation_variants_export(tmp_path, upsample: str) -> None:
    m = _with_random_bn(
        model.FastDepth([8] * 12 + [16, 16], [16, 8, 8, 8, 4], upsample=upsample, skip="concat")
    )
    path = export.export_onnx(m, tmp_path / "v.onnx", input_hw=(64, 64))
    assert export.max_abs_diff(m, path, input_hw=(64, 64)) < 1e-4


def test_shipped_model_contract() -> None:
    if not SHIPPED.exists():
        missing("models/fastdepth.onnx not exported yet")
    assert SHIPPED.stat().st_size < 10 * 1024 * 1024
    sess = export.onnx_session(SHIPPED)
    assert [i.name for i in sess.get_inputs()] == ["rgb"]
    out = sess.run(["depth"], {"rgb": np.full((1, 3, 224, 224), 0.5, np.float32)})[0]
    assert out.shape == (1, 1, 224, 224) and np.isfinite(out).all()
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    assert "ImageNet" in card["training"]["encoder_init"] and card["training"]["data"]["real"]
    assert set(card["accuracy"]["sets"]) >= {"nyu_official_sample", "7scenes_redkitchen[800-998]"}
    assert card["params"] == 1_352_225 and card["macs"] == 366_393_384


def test_node_engine_loads_shipped_model() -> None:
    engine = need("fastdepth_ros.engine")
    if not SHIPPED.exists():
        missing("models/fastdepth.onnx not exported yet")
    eng = engine.Engine(str(SHIPPED), engine.EngineConfig(warmup_runs=1, intra_op_threads=1))
    out = np.asarray(eng.run(np.full((1, 3, 224, 224), 0.5, np.float32)))
    assert out.size == 224 * 224 and np.isfinite(out).all()
