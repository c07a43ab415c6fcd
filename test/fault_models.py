"""Small ONNX graphs for the model-fault tests, built with the ``onnx`` helper API.

Each has the FastDepth interface shape (1x3x224x224 in) unless the fault is the shape
itself; none needs a trained weight.  ``onnx`` is in the test extras (and the train ones).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np

IN_SHAPE = [1, 3, 224, 224]
OPSET = 13  # ReduceMean takes ``axes`` as an attribute up to opset 17
DYNAMIC = ["n", "c", "h", "w"]  # output dims the graph leaves symbolic


def _save(path: Path, nodes: List, inputs: List, outputs: List, initializers: List = ()) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by every onnxruntime >= 1.10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _tensor(name: str, elem: int, shape: List):
    from onnx import helper

    return helper.make_tensor_value_info(name, elem, shape)


def uint8_input(path: Path) -> Path:
    """Loads, but its input is uint8: the float32 warm-up (and every frame) is refused."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["xf"], ["depth"], axes=[1], keepdims=1)]
    return _save(path, nodes, [_tensor("x", TensorProto.UINT8, IN_SHAPE)],
                 [_tensor("depth", TensorProto.FLOAT, [1, 1, 224, 224])])


def _reshape_at_run_time(src: str, dims: List[int], out: str) -> Tuple[List, List]:
    """Nodes + initializers reshaping ``src`` to ``dims`` through a shape tensor that depends
    on the data (dims + 0 * max(src)), so neither onnx nor ORT can infer the result's shape
    when loading: only running the graph shows it."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array(dims, dtype=np.int64), out + "_dims")]
    nodes = [
        helper.make_node("ReduceMax", [src], [out + "_max"], keepdims=0),
        helper.make_node("Cast", [out + "_max"], [out + "_maxi"], to=TensorProto.INT64),
        helper.make_node("Mul", [out + "_maxi", out + "_maxi"], [out + "_sq"]),
        helper.make_node("Sub", [out + "_sq", out + "_sq"], [out + "_zero"]),
        helper.make_node("Add", [out + "_dims", out + "_zero"], [out + "_shape"]),
        helper.make_node("Reshape", [src, out + "_shape"], [out]),
    ]
    return nodes, inits


def runtime_reshape_failure(path: Path) -> Path:
    """Loads (shapes unknown until run), but its Reshape 1x1x224x224 -> 1x1x224x225 fails
    on the first run."""
    from onnx import TensorProto, helper

    reshape, inits = _reshape_at_run_time("m", [1, 1, 224, 225], "depth")
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1)] + reshape
    return _save(path, nodes, [_tensor("x", TensorProto.FLOAT, IN_SHAPE)],
                 [_tensor("depth", TensorProto.FLOAT, DYNAMIC)], inits)


def three_channel_output(path: Path, declared: bool = True) -> Path:
    """Runs, but outputs 1x3x224x224: not a depth map.  ``declared=False`` hides the shape
    until the graph runs."""
    from onnx import TensorProto, helper

    if declared:
        nodes, inits, shape = [helper.make_node("Identity", ["x"], ["depth"])], [], IN_SHAPE
    else:
        (nodes, inits), shape = _reshape_at_run_time("x", IN_SHAPE, "depth"), DYNAMIC
    return _save(path, nodes, [_tensor("x", TensorProto.FLOAT, IN_SHAPE)],
                 [_tensor("depth", TensorProto.FLOAT, shape)], inits)


def mean_depth(path: Path, channels: int = 0) -> Path:
    """A valid depth model: 1x1x224x224 = 1 + 4 * channel mean (metres, inside the default range).

    ``channels`` > 0 puts two 3x3 convolutions of that width in front, so a run costs
    about ``224 * 224 * 9 * channels**2 * 2`` FLOPs: a model that is slow to warm up."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array([4.0], dtype=np.float32), "scale"),
             numpy_helper.from_array(np.array([1.0], dtype=np.float32), "offset")]
    nodes = []
    src = "x"
    if channels:
        rng = np.random.default_rng(0)
        w1 = (rng.standard_normal((channels, 3, 3, 3)) * 0.01).astype(np.float32)
        w2 = (rng.standard_normal((channels, channels, 3, 3)) * 0.01).astype(np.float32)
        inits += [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")]
        nodes += [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
                  helper.make_node("Conv", ["c1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
                  helper.make_node("Sigmoid", ["c2"], ["s"])]
        src = "s"
    nodes += [helper.make_node("ReduceMean", [src], ["m"], axes=[1], keepdims=1),
              helper.make_node("Mul", ["m", "scale"], ["ms"]),
              helper.make_node("Add", ["ms", "offset"], ["depth"])]
    return _save(path, nodes, [_tensor("x", TensorProto.FLOAT, IN_SHAPE)],
                 [_tensor("depth", TensorProto.FLOAT, [1, 1, 224, 224])], inits)


def fails_on_bright(path: Path) -> Path:
    """A valid per-pixel depth model (1 + 4 x channel mean, as :func:`mean_depth`) whose run
    fails on a frame with any pixel brighter than 0.99: its Reshape then asks for
    1x1x224x225.  The load's test run (zeros) passes, so it fails on chosen frames only."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array([4.0], dtype=np.float32), "scale"),
             numpy_helper.from_array(np.array([1.0], dtype=np.float32), "offset"),
             numpy_helper.from_array(np.array([0.99], dtype=np.float32), "bright"),
             numpy_helper.from_array(np.array(IN_SHAPE[:1] + [1] + IN_SHAPE[2:], dtype=np.int64), "dims"),
             numpy_helper.from_array(np.array([0, 0, 0, 1], dtype=np.int64), "one_more_col")]
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
             helper.make_node("Mul", ["m", "scale"], ["ms"]),
             helper.make_node("Add", ["ms", "offset"], ["d"]),
             helper.make_node("ReduceMax", ["x"], ["xmax"], keepdims=0),
             helper.make_node("Greater", ["xmax", "bright"], ["is_bright"]),
             helper.make_node("Cast", ["is_bright"], ["is_bright_i"], to=TensorProto.INT64),
             helper.make_node("Mul", ["one_more_col", "is_bright_i"], ["extra"]),
             helper.make_node("Add", ["dims", "extra"], ["shape"]),
             helper.make_node("Reshape", ["d", "shape"], ["depth"])]
    return _save(path, nodes, [_tensor("x", TensorProto.FLOAT, IN_SHAPE)],
                 [_tensor("depth", TensorProto.FLOAT, DYNAMIC)], inits)
