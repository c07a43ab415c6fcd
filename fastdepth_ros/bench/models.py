"""Model-only measurements: ORT latency per provider/threads, PyTorch eager side by side,
encoder/decoder split from ORT profiling, MACs/params from the ONNX graph, matmul peak.

Method notes (also in docs/performance.md):

* Latency is ``InferenceSession.run`` on a fixed 1x3x224x224 input, through the project's
  ``Engine`` (same session options as the node).  The ORT configurations are measured in one
  interleaved rotation of short chunks, so a load spike from a neighbour hits every
  configuration alike and ratios stay meaningful on a shared machine; the first run of each
  chunk is dropped (thread pools wake up), and a short pause between chunks lets spinning
  worker threads go idle.  Torch eager gets its own rotation right after (interleaving it
  with ORT on 2 cores made both slower).
* Encoder vs decoder (the paper's Fig. 3): ORT profiling gives per-kernel times in execution
  order.  The encoder is every node that is an ancestor of the encoder output (MobileNet
  ``conv13``: the last ReLU6/``Clip`` of the graph, or the last ``/convN/`` node of a
  torch export); ORT's fused node names (``<tensor>_nchwc``) are mapped back to the original
  graph; helper kernels it inserts (layout reorders) go with the side they run on.
* MACs: conv ``out_h*out_w*cout*cin/groups*kh*kw`` (transposed: per input pixel), MatMul/Gemm
  ``m*n*k``, from ONNX shape inference; params: the graph's float initialisers.  This is the
  paper's convention and reproduces the reference layer table (366,393,384 MACs).
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..stats import summarize_ms

ENCODER_NAME = re.compile(r"^/conv\d+/")  # torch exports of training.model.FastDepth


@dataclass
class ModelSpec:
    """One model to measure: an ONNX file, and optionally the torch module it came from."""

    label: str
    path: Optional[str] = None
    torch_config: Union[dict, str, None] = None  # FastDepth args or preset name, eager twin
    note: str = ""
    info: Dict[str, object] = field(default_factory=dict)


# --------------------------------------------------------------------------- graph analysis


def graph_cost(path: str) -> Dict[str, object]:
    """MACs and parameters (weights/biases of Conv/MatMul/Gemm) of an ONNX graph (needs ``onnx``)."""
    import onnx
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(path))
    g = model.graph
    shapes: Dict[str, List[int]] = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    inits = {i.name: i for i in g.initializer}
    for name, init in inits.items():
        shapes[name] = list(init.dims)
    weighted = {"Conv", "ConvTranspose", "MatMul", "Gemm"}
    used = {i for n in g.node if n.op_type in weighted for i in n.input[1:]}
    params = sum(int(np.prod(inits[i].dims)) for i in used if i in inits)
    macs = 0
    unknown: List[str] = []
    for n in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type in ("Conv", "ConvTranspose"):
            w = shapes.get(n.input[1])
            x, y = shapes.get(n.input[0]), shapes.get(n.output[0])
            if not w or not x or not y or 0 in (x + y):
                unknown.append(n.name)
                continue
            k = int(np.prod(w[2:]))
            if n.op_type == "Conv":  # w: [cout, cin/g, kh, kw]
                macs += int(np.prod(y)) * w[1] * k
            else:  # w: [cin, cout/g, kh, kw]
                macs += int(np.prod(x)) * w[1] * k
        elif n.op_type in ("MatMul", "Gemm"):
            a, y = shapes.get(n.input[0]), shapes.get(n.output[0])
            if not a or not y or 0 in (a + y):
                unknown.append(n.name)
                continue
            kdim = a[-2] if (n.op_type == "Gemm" and attrs.get("transA")) else a[-1]
            macs += int(np.prod(y)) * kdim
    return {"macs": macs, "params": params, "macs_unknown_nodes": unknown}


def encoder_nodes(path: str) -> Tuple[Optional[str], set, set, set]:
    """(boundary node name, encoder keys, boundary keys, all keys) of an ONNX graph, where a
    node's keys are its name and its output tensor names (ORT names fused nodes after them)."""
    import onnx

    g = onnx.load(path, load_external_data=False).graph
    boundary = None
    for n in g.node:
        if n.op_type == "Clip" or ENCODER_NAME.match(n.name):
            boundary = n
    if boundary is None:
        return None, set(), set(), set()
    all_keys = set()
    for n in g.node:
        all_keys.add(n.name)
        all_keys.update(n.output)
    producer = {o: n for n in g.node for o in n.output}
    enc: Dict[str, object] = {}
    stack = [boundary]
    while stack:
        n = stack.pop()
        if n.name in enc:
            continue
        enc[n.name] = n
        stack.extend(producer[i] for i in n.input if i in producer)
    keys = set()
    for n in enc.values():
        keys.add(n.name)
        keys.update(n.output)
    return boundary.name, keys, {boundary.name, *boundary.output}, all_keys


# --------------------------------------------------------------------------- torch side


def torch_model(config: Union[dict, str]):
    """Eval-mode, BN-folded FastDepth with random weights (speed does not depend on them);
    ``config``: constructor arguments or a preset name of ``training.model`` ("pruned")."""
    import torch

    from ..training.fold import fold_batchnorm
    from ..training.model import build, from_config

    torch.manual_seed(0)
    model = build(config) if isinstance(config, str) else from_config(config)
    return fold_batchnorm(model).eval()


def export_unpruned(tmpdir: str) -> ModelSpec:
    """The paper's unpruned MobileNet-NNConv5(dw)-skipadd, exported to ``tmpdir``."""
    from ..training.export import export_onnx
    from ..training.model import build

    model = build("full")
    path = export_onnx(model, Path(tmpdir) / "fastdepth_unpruned.onnx")
    return ModelSpec("unpruned", str(path), torch_config=model.config(),
                     note="training.model.build('full'), random weights, exported at bench time")


# --------------------------------------------------------------------------- timing


class _Runner:
    """One timed configuration: a callable plus the samples collected for it."""

    def __init__(self, key: Tuple[str, str, int], fn, before=None) -> None:
        self.key, self.fn, self.before = key, fn, before
        self.samples: List[float] = []

    def chunk(self, n: int) -> None:
        if self.before is not None:
            self.before()
        self.fn()  # dropped: wakes the thread pool after the previous configuration
        for _ in range(n):
            t0 = time.perf_counter()
            self.fn()
            self.samples.append((time.perf_counter() - t0) * 1e3)


def ort_runner(spec: ModelSpec, provider: str, threads: int, warmup: int):
    from ..engine import Engine, EngineConfig

    engine = Engine(spec.path, EngineConfig(providers=[provider], intra_op_threads=threads,
                                            warmup_runs=warmup))
    x = np.random.default_rng(0).random((1, 3) + tuple(engine.input_hw), dtype=np.float32)
    sess, feed, out = engine.session, {engine.input_name: x}, [engine.output_name]
    runner = _Runner((spec.label, engine.provider, threads), lambda: sess.run(out, feed))
    runner.engine = engine  # type: ignore[attr-defined]
    return runner


def ort_nospin_runner(spec: ModelSpec, threads: int, warmup: int):
    """The node's CPU session with ``EngineConfig.allow_spinning=False`` (node parameter
    ``ort_allow_spinning``): ORT's pool threads sleep right after a run instead of busy-waiting
    for the next one.  On a small shared machine the spinning steals the cores that DDS, the
    executor and the publisher need between frames (docs/performance.md)."""
    from ..engine import Engine, EngineConfig

    engine = Engine(spec.path, EngineConfig(providers=["cpu"], intra_op_threads=threads,
                                            allow_spinning=False, warmup_runs=warmup))
    x = np.random.default_rng(0).random((1, 3) + tuple(engine.input_hw), dtype=np.float32)
    sess, feed, out = engine.session, {engine.input_name: x}, [engine.output_name]
    return _Runner((spec.label, "CPU, no spin", threads), lambda: sess.run(out, feed))


def eager_runner(spec: ModelSpec, threads: int, warmup: int, input_hw=(224, 224)):
    import torch

    model = torch_model(spec.torch_config)
    x = torch.rand(1, 3, *input_hw, generator=torch.Generator().manual_seed(0))

    def fn():
        with torch.inference_mode():
            model(x)

    def before():
        torch.set_num_threads(threads)

    before()
    for _ in range(warmup):
        fn()
    return _Runner((spec.label, "torch-eager", threads), fn, before)


def rotate(runners: Sequence[_Runner], runs: int, chunk: int = 20, pause_s: float = 0.01,
           budget_s: float = 0.0, progress=None) -> None:
    """Interleave ``runs`` timed runs of every runner in chunks (see module doc).  With
    ``budget_s`` > 0 a configuration stops once its timed runs add up to that many seconds
    (a pathological one, e.g. torch with 2 threads on a busy 2-core box, must not stall the
    whole bench); its ``n`` then says how many runs it got."""
    done = 0
    while done < runs:
        n = min(chunk, runs - done)
        for r in runners:
            if budget_s > 0 and sum(r.samples) / 1e3 >= budget_s:
                continue
            r.chunk(n)
            time.sleep(pause_s)
        done += n
        if progress:
            progress(done, runs)


# --------------------------------------------------------------------------- profiling


def profile_split(spec: ModelSpec, threads: int, runs: int, warmup: int) -> Dict[str, object]:
    """Encoder/decoder kernel time per run from ORT profiling (CPU provider)."""
    import json

    import onnxruntime as ort

    boundary, enc_keys, boundary_keys, all_keys = encoder_nodes(spec.path)
    if boundary is None:
        return {"model": spec.label, "threads": threads,
                "error": "no encoder boundary found (no Clip / /convN/ nodes)"}
    with tempfile.TemporaryDirectory(prefix="fdbench_prof_") as tmp:
        opts = ort.SessionOptions()  # same settings as engine.Engine, plus profiling
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "prof")
        opts.log_severity_level = 3
        sess = ort.InferenceSession(spec.path, opts, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        hw = [d if isinstance(d, int) else 224 for d in inp.shape[2:]]
        x = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
        for _ in range(warmup):
            sess.run(None, {inp.name: x})
        for _ in range(runs):
            sess.run(None, {inp.name: x})
        events = json.load(open(sess.end_profiling()))
    runs_ev = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    runs_ev = runs_ev[-runs:]
    nodes = sorted((e for e in events if e.get("cat") == "Node"
                    and e.get("name", "").endswith("_kernel_time")), key=lambda e: e["ts"])
    enc_ms: List[float] = []
    dec_ms: List[float] = []
    total_ms: List[float] = []
    per_node: Dict[str, List[float]] = {}
    unmatched = set()
    j = 0
    for run in runs_ev:
        lo, hi = run["ts"], run["ts"] + run["dur"]
        while j < len(nodes) and nodes[j]["ts"] < lo:
            j += 1
        enc = dec = 0.0
        seen_boundary = False
        while j < len(nodes) and nodes[j]["ts"] <= hi:
            e = nodes[j]
            j += 1
            name = e["name"][: -len("_kernel_time")]
            base = name[: -len("_nchwc")] if name.endswith("_nchwc") else name
            if base in enc_keys or name in enc_keys:
                side = "encoder"
            elif base in all_keys or name in all_keys:
                side = "decoder"
            else:  # a kernel ORT inserted (layout reorder...): the side it runs on
                side = "decoder" if seen_boundary else "encoder"
                unmatched.add(base)
            if base in boundary_keys or name in boundary_keys:
                seen_boundary = True
            ms = e["dur"] / 1e3
            per_node.setdefault(base, []).append(ms)
            if side == "encoder":
                enc += ms
            else:
                dec += ms
        enc_ms.append(enc)
        dec_ms.append(dec)
        total_ms.append(run["dur"] / 1e3)
    e_med, d_med = float(np.median(enc_ms)), float(np.median(dec_ms))
    top = sorted(((float(np.median(v)), k) for k, v in per_node.items()), reverse=True)[:8]
    return {
        "model": spec.label,
        "threads": threads,
        "method": "ORT profiling, kernel times summed per run; encoder = ancestors of %s" % boundary,
        "encoder_ms": summarize_ms(enc_ms),
        "decoder_ms": summarize_ms(dec_ms),
        "profiled_run_ms": summarize_ms(total_ms),
        "decoder_share": round(d_med / (e_med + d_med), 3) if e_med + d_med else None,
        "top_nodes_ms": [{"node": k, "median": round(v, 4)} for v, k in top],
        "helper_nodes": sorted(unmatched),
    }


# --------------------------------------------------------------------------- peak


def matmul_peak(threads_list: Sequence[int], n: int = 1024, runs: int = 20) -> Dict[str, object]:
    """Achievable fp32 GMAC/s of this machine: a large square MatMul in ONNX Runtime (MLAS,
    the same GEMM kernels the convolutions use), per intra-op thread count."""
    by_threads: Dict[str, Dict[str, float]] = {}
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    macs = n * n * n
    method = "onnxruntime MatMul"
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("MatMul", ["a", "b"], ["c"])], "peak",
            [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
             helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
            [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        blob = model.SerializeToString()
        del onnx
        for t in threads_list:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = t
            sess = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
            for _ in range(3):
                sess.run(None, {"a": a, "b": b})
            ts = []
            for _ in range(runs):
                t0 = time.perf_counter()
                sess.run(None, {"a": a, "b": b})
                ts.append(time.perf_counter() - t0)
            best = min(ts)  # peak = best achievable, not typical
            by_threads[str(t)] = {"gmacs_per_s": round(macs / best / 1e9, 2),
                                  "gflops": round(2 * macs / best / 1e9, 2),
                                  "median_gmacs_per_s": round(macs / float(np.median(ts)) / 1e9, 2)}
            del sess
    except ImportError:
        method = "numpy matmul (BLAS default threads; onnx not installed)"
        a @ b
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            a @ b
            ts.append(time.perf_counter() - t0)
        best = min(ts)
        for t in threads_list:
            by_threads[str(t)] = {"gmacs_per_s": round(macs / best / 1e9, 2),
                                  "gflops": round(2 * macs / best / 1e9, 2)}
    return {"method": method, "shape": "%dx%d @ %dx%d" % (n, n, n, n), "runs": runs,
            "statistic": "best of runs", "by_threads": by_threads,
            "roofline_denominator": "max(measured peak at t threads, t x 1-thread peak)"}


# --------------------------------------------------------------------------- node stages


def pipeline_stages(path: str, runs: int, warmup: int, threads: int = 0,
                    hw: Tuple[int, int] = (480, 640), rate_hz: float = 0.0,
                    allow_spinning: bool = False) -> Dict[str, object]:
    """The node's per-frame work in one process, no DDS: Image msg -> rgb8 (imaging),
    DepthPipeline (preprocess, inference, postprocess with the shipped defaults), depth ->
    Image msg.  ``threads`` and ``allow_spinning`` as the node's ``intra_op_threads`` (0 = ORT
    default) and ``ort_allow_spinning`` (defaults: the node's).

    ``rate_hz`` > 0 starts one frame per period, as a camera does, instead of back to back:
    between frames ORT's pool threads park and the caches cool, so this is the per-frame
    cost the node actually pays at that rate (the e2e comparison needs it)."""
    from ..engine import Engine, EngineConfig
    from ..pipeline import DepthPipeline

    engine = Engine(path, EngineConfig(providers=["cpu"], intra_op_threads=threads, warmup_runs=warmup,
                                       allow_spinning=allow_spinning))
    pipeline = DepthPipeline(engine)
    frame = np.random.default_rng(0).integers(0, 256, hw + (3,), dtype=np.uint8)
    msg = None
    try:
        from ..imaging import image_msg_to_rgb8, numpy_to_image

        msg = numpy_to_image(frame, "rgb8")
    except ImportError:  # sensor_msgs not installed: pipeline only
        pass
    stages: Dict[str, List[float]] = {}
    period_s = 1.0 / rate_hz if rate_hz > 0 else 0.0
    next_s = time.perf_counter()
    for i in range(warmup + runs):
        if period_s:
            next_s += period_s
            time.sleep(max(0.0, next_s - time.perf_counter()))
        t0 = time.perf_counter()
        rgb = image_msg_to_rgb8(msg) if msg is not None else frame
        t1 = time.perf_counter()
        result = pipeline.process(rgb)
        t2 = time.perf_counter()
        if msg is not None:
            numpy_to_image(result.depth, result.encoding)
        t3 = time.perf_counter()
        if i < warmup:
            continue
        for k, v in (("convert", (t1 - t0) * 1e3), *result.timings_ms.items(),
                     ("to_msg", (t3 - t2) * 1e3), ("total", (t3 - t0) * 1e3)):
            stages.setdefault(k, []).append(v)
    return {"model": path, "input_hw": list(hw), "threads": threads, "rate_hz": rate_hz,
            "allow_spinning": allow_spinning,
            "provider": engine.provider, "stages_ms": {k: summarize_ms(v) for k, v in stages.items()}}
