"""The GraphDef reader behind `fastdepth-ros imagenet-npz`, on a graph encoded by hand."""

from __future__ import annotations

import io
import tarfile

import numpy as np

from fastdepth_ros.training import tfgraph


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _const(name: str, arr: np.ndarray, op: str = "Const") -> bytes:
    dims = b"".join(_field(2, _varint(1 << 3) + _varint(d)) for d in arr.shape)
    tensor = _varint(1 << 3) + _varint(1) + _field(2, dims) + _field(4, arr.astype("<f4").tobytes())
    attr = _field(1, b"value") + _field(2, _field(8, tensor))
    dtype_attr = _field(1, b"dtype") + _field(2, _varint(6 << 3) + _varint(1))  # AttrValue.type
    node = _field(1, name.encode()) + _field(2, op.encode()) + _field(5, dtype_attr) + _field(5, attr)
    return _field(1, node)


def fake_graph(rng) -> tuple[bytes, dict]:
    widths = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    consts = {}

    def bn(prefix: str, c: int) -> None:
        for t in ("gamma", "beta", "moving_mean", "moving_variance"):
            consts[f"{prefix}/BatchNorm/{t}"] = rng.random(c, dtype=np.float32)

    consts["MobilenetV1/Conv2d_0/weights"] = rng.random((3, 3, 3, 32), dtype=np.float32)
    bn("MobilenetV1/Conv2d_0", 32)
    for i in range(1, 14):
        consts[f"MobilenetV1/Conv2d_{i}_depthwise/depthwise_weights"] = rng.random(
            (3, 3, widths[i - 1], 1), dtype=np.float32)
        bn(f"MobilenetV1/Conv2d_{i}_depthwise", widths[i - 1])
        consts[f"MobilenetV1/Conv2d_{i}_pointwise/weights"] = rng.random(
            (1, 1, widths[i - 1], widths[i]), dtype=np.float32)
        bn(f"MobilenetV1/Conv2d_{i}_pointwise", widths[i])
    graph = b"".join(_const(k, v) for k, v in consts.items())
    graph += _const("final_training_ops/weights", np.ones((1024, 2), np.float32))  # outside the prefix
    graph += _const("MobilenetV1/not_a_const", np.ones(3, np.float32), op="Identity")
    return graph, consts


def test_constants_and_layouts_round_trip(tmp_path) -> None:
    graph, consts = fake_graph(np.random.default_rng(0))
    read = tfgraph.read_constants(graph, "MobilenetV1/")
    assert set(read) == set(consts)
    assert all(np.array_equal(read[k], consts[k]) for k in consts)
    w = tfgraph.to_pytorch_layout(read)
    assert w["conv0.conv.weight"].shape == (32, 3, 3, 3)
    conv0 = consts["MobilenetV1/Conv2d_0/weights"]
    assert np.array_equal(w["conv0.conv.weight"][5, 2, 0, 1], conv0[0, 1, 2, 5])
    dw = consts["MobilenetV1/Conv2d_3_depthwise/depthwise_weights"]
    assert np.array_equal(w["dw3.conv.weight"][7, 0], dw[:, :, 7, 0])
    pw = consts["MobilenetV1/Conv2d_13_pointwise/weights"]
    assert np.array_equal(w["pw13.conv.weight"][:, :, 0, 0], pw[0, 0].T)
    var = consts["MobilenetV1/Conv2d_4_pointwise/BatchNorm/moving_variance"]
    assert np.array_equal(w["pw4.bn.running_var"], var)

    # the whole command path, from a local sdist
    sdist = tmp_path / "nudity-0.2.3.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo(tfgraph.GRAPH_MEMBER)
        info.size = len(graph)
        tar.addfile(info, io.BytesIO(graph))
    from fastdepth_ros.training import cli

    assert cli.main(["imagenet-npz", "-o", str(tmp_path / "w.npz"), "--sdist", str(sdist)]) == 0
    with np.load(tmp_path / "w.npz") as z:
        assert set(z.files) == set(w) and np.array_equal(z["dw3.conv.weight"], w["dw3.conv.weight"])
