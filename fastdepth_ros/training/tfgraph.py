"""Rebuild the ImageNet MobileNet-v1 npz from a frozen TensorFlow graph, without TensorFlow.

Why: training must be reproducible without ``../shared``.  The TF-slim ImageNet weights are on
PyPI inside the sdist ``nudity==0.2.3`` (MIT): its ``nudity/files/retrained_graph.pb`` is a
TF-for-Poets retrain whose ``MobilenetV1/*`` constants are the unmodified ImageNet backbone
(only a 2-class head was trained; it is not used).  ``fastdepth-ros imagenet-npz`` downloads
that sdist with pip and writes the npz :mod:`.pretrained` loads.

The protobuf runtime cannot decode a GraphDef without TensorFlow's ``.proto`` schema (not
installable here), so this module reads the few fields it needs straight from the protobuf
wire format: GraphDef.node (1) -> NodeDef.name (1), .op (2), .attr (5: map entries key 1,
AttrValue 2) -> AttrValue.tensor (8) -> TensorProto.dtype (1), .tensor_shape (2: dims 2 ->
size 1), .tensor_content (4), .float_val (5).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

SDIST = "nudity==0.2.3"
GRAPH_MEMBER = "nudity-0.2.3/nudity/files/retrained_graph.pb"
DT_FLOAT = 1


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes):
    """Yield ``(field_number, wire_type, value)``; value is an int (varint/fixed) or bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _tensor(buf: bytes) -> np.ndarray | None:
    """A float TensorProto as an array (None for other dtypes)."""
    dtype, shape, content, floats = 0, [], b"", []
    for number, wire, value in fields(buf):
        if number == 1:
            dtype = value
        elif number == 2:
            shape = [next((v for n, _, v in fields(dim) if n == 1), 0)
                     for n, _, dim in fields(value) if n == 2]
        elif number == 4:
            content = value
        elif number == 5:  # float_val, packed or not
            if wire == 2:
                floats.extend(np.frombuffer(value, "<f4").tolist())
            else:
                floats.append(np.array([value], "<u4").view("<f4")[0])
    if dtype != DT_FLOAT:
        return None
    if content:
        arr = np.frombuffer(content, "<f4").copy()
    else:  # a scalar repeated over the shape
        arr = np.full(int(np.prod(shape)) if shape else 1, floats[0] if floats else 0.0, np.float32)
    return arr.reshape(shape) if shape else arr.reshape(())


def read_constants(graph_def: bytes, prefix: str = "") -> dict[str, np.ndarray]:
    """Float ``Const`` nodes of a serialised GraphDef whose names start with ``prefix``."""
    out: dict[str, np.ndarray] = {}
    for number, _, node in fields(graph_def):
        if number != 1:
            continue
        name = op = ""
        value = None
        for n, _, v in fields(node):
            if n == 1:
                name = v.decode()
            elif n == 2:
                op = v.decode()
            elif n == 5 and name.startswith(prefix):
                entry = dict((k, x) for k, _, x in fields(v))
                if entry.get(1) == b"value" and 2 in entry:
                    tensor = next((x for k, _, x in fields(entry[2]) if k == 8), None)
                    value = _tensor(tensor) if tensor is not None else None
        if op == "Const" and value is not None and name.startswith(prefix):
            out[name] = value
    return out


_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def to_pytorch_layout(consts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TF-slim ``MobilenetV1/Conv2d_*`` constants -> the npz keys of :mod:`.pretrained`
    (conv ``[kh,kw,in,out]`` -> ``[out,in,kh,kw]``, depthwise ``[kh,kw,C,1]`` -> ``[C,1,kh,kw]``)."""
    out: dict[str, np.ndarray] = {}

    def put(ours: str, tf: str, kind: str) -> None:
        w = consts[f"MobilenetV1/{tf}/{'depthwise_weights' if kind == 'dw' else 'weights'}"]
        out[f"{ours}.conv.weight"] = np.ascontiguousarray(
            w.transpose(2, 3, 0, 1) if kind == "dw" else w.transpose(3, 2, 0, 1)
        )
        for t, p in _BN.items():
            out[f"{ours}.bn.{p}"] = consts[f"MobilenetV1/{tf}/BatchNorm/{t}"]

    put("conv0", "Conv2d_0", "conv")
    for i in range(1, 14):
        put(f"dw{i}", f"Conv2d_{i}_depthwise", "dw")
        put(f"pw{i}", f"Conv2d_{i}_pointwise", "conv")
    logits = "MobilenetV1/Logits/Conv2d_1c_1x1/"
    if logits + "weights" in consts:  # the ImageNet classifier, where the graph kept it
        out["fc.weight"] = np.ascontiguousarray(consts[logits + "weights"].reshape(-1, 1001).T)
        out["fc.bias"] = consts[logits + "biases"]
    return out


def download_sdist(dest: Path) -> Path:
    """``pip download`` the sdist (PyPI only; nothing is installed or executed)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", SDIST, "--no-deps", "--no-binary", ":all:",
         "--no-build-isolation", "-d", str(dest), "-q"],
        check=True,
    )
    return next(dest.glob("nudity-*.tar.gz"))


def build_npz(out: str | Path, sdist: str | Path | None = None) -> dict[str, np.ndarray]:
    """Write the ImageNet MobileNet-v1 npz from the sdist (downloaded when ``sdist`` is None)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(sdist) if sdist else download_sdist(Path(tmp))
        with tarfile.open(path) as tar:
            member = tar.extractfile(GRAPH_MEMBER)
            if member is None:
                raise FileNotFoundError(f"{GRAPH_MEMBER} not in {path}")
            graph = member.read()
    weights = to_pytorch_layout(read_constants(graph, "MobilenetV1/"))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **weights)
    return weights
