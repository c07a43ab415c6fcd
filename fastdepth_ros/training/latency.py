"""Latency lookup tables: what each FastDepth block costs on one ONNX Runtime provider.

NetAdapt (Yang et al., ECCV 2018, Sec. 4.2) does not measure every candidate network; it
sums per-layer latencies from a table measured once on the target platform.  Here the unit
is a FastDepth *block*, cut where the whole graph has one tensor (plus the skip input):

* ``stem``: conv0 (3x3 stride-2 conv + ReLU6 on the RGB input);
* ``mobilenet``: conv1..conv13 (3x3 depthwise + ReLU6, 1x1 pointwise + ReLU6);
* ``decoder``: decode_conv1..5 (5x5 depthwise + ReLU, 1x1 pointwise + ReLU, nearest x2 and,
  at the three skip stages, the skip addition, which therefore has a second input);
* ``head``: decode_conv6 (1x1 conv to one channel + ReLU).

A block's latency depends only on its :class:`Block` signature (kind, in/out channels, input
size, stride, skip), so entries are shared between layers of equal shape (conv7..conv11) and
between runs: the table is measured lazily, entry by entry, when the search first asks for a
width, and cached on disk under ``cache_root()/latency/`` keyed by provider, threads,
onnxruntime version and machine. Each entry is the fastest of 40 ``InferenceSession.run``
times (:func:`time_session`) of a single-block ONNX graph exported the way the whole model
is (BN folded, same exporter and opset, see :func:`.export.trace_to_onnx`), on the provider
the node would use, with the node's session options (:mod:`fastdepth_ros.engine`): the same
code path serves CPU, CUDA and TensorRT. Every ``run`` call also pays a fixed dispatch cost
(measured on a one-node graph, ``overhead``), which a whole network pays once, not once per
block: the prediction subtracts it ``n_blocks - 1`` times. :func:`check` compares
predictions with whole-network measurements; the search logs both for every chosen network.

``measure="macs"`` replaces the timing with each block's multiply-accumulates (1 GMAC = 1 s
nominal): the fake table of the tests, and a hardware-independent proxy for the curious.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .model import ENCODER_STRIDES, SKIP_SOURCES, Widths

KINDS = ("stem", "mobilenet", "decoder", "head")


@dataclass(frozen=True)
class Block:
    """One block's signature: everything its latency depends on."""

    kind: str
    cin: int
    cout: int
    in_hw: tuple[int, int]
    stride: int = 1
    skip: bool = False

    @property
    def key(self) -> str:
        h, w = self.in_hw
        return f"{self.kind}_{self.cin}_{self.cout}_{h}x{w}_s{self.stride}" + ("_add" if self.skip else "")

    @property
    def out_hw(self) -> tuple[int, int]:
        h, w = self.in_hw
        if self.kind == "decoder":
            return 2 * h, 2 * w
        return -(-h // self.stride), -(-w // self.stride)  # ceil: 3x3 convs padded by 1

    @property
    def macs(self) -> int:
        """Multiply-accumulates, the paper's convention (:mod:`.macs`)."""
        ih, iw = self.in_hw
        oh, ow = self.out_hw
        if self.kind == "stem":
            return oh * ow * self.cout * 3 * 9
        if self.kind == "mobilenet":
            return oh * ow * self.cin * (9 + self.cout)
        if self.kind == "decoder":
            return ih * iw * self.cin * (25 + self.cout)
        return ih * iw * self.cin * self.cout


def blocks(widths: Widths, input_hw: tuple[int, int] = (224, 224)) -> list[Block]:
    """The default FastDepth (NNConv5, depthwise decoder, skip add) at ``widths`` as the chain
    of blocks whose latencies add up to the whole network's."""
    out: list[Block] = []
    hw, cin = tuple(input_hw), 3
    for i, (cout, stride) in enumerate(zip(widths.encoder, ENCODER_STRIDES)):
        b = Block("stem" if i == 0 else "mobilenet", cin, cout, hw, stride)
        out.append(b)
        hw, cin = b.out_hw, cout
    for stage, cout in enumerate(widths.decoder, start=1):
        b = Block("decoder", cin, cout, hw, 1, stage in SKIP_SOURCES)
        out.append(b)
        hw, cin = b.out_hw, cout
    out.append(Block("head", cin, 1, hw))
    return out


# --------------------------------------------------------------------------- measuring


def block_module(block: Block):
    """The torch module of one block (random weights; speed does not depend on them)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from .model import conv_bn_act, decoder_conv, mobilenet_block

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = decoder_conv(block.cin, block.cout, 5, depthwise=True)

        def forward(self, x: torch.Tensor, *skip: torch.Tensor) -> torch.Tensor:
            x = F.interpolate(self.conv(x), scale_factor=2.0, mode="nearest")
            return x + skip[0] if skip else x

    if block.kind == "stem":
        return conv_bn_act(3, block.cout, 3, block.stride, relu6=True)
    if block.kind == "mobilenet":
        return mobilenet_block(block.cin, block.cout, block.stride)
    if block.kind == "decoder":
        return Decoder()
    if block.kind == "head":
        return conv_bn_act(block.cin, block.cout, 1)
    raise ValueError(f"unknown block kind {block.kind!r}")


def block_inputs(block: Block) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {"x": rng.random((1, block.cin, *block.in_hw), dtype=np.float32)}
    if block.skip:
        feeds["skip"] = rng.random((1, block.cout, *block.out_hw), dtype=np.float32)
    return feeds


def export_block(block: Block, path: str | Path) -> Path:
    """Export one block the way :func:`.export.export_onnx` exports the whole model."""
    import torch

    from .export import trace_to_onnx
    from .fold import fold_batchnorm

    torch.manual_seed(0)
    module = fold_batchnorm(block_module(block)).eval()
    feeds = block_inputs(block)
    trace_to_onnx(module, tuple(torch.from_numpy(v) for v in feeds.values()), path, list(feeds), ["y"])
    return Path(path)


def make_session(path: str | Path, provider: str = "cpu", threads: int = 1):
    """An ORT session with the node's options (:class:`fastdepth_ros.engine.EngineConfig`) that
    really runs on ``provider``: a silent CPU fallback would fill a TensorRT table with CPU
    numbers, so it raises instead."""
    import onnxruntime as ort

    from ..engine import EngineConfig, provider_name

    name = provider_name(provider)
    cfg = EngineConfig(providers=[provider], intra_op_threads=threads)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = int(cfg.inter_op_threads)
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    names = [name] + (["CPUExecutionProvider"] if name != "CPUExecutionProvider" else [])
    sess = ort.InferenceSession(
        str(path), opts, providers=names, provider_options=[cfg.provider_options(n) for n in names]
    )
    if sess.get_providers()[0] != name:
        raise RuntimeError(f"{name} is not active in this onnxruntime (got {sess.get_providers()})")
    return sess


def time_session(
    sess, feeds: dict[str, np.ndarray], runs: int = 40, warmup: int = 5, stat: str = "min"
) -> float:
    """Milliseconds of ``sess.run`` after ``warmup`` untimed runs: the ``stat`` of ``runs``
    samples (``median``, ``min`` or ``pNN``).  Default the minimum: on a shared, loaded
    machine the neighbours' load only ever adds time, so the fastest run is the most
    repeatable estimate of the network's own cost (measured here under load ~8 on 2 cores:
    a whole-network median moved 21 -> 45 ms between two calls, the minimum by 3 %)."""
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    if stat == "median":
        return float(np.median(times))
    if stat == "min":
        return float(np.min(times))
    return float(np.percentile(times, float(stat.lstrip("p"))))


def _overhead_graph(path: Path) -> dict[str, np.ndarray]:
    """A one-node graph (ReLU on a 1x8x8x8 tensor): the fixed cost of one ``run`` call."""
    import onnx
    from onnx import TensorProto, helper

    from .export import OPSET

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "overhead", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), str(path))
    return {"x": np.zeros((1, 8, 8, 8), np.float32)}


class OrtMeasure:
    """Measures blocks on one provider with one thread count (``measure(block) -> ms``)."""

    def __init__(
        self, provider: str = "cpu", threads: int = 1, runs: int = 40, warmup: int = 5, stat: str = "min"
    ) -> None:
        self.provider, self.threads, self.runs, self.warmup = provider, threads, runs, warmup
        self.stat = stat
        self._dir = tempfile.TemporaryDirectory(prefix="fastdepth_lut_")

    def __call__(self, block: Block) -> float:
        path = export_block(block, Path(self._dir.name) / f"{block.key}.onnx")
        ms = time_session(
            make_session(path, self.provider, self.threads),
            block_inputs(block),
            self.runs,
            self.warmup,
            self.stat,
        )
        path.unlink()
        return ms

    def overhead(self) -> float:
        path = Path(self._dir.name) / "overhead.onnx"
        feeds = _overhead_graph(path)
        return time_session(
            make_session(path, self.provider, self.threads), feeds, 5 * self.runs, self.warmup, self.stat
        )

    def whole(self, model_path: str | Path) -> float:
        """Median ms of a whole exported network (1x3xHxW input)."""
        sess = make_session(model_path, self.provider, self.threads)
        shape = [d if isinstance(d, int) else 224 for d in sess.get_inputs()[0].shape]
        feeds = {sess.get_inputs()[0].name: np.random.default_rng(0).random(shape, dtype=np.float32)}
        return time_session(sess, feeds, self.runs, self.warmup, self.stat)

    def describe(self) -> dict:
        import onnxruntime as ort

        from ..bench.report import machine_info, machine_label

        machine = machine_info()
        return {
            "measure": "ort",
            "provider": self.provider,
            "threads": self.threads,
            "runs": self.runs,
            "stat": self.stat,
            "onnxruntime": ort.__version__,
            "machine": machine_label(machine),
            "cpu_model": machine.get("cpu_model"),
        }


class MacsMeasure:
    """The fake/proxy table: a block's MACs as its 'latency' (1 GMAC = 1000 ms), no overhead."""

    def __call__(self, block: Block) -> float:
        return block.macs * 1e-6

    def overhead(self) -> float:
        return 0.0

    def describe(self) -> dict:
        return {"measure": "macs", "unit": "GMAC as seconds"}


# --------------------------------------------------------------------------- the table


def default_table_path(desc: dict, input_hw: tuple[int, int]) -> Path:
    from .data import cache_root

    if desc["measure"] == "macs":
        name = "macs"
    else:
        name = (
            f"{desc['provider']}_{desc['threads']}t_{desc['stat']}_ort{desc['onnxruntime']}_{desc['machine']}"
        )
    return cache_root() / "latency" / f"{name}_{input_hw[0]}x{input_hw[1]}.json"


class LatencyTable:
    """Block latencies (ms) by signature, measured on first use and kept on disk.

    ``predict(widths)`` is NetAdapt's latency estimate of a whole network."""

    def __init__(
        self,
        measure: Callable[[Block], float],
        path: str | Path | None = None,
        input_hw: tuple[int, int] = (224, 224),
        on_measure: Callable[[Block, float], None] | None = None,
    ) -> None:
        self.measure, self.input_hw = measure, tuple(input_hw)
        describe = getattr(measure, "describe", None)
        self.desc = describe() if describe else {"measure": "custom"}
        self.path = Path(path) if path else None
        self.entries: dict[str, float] = {}
        self.overhead_ms: float | None = None
        self.on_measure = on_measure
        self.new_blocks: list[Block] = []  # measured by this object (not loaded from the file)
        if self.path and self.path.exists():
            saved = json.loads(self.path.read_text())
            self.entries = {k: float(v) for k, v in saved.get("entries", {}).items()}
            self.overhead_ms = saved.get("overhead_ms")

    @classmethod
    def for_runtime(
        cls,
        kind: str = "ort",
        provider: str = "cpu",
        threads: int = 1,
        runs: int = 40,
        input_hw: tuple[int, int] = (224, 224),
        path: str | Path | None = None,
    ) -> LatencyTable:
        """The cached table of ``kind`` (``ort`` or ``macs``) for this machine and provider."""
        measure = OrtMeasure(provider, threads, runs) if kind == "ort" else MacsMeasure()
        path = path or default_table_path(measure.describe(), input_hw)
        return cls(measure, path, input_hw)

    def overhead(self) -> float:
        if self.overhead_ms is None:
            overhead = getattr(self.measure, "overhead", None)
            self.overhead_ms = float(overhead()) if overhead else 0.0
            self.save()
        return self.overhead_ms

    def block_ms(self, block: Block) -> float:
        if block.key not in self.entries:
            ms = float(self.measure(block))
            self.entries[block.key] = ms
            self.new_blocks.append(block)
            if self.on_measure:
                self.on_measure(block, ms)
            self.save()
        return self.entries[block.key]

    def predict(self, widths: Widths) -> float:
        """Sum of the block latencies, with the per-call dispatch cost counted once."""
        bs = blocks(widths, self.input_hw)
        return sum(self.block_ms(b) for b in bs) - (len(bs) - 1) * self.overhead()

    def refine(self, widths: Sequence[Widths], passes: int = 1) -> int:
        """Measure the entries of these networks ``passes`` more times and keep the fastest:
        one measurement taken while a neighbour hogged the cores would otherwise stay in the
        table for good.  Returns how many entries got faster."""
        return self.refine_blocks([b for w in widths for b in blocks(w, self.input_hw)], passes)

    def refine_blocks(self, bs: Sequence[Block], passes: int = 1) -> int:
        """:meth:`refine` for these blocks."""
        faster = 0
        keys = {b.key: b for b in bs}
        for _ in range(passes):
            for key, block in keys.items():
                old = self.block_ms(block)
                ms = float(self.measure(block))
                if ms < old:
                    self.entries[key] = ms
                    faster += 1
        self.save()
        return faster

    def missing(self, widths: Widths) -> list[Block]:
        return [b for b in blocks(widths, self.input_hw) if b.key not in self.entries]

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(
            json.dumps(
                {
                    **self.desc,
                    "input_hw": list(self.input_hw),
                    "overhead_ms": self.overhead_ms,
                    "entries": self.entries,
                },
                indent=1,
                sort_keys=True,
            )
        )
        tmp.replace(self.path)


def measure_widths(table: LatencyTable, widths: Widths, model_path: str | Path | None = None) -> float:
    """Whole-network latency of ``widths`` (random weights, or the exported ``model_path``)
    with the table's measure: the ground truth the table predicts."""
    if isinstance(table.measure, MacsMeasure):
        return float(sum(b.macs for b in blocks(widths, table.input_hw)) * 1e-6)
    if model_path is None:
        import torch

        from .export import export_onnx
        from .model import FastDepth

        torch.manual_seed(0)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(
                FastDepth(widths.encoder, widths.decoder), Path(tmp) / "net.onnx", table.input_hw
            )
            return table.measure.whole(path)
    return table.measure.whole(model_path)


def check(table: LatencyTable, named: Sequence[tuple[str, Widths]], rounds: int = 3, refine: int = 0) -> dict:
    """Predicted vs measured whole-network latency for each ``(name, widths)``: the table's
    error, per network and its mean absolute value.  Whole networks are measured in
    ``rounds`` interleaved rounds (the fastest counts, as for the entries); ``refine`` extra
    passes over the networks' entries first (:meth:`LatencyTable.refine`)."""
    for _, widths in named:
        table.predict(widths)  # measure what is missing
    if refine:
        table.refine([w for _, w in named], refine)
    measured: dict[str, float] = {}
    for _ in range(max(1, rounds)):
        for name, widths in named:
            ms = measure_widths(table, widths)
            measured[name] = min(measured.get(name, ms), ms)
    rows = []
    for name, widths in named:
        predicted = table.predict(widths)
        rows.append(
            {
                "name": name,
                "widths": asdict(widths),
                "predicted_ms": round(predicted, 4),
                "measured_ms": round(measured[name], 4),
                "rel_error": round(predicted / measured[name] - 1.0, 4),
            }
        )
    errors = [abs(r["rel_error"]) for r in rows]
    return {
        "table": table.desc,
        "overhead_ms": table.overhead(),
        "rounds": rounds,
        "refine": refine,
        "rows": rows,
        "mean_abs_rel_error": round(float(np.mean(errors)), 4) if errors else None,
        "max_abs_rel_error": round(float(np.max(errors)), 4) if errors else None,
    }
