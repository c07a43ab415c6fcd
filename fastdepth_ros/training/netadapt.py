"""NetAdapt (Yang et al., ECCV 2018) for FastDepth: prune for the runtime it will run on.

FastDepth (Wofk et al. 2019, Sec. III-C) used NetAdapt to halve its MACs; the official
repository never released the pruning.  The algorithm, as the paper gives it:

1. Each iteration ``k`` has a latency budget ``L_k = L_{k-1} - dR_k``, where the reduction
   ``dR_k = reduction * decay**k * L_parent`` shrinks as the network gets smaller.
2. For every prunable unit, propose the *largest* width (a multiple of ``step``) whose
   network meets ``L_k`` according to the latency table (:mod:`.latency`); keep the filters
   with the largest BN-folded L2 norm (:func:`.pretrained.select_channels`, the criterion of
   the ImageNet initialisation); short-term fine-tune it for ``budget`` steps.
3. Keep the proposal with the best validation accuracy; repeat until the target latency is
   met; then long-term fine-tune the chosen point(s).

Prunable units are FastDepth's width slots, except that the skip additions tie three pairs
together: decode_conv4/conv1, decode_conv3/conv3, decode_conv2/conv5 add their outputs, so a
pair keeps the same channel indices (scored by the sum of both layers' normalised norms).
That leaves 16 units (:data:`GROUPS`).

State lives in one run directory, so the search resumes after an interruption at the last
finished proposal: ``config.json``; per iteration ``iter_NNN/`` with one ``.json`` (+ its
fine-tuned ``.pth`` until the iteration ends) per proposal and, when done, ``state.json`` +
``model.pth``; ``log.json`` gathers all iterations (widths, predicted and measured latency,
validation accuracy of every proposal).  Long-term fine-tunes are ordinary resumable
:func:`.train.train` runs under ``long/``.  :mod:`.pareto` turns it all into the table and
plot.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from .checkpoint import save_model
from .latency import LatencyTable, blocks
from .model import FastDepth, Widths
from .pretrained import folded_norm, top_channels

#: Width slots: ("enc", i) = conv{i}'s output, ("dec", s) = decode_conv{s}'s output.
Slot = tuple[str, int]


@dataclass(frozen=True)
class Group:
    """Width slots pruned together (a skip-add pair) and the name used in logs and files."""

    name: str
    slots: tuple[Slot, ...]


def _skip_pairs() -> dict[Slot, Slot]:
    from .model import SKIP_SOURCES

    return {("enc", enc): ("dec", stage) for stage, enc in SKIP_SOURCES.items()}


def _groups() -> tuple[Group, ...]:
    pairs = _skip_pairs()
    paired = set(pairs.values())
    out = []
    for i in range(14):
        slot = ("enc", i)
        if slot in pairs:
            s = pairs[slot][1]
            out.append(Group(f"conv{i}+decode_conv{s}", (slot, pairs[slot])))
        else:
            out.append(Group(f"conv{i}", (slot,)))
    out += [Group(f"decode_conv{s}", (("dec", s),)) for s in range(1, 6) if ("dec", s) not in paired]
    return tuple(out)


GROUPS = _groups()


def width_of(widths: Widths, slot: Slot) -> int:
    kind, i = slot
    return widths.encoder[i] if kind == "enc" else widths.decoder[i - 1]


def with_width(widths: Widths, group: Group, width: int) -> Widths:
    enc, dec = list(widths.encoder), list(widths.decoder)
    for kind, i in group.slots:
        if kind == "enc":
            enc[i] = width
        else:
            dec[i - 1] = width
    return Widths(tuple(enc), tuple(dec))


def group_width(widths: Widths, group: Group) -> int:
    return width_of(widths, group.slots[0])


# --------------------------------------------------------------------------- channel surgery


@dataclass(frozen=True)
class ConvBN:
    """One conv + its BN in the default FastDepth, and the slots its channels belong to."""

    conv: str  # state_dict prefix of the conv
    bn: str
    in_slot: Slot | None  # None: the RGB input
    out_slot: Slot | None  # None: the one-channel depth output
    depthwise: bool = False


def layers() -> list[ConvBN]:
    """Every conv of the default FastDepth (nnconv, depthwise decoder, skip add) in order."""
    out = [ConvBN("conv0.0", "conv0.1", None, ("enc", 0))]
    for i in range(1, 14):
        cin = ("enc", i - 1)
        out.append(ConvBN(f"conv{i}.0", f"conv{i}.1", cin, cin, depthwise=True))
        out.append(ConvBN(f"conv{i}.3", f"conv{i}.4", cin, ("enc", i)))
    for s in range(1, 6):
        cin = ("enc", 13) if s == 1 else ("dec", s - 1)
        out.append(ConvBN(f"decode_conv{s}.0.0", f"decode_conv{s}.0.1", cin, cin, depthwise=True))
        out.append(ConvBN(f"decode_conv{s}.1.0", f"decode_conv{s}.1.1", cin, ("dec", s)))
    out.append(ConvBN("decode_conv6.0", "decode_conv6.1", ("dec", 5), None))
    return out


def _check_default(model: FastDepth) -> None:
    if (model.upsample, model.depthwise, model.skip, model.decoder_kernel) != ("nnconv", True, "add", 5):
        raise ValueError("NetAdapt here handles the paper's final FastDepth (nnconv, depthwise, add, 5x5)")


def channel_scores(model: FastDepth, group: Group) -> np.ndarray:
    """Magnitude of each channel of ``group``: the BN-folded filter L2 norm of the layer that
    produces it; for a skip pair, the sum of both producers' norms, each divided by its mean
    (so both layers weigh equally)."""
    sd = model.state_dict()
    total = None
    for layer in layers():
        if layer.out_slot not in group.slots or layer.depthwise:
            continue
        bn = {k: sd[f"{layer.bn}.{k}"].numpy() for k in ("weight", "running_var")}
        eps = model.get_submodule(layer.bn).eps
        norm = folded_norm(sd[f"{layer.conv}.weight"].numpy(), bn, eps)
        norm = norm / max(float(norm.mean()), 1e-12)
        total = norm if total is None else total + norm
    assert total is not None
    return total


def kept_channels(model: FastDepth, widths: Widths) -> dict[Slot, np.ndarray]:
    """Per slot, the channels of ``model`` that a network of ``widths`` keeps."""
    keep: dict[Slot, np.ndarray] = {}
    for group in GROUPS:
        n = group_width(widths, group)
        idx = top_channels(channel_scores(model, group), n)
        for slot in group.slots:
            keep[slot] = idx
    return keep


def prune_to(model: FastDepth, widths: Widths) -> FastDepth:
    """A new model of ``widths`` whose every kept channel carries ``model``'s weights (output
    channels of the producer, input channels of the consumers, the BN statistics)."""
    _check_default(model)
    keep = kept_channels(model, widths)
    new = FastDepth(widths.encoder, widths.decoder, encoder_bn_eps=model.encoder_bn_eps)
    src = model.state_dict()
    dst = new.state_dict()
    for layer in layers():
        out_idx = keep[layer.out_slot] if layer.out_slot else slice(None)
        in_idx = keep[layer.in_slot] if layer.in_slot else slice(None)
        w = src[f"{layer.conv}.weight"]
        w = w[torch.as_tensor(out_idx)] if layer.out_slot else w
        if not layer.depthwise and layer.in_slot:
            w = w[:, torch.as_tensor(in_idx)]
        dst[f"{layer.conv}.weight"] = w.clone()
        for k in ("weight", "bias", "running_mean", "running_var"):
            v = src[f"{layer.bn}.{k}"]
            dst[f"{layer.bn}.{k}"] = (v[torch.as_tensor(out_idx)] if layer.out_slot else v).clone()
        dst[f"{layer.bn}.num_batches_tracked"] = src[f"{layer.bn}.num_batches_tracked"].clone()
    new.load_state_dict(dst)
    return new.train(model.training)


# --------------------------------------------------------------------------- the search


@dataclass
class NetAdaptConfig:
    """Everything that defines a search (stored in ``config.json``; a resumed run keeps it)."""

    parent: str = ""  # our .pth of the parent, or an exported .onnx (e.g. the shipped model)
    # latency model
    latency: str = "ort"  # "ort" (measured) or "macs" (the proxy table)
    provider: str = "cpu"
    threads: int = 2
    lut_runs: int = 40
    lut_path: str = ""  # default: cache_root()/latency/<provider, threads, machine>.json
    input_hw: tuple = (224, 224)
    # schedule
    target_ms: float = 0.0  # absolute target; 0: target_ratio x the parent's predicted latency
    target_ratio: float = 0.0  # 0: the official pruned widths' predicted latency / target_vs_pruned
    target_vs_pruned: float = 1.3
    reduction: float = 0.05  # first iteration's reduction, a fraction of the parent's latency
    decay: float = 0.96
    step: int = 8  # widths are multiples of this (NetAdapt's and TensorRT's granularity)
    min_width: int = 8
    max_iterations: int = 100
    # short-term fine-tune per proposal
    budget: int = 50  # SGD steps of batch_size (400 images at the defaults)
    batch_size: int = 8
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0
    threads_torch: int = 1
    workers: int = 1  # data loader processes for the fine-tunes
    data_on_device: bool = False  # batches from frames held in memory (device_batches)
    frozen_bn: bool = False  # BatchNorm stays as loaded: needed for a folded (.onnx) parent
    teacher: str = ""  # ONNX teacher: + distill_weight x L1 to its depth (real frames)
    distill_weight: float = 0.0
    distill_rendered: bool = False  # ... and on the rendered scenes too
    real: list = field(default_factory=list)
    render_share: float = 0.3
    scenes: int = 12000
    min_scenes: int = 64
    val: list = field(default_factory=list)
    val_stride: int = 4  # validate the proposals on every n-th frame (the final points on all)
    select: str = "delta1"  # or "delta1_scaled", or "agreement" (δ1 vs the parent): mean over folders
    measure_every: int = 1  # measure the chosen network's whole latency every n iterations
    # "table": stop when the table meets the target; "measured": also stop as soon as the chosen
    # network's measured latency meets the goal measured the same way (the table over-predicts
    # narrow networks: +31 % at the end of a CPU run, which overshot 1.35x to 1.75x)
    stop_on: str = "table"
    # long-term fine-tune
    long_steps: int = 2000
    long_lr: float = 0.01
    long_batch_size: int = 0  # 0: batch_size
    long_warmup_steps: int = -1  # -1: min(100, long_steps // 10)
    points: int = 1  # NetAdapt points to long-term fine-tune (the last + evenly spread)
    also_iterations: list = field(default_factory=list)  # ... and these iterations
    official: bool = True  # also prune the parent to model.PRUNED and long-term fine-tune it

    @classmethod
    def from_dict(cls, d: dict) -> NetAdaptConfig:
        names = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in d.items() if k in names})
        cfg.input_hw = tuple(cfg.input_hw)
        return cfg

    def train_config(self, **overrides):
        """A :class:`.train.TrainConfig` for the data and optimiser settings of this search."""
        from .train import TrainConfig

        base = dict(
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            seed=self.seed,
            threads=self.threads_torch,
            real=list(self.real),
            render_share=self.render_share,
            val=list(self.val),
            scenes=self.scenes,
            min_scenes=self.min_scenes,
            render_workers=0,
            workers=self.workers,
            warmup_steps=0,
            data_on_device=self.data_on_device,
            frozen_bn=self.frozen_bn,
            teacher=self.teacher,
            distill_weight=self.distill_weight,
            distill_rendered=self.distill_rendered,
        )
        base.update(overrides)
        return TrainConfig(**base)


def check_disjoint(real: list, val: list) -> None:
    """Refuse validation frames that the fine-tunes train on (same folder, overlapping range)."""
    from .folders import FolderSpec

    def span(spec: FolderSpec) -> tuple[float, float]:
        return (
            spec.first if spec.first is not None else -math.inf,
            spec.last if spec.last is not None else math.inf,
        )

    for v in val:
        if v == "nyu_sample":
            continue
        vs = FolderSpec.parse(v)
        for r in real:
            rs = FolderSpec.parse(r)
            (a0, a1), (b0, b1) = span(vs), span(rs)
            if vs.path.resolve() == rs.path.resolve() and a0 <= b1 and b0 <= a1:
                raise ValueError(
                    f"validation folder {v} overlaps training folder {r}: validate on held-out frames"
                )


def make_table(cfg: NetAdaptConfig) -> LatencyTable:
    return LatencyTable.for_runtime(
        cfg.latency, cfg.provider, cfg.threads, cfg.lut_runs, tuple(cfg.input_hw), cfg.lut_path or None
    )


def schedule_target(cfg: NetAdaptConfig, table: LatencyTable, parent: Widths) -> float:
    """The final latency target in the table's unit (ms, or nominal ms for ``macs``)."""
    from .model import PRUNED

    if cfg.target_ms > 0:
        return cfg.target_ms
    if cfg.target_ratio > 0:
        return cfg.target_ratio * table.predict(parent)
    return table.predict(PRUNED) / cfg.target_vs_pruned


def propose(
    table: LatencyTable, widths: Widths, group: Group, budget_ms: float, cfg: NetAdaptConfig
) -> int | None:
    """The largest width of ``group`` (a multiple of ``step``, >= ``min_width``, below the
    current one) whose network meets ``budget_ms``; None if even the narrowest does not.

    Binary search over the candidate widths (latency grows with width), so a measured table
    needs ~log2(width/step) new entries per unit instead of one per candidate."""
    current = group_width(widths, group)
    candidates = list(range(cfg.min_width, (current - 1) // cfg.step * cfg.step + 1, cfg.step))
    candidates = [w for w in candidates if w % cfg.step == 0]

    current_ms = table.predict(widths)

    def fits(w: int) -> bool:
        return predict_narrower(table, widths, with_width(widths, group, w), current_ms) <= budget_ms

    if not candidates or not fits(candidates[0]):
        return None
    lo, hi = 0, len(candidates)  # candidates[lo] fits; candidates[hi:] do not (or do not exist)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(candidates[mid]):
            lo = mid
        else:
            hi = mid
    return candidates[lo]


def predict_narrower(
    table: LatencyTable, widths: Widths, narrower: Widths, current_ms: float, passes: int = 2
) -> float:
    """``table.predict(narrower)``, where ``narrower`` has no slot wider than ``widths`` (whose
    prediction is ``current_ms``).  Less work cannot take longer, so a prediction above
    ``current_ms`` means a new entry was timed while the machine was busy (on a shared 2-core
    box one block measured 2.2x its neighbours' cost and derailed the binary search): its
    entries are measured ``passes`` more times, keeping the fastest, before it counts."""
    ms = table.predict(narrower)
    if ms > current_ms and passes > 0:
        known = {b.key for b in blocks(widths, table.input_hw)}
        new = [b for b in blocks(narrower, table.input_hw) if b.key not in known]
        table.refine_blocks(new, passes)
        ms = table.predict(narrower)
    return ms


def _score(metrics: dict, select: str) -> float:
    """Mean over the validation folders of δ1 (metric) or δ1 after median scaling; for
    ``agreement`` the metrics are against the parent's depth and the metric δ1 counts."""
    values = []
    for m in metrics.values():
        values.append(m["median_scaled"]["delta1"] if select == "delta1_scaled" else m["delta1"])
    return float(np.mean(values))


def _summary(metrics: dict) -> dict:
    return {
        name: {
            "delta1": m["delta1"],
            "delta1_scaled": m["median_scaled"]["delta1"],
            "absrel": m["absrel"],
            "rmse_m": m["rmse_m"],
            "frames": m["frames"],
        }
        for name, m in metrics.items()
    }


def _load_model(path: Path) -> FastDepth:
    """Our checkpoint, or an exported ONNX (BatchNorm folded into the convs: prune it with
    ``frozen_bn``, or training-mode BatchNorm would replace the folded statistics)."""
    if path.suffix == ".onnx":
        from .onnx_weights import load_onnx

        return load_onnx(path).train()
    from .checkpoint import load_model

    return load_model(path)[0].train()


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=list))
    tmp.replace(path)


#: Settings a resumed search takes from the new command line; all others stay as stored,
#: because they define what the finished iterations did.
RESUME_MAY_CHANGE = (
    "max_iterations",
    "measure_every",
    "stop_on",
    "threads_torch",
    "workers",
    "long_steps",
    "long_lr",
    "long_batch_size",
    "long_warmup_steps",
    "points",
    "also_iterations",
    "official",
)


class Search:
    """One resumable NetAdapt search in ``run_dir`` (see the module doc for the layout)."""

    def __init__(
        self,
        run_dir: str | Path,
        cfg: NetAdaptConfig | None = None,
        table: LatencyTable | None = None,
        stream=None,
        given: set[str] | None = None,
    ) -> None:
        """``given``: the :data:`RESUME_MAY_CHANGE` settings of ``cfg`` that a resumed search
        takes (the command line's explicit ones); None: all of them."""
        self.dir = Path(run_dir)
        saved = self.dir / "config.json"
        if saved.exists():
            stored = NetAdaptConfig.from_dict(json.loads(saved.read_text()))
            if cfg is not None:
                new, old = asdict(cfg), asdict(stored)
                taken = [k for k in RESUME_MAY_CHANGE if given is None or k in given]
                for k in taken:
                    setattr(stored, k, new[k])
                ignored = [k for k in new if new[k] != old[k] and k not in RESUME_MAY_CHANGE]
                if ignored:
                    print(
                        f"resuming {self.dir}: keeping its stored {ignored} (they define the search)",
                        flush=True,
                    )
                _write_json(saved, asdict(stored))
            cfg = stored
        elif cfg is None:
            raise FileNotFoundError(f"{saved} missing: start a search with a config")
        else:
            _write_json(saved, asdict(cfg))
        check_disjoint(cfg.real, cfg.val)
        self.cfg = cfg
        self.table = table or make_table(cfg)
        self.stream = stream
        self._val = None
        self._teacher = None
        self._device_batches = None
        # per validation stride: the frames with the parent's depth (--select agreement)
        self._parent_sets: dict[int, list] = {}

    # ---------------------------------------------------------------- pieces
    def val_sets(self, stride: int):
        from .evaluate import ValidationSet, validation_sets

        if self._val is None:
            self._val = validation_sets(self.cfg.val)
        if stride <= 1:
            return self._val
        return [ValidationSet(v.name, v.samples[::stride], v.focal_px) for v in self._val]

    def validate(self, model: FastDepth, stride: int) -> dict:
        from .evaluate import evaluate_sets

        if not self.cfg.val:
            raise ValueError("NetAdapt needs held-out validation folders (--val)")
        return evaluate_sets(model, self.val_sets(stride))

    def agreement(self, model: FastDepth, stride: int) -> dict:
        """Metrics of ``model`` against the *parent's* depth on the validation frames (every
        pixel), for ``--select agreement``.  When the labelled frames come from the scenes the
        fine-tunes see, their δ1 rewards a prune that happens to drift toward those scenes (a
        magnitude prune of the shipped model, untrained, moved kitchen δ1 0.71 -> 0.85 and the
        NYU frame 0.71 -> 0.57); agreement with the parent keeps what it does everywhere."""
        from .evaluate import ValidationSet, _scores, evaluate_sets

        if stride not in self._parent_sets:
            sets = self.val_sets(stride)
            preds = _scores(self.parent(), 1, sets)[1]
            self._parent_sets[stride] = []
            for v in sets:
                pairs = zip(v.samples, preds[v.name])
                samples = [(rgb, np.asarray(p, np.float32).reshape(gt.shape)) for (rgb, gt), p in pairs]
                self._parent_sets[stride].append(ValidationSet(v.name, samples, v.focal_px))
        return evaluate_sets(model, self._parent_sets[stride])

    def finetune(self, model: FastDepth, iteration: int, on_step=None) -> float:
        """``budget`` SGD steps at a constant learning rate; every proposal of an iteration
        sees the same samples (positions are a pure function of seed and iteration)."""
        from .train import _make_teacher, _teacher_targets, batch_loss, train_mode

        cfg = self.cfg
        tcfg = cfg.train_config()
        torch.set_num_threads(cfg.threads_torch)
        torch.manual_seed(cfg.seed + iteration)
        if self._teacher is None and tcfg.teacher and tcfg.distill_weight > 0:
            self._teacher = _make_teacher(tcfg)
        first = 1_000_000 + iteration * cfg.budget  # batch index, past the parent's batches
        opt = torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
        train_mode(model, tcfg)
        loss = float("nan")
        for x, d, use in self._batches(tcfg, first, first + cfg.budget):
            teacher_depth = _teacher_targets(self._teacher, x, use)
            out = batch_loss(model(x), d, teacher_depth, use, cfg.distill_weight)
            opt.zero_grad(set_to_none=True)
            out.backward()
            opt.step()
            loss = out.item()
            if not math.isfinite(loss):
                raise FloatingPointError(f"fine-tune loss became {loss}")
            if on_step:
                on_step(loss)
        return loss

    def _batches(self, tcfg, first: int, stop: int):
        """Batches ``first .. stop-1`` of the fine-tune data: from frames held in memory
        (built once per search) or from the training's DataLoader (:func:`.train._cpu_batches`)."""
        from .train import _cached_count, _cpu_batches

        if not tcfg.data_on_device:
            return ((x, d, use) for x, d, use, _ in _cpu_batches(tcfg, first, stop))
        if self._device_batches is None:
            from .device_batches import DeviceBatches

            n_rendered = _cached_count(tcfg) if tcfg.render_share > 0 else 0
            self._device_batches = DeviceBatches(tcfg, n_rendered, "cpu")
        return (self._device_batches.batch(i, tcfg.batch_size) for i in range(first, stop))

    def parent(self) -> FastDepth:
        model = _load_model(Path(self.cfg.parent))
        _check_default(model)
        return model

    def measured_ms(self, model: FastDepth) -> float:
        """Whole-network latency of ``model``'s exported graph with the table's measure."""
        from .latency import measure_widths

        return measure_widths(self.table, model.widths)

    def check_table(self, rounds: int = 3, refine: int = 2) -> dict:
        """The latency table against whole-network measurements of the parent, a half-width
        network and (for a full-width parent) the official widths; ``lut_check.json``."""
        from .latency import check
        from .model import FULL, PRUNED

        parent = self.parent().widths

        def halved(ws: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(max(8, w // 16 * 8) for w in ws)

        half = Widths(halved(parent.encoder), halved(parent.decoder))
        named = [("parent", parent), ("half", half)] + ([("official", PRUNED)] if parent == FULL else [])
        result = check(self.table, named, rounds=rounds, refine=refine)
        _write_json(self.dir / "lut_check.json", result)
        for row in result["rows"]:
            print(
                f"latency table check {row['name']}: predicted {row['predicted_ms']:.3f} ms, measured "
                f"{row['measured_ms']:.3f} ms ({100 * row['rel_error']:+.1f} %)",
                flush=True,
            )
        return result

    # ---------------------------------------------------------------- state
    def iter_dir(self, k: int) -> Path:
        return self.dir / f"iter_{k:03d}"

    def completed(self) -> list[dict]:
        out = []
        k = 1
        while (self.iter_dir(k) / "state.json").exists():
            out.append(json.loads((self.iter_dir(k) / "state.json").read_text()))
            k += 1
        return out

    def start_state(self) -> dict:
        """Iteration 0: the parent, validated and measured once (kept in ``iter_000``)."""
        path = self.iter_dir(0) / "state.json"
        if path.exists():
            return json.loads(path.read_text())
        model = self.parent()
        metrics = self.validate(model, self.cfg.val_stride)
        state = {
            "iteration": 0,
            "widths": asdict(model.widths),
            "chosen": "parent",
            "predicted_ms": self.table.predict(model.widths),
            "measured_ms": self.measured_ms(model),
            "score": _score(metrics, self.cfg.select),
            "val": _summary(metrics),
            "model": str(Path(self.cfg.parent).resolve()),
            "time": time.time(),
        }
        state["target_ms"] = schedule_target(self.cfg, self.table, model.widths)
        _write_json(path, state)
        return state

    def measured_goal(self) -> float:
        """The final target as a whole-network measurement (``stop_on`` "measured"), fixed when
        first asked: ``target_ms``, or the parent's / the official widths' measured latency
        (fastest of three) times ``target_ratio`` / divided by ``target_vs_pruned``."""
        from .latency import measure_widths
        from .model import PRUNED

        path = self.dir / "measured_goal.json"
        if path.exists():
            return json.loads(path.read_text())["goal_ms"]
        cfg = self.cfg
        if cfg.target_ms > 0:
            goal, of = cfg.target_ms, None
        else:
            of = _widths(self.start_state()) if cfg.target_ratio > 0 else PRUNED
            ms = min(measure_widths(self.table, of) for _ in range(3))
            goal = ms * cfg.target_ratio if cfg.target_ratio > 0 else ms / cfg.target_vs_pruned
        _write_json(path, {"goal_ms": goal, "measured_widths": asdict(of) if of else None})
        return goal

    def target(self) -> float:
        """The final target, fixed when the search started (a refined table does not move it)."""
        state = self.start_state()
        return state.get("target_ms") or schedule_target(self.cfg, self.table, _widths(state))

    def write_log(self) -> dict:
        states = [self.start_state()] + self.completed()
        parent_ms = states[0]["predicted_ms"]
        log = {
            "config": asdict(self.cfg),
            "table": self.table.desc,
            "target_ms": self.target(),
            "parent_predicted_ms": parent_ms,
            "iterations": states,
        }
        _write_json(self.dir / "log.json", log)
        return log

    # ---------------------------------------------------------------- loop
    def run(self) -> dict:
        """Run (or resume) the search to the target; returns the log."""
        cfg = self.cfg
        states = [self.start_state()] + self.completed()
        parent_ms = states[0]["predicted_ms"]
        target = self.target()
        print(
            f"netadapt: parent {parent_ms:.3f} ms predicted, target {target:.3f} ms "
            f"({self.table.desc.get('measure')}); {len(states) - 1} iterations done",
            flush=True,
        )
        goal = self.measured_goal() if cfg.stop_on == "measured" else None
        if goal is not None:
            print(f"netadapt: stops too when the measured latency is at most {goal:.3f} ms", flush=True)

        def met(state: dict) -> bool:
            measured = state.get("measured_ms") if state["iteration"] > 0 else None
            by_measure = goal is not None and measured is not None and measured <= goal
            return state["predicted_ms"] <= target or by_measure

        while not met(states[-1]) and len(states) - 1 < cfg.max_iterations:
            state = self.iteration(len(states), states[-1], parent_ms, target)
            if state is None:
                print("netadapt: no unit can be pruned further; stopping above the target", flush=True)
                break
            states.append(state)
        log = self.write_log()
        print(
            f"search done: {len(states) - 1} iterations, last predicted {states[-1]['predicted_ms']:.3f} ms "
            f"(target {target:.3f}), measured {states[-1].get('measured_ms')}",
            flush=True,
        )
        return log

    def proposals(self, widths: Widths, budget_ms: float) -> list[tuple[Group, int]]:
        """Each unit's widest width meeting ``budget_ms`` (units that cannot are left out)."""
        out = []
        for group in GROUPS:
            w = propose(self.table, widths, group, budget_ms, self.cfg)
            if w is not None:
                out.append((group, w))
        return out

    def iteration(self, k: int, prev: dict, parent_ms: float, target: float) -> dict | None:
        """Iteration ``k`` (1-based) from the previous state: propose, fine-tune, select."""
        from .progress import Progress

        cfg = self.cfg
        d = self.iter_dir(k)
        widths = _widths(prev)
        reduction = cfg.reduction * cfg.decay ** (k - 1) * parent_ms
        budget_ms = max(prev["predicted_ms"] - reduction, target)
        t0, n0 = time.monotonic(), len(self.table.entries)
        self.table.new_blocks.clear()
        proposals = self.proposals(widths, budget_ms)
        if self.table.new_blocks and cfg.latency == "ort":
            # time the new entries once more, seconds later, and propose again: a busy moment
            # of a shared machine inflates a block that is timed once (up to 4.7x measured here)
            self.table.refine_blocks(self.table.new_blocks, 1)
            proposals = self.proposals(widths, budget_ms)
        propose_s, measured_entries = time.monotonic() - t0, len(self.table.entries) - n0
        if not proposals:
            return None
        start = _load_model(Path(prev["model"]))
        total = len(proposals) * cfg.budget
        done = sum((d / "proposals" / f"{g.name}.json").exists() for g, _ in proposals) * cfg.budget
        results = []
        with Progress(
            total, f"netadapt iter {k} ({budget_ms:.3g} ms)", start=done, stream=self.stream
        ) as bar:
            for group, w in proposals:
                record_path = d / "proposals" / f"{group.name}.json"
                if record_path.exists():
                    record = json.loads(record_path.read_text())
                    if record["width"] == w:  # the table may have changed since (refined)
                        results.append(record)
                        continue
                model = prune_to(start, with_width(widths, group, w))
                t0 = time.monotonic()
                loss = self.finetune(model, k, on_step=lambda loss: bar.update(1, loss=loss))
                t1 = time.monotonic()
                metrics = self.validate(model, cfg.val_stride)
                agree = self.agreement(model, cfg.val_stride) if cfg.select == "agreement" else None
                seconds = {"finetune_s": round(t1 - t0, 2), "validate_s": round(time.monotonic() - t1, 2)}
                record = {
                    "group": group.name,
                    "width": w,
                    "from_width": group_width(widths, group),
                    "widths": asdict(model.widths),
                    "predicted_ms": self.table.predict(model.widths),
                    "loss": loss,
                    "score": _score(agree or metrics, cfg.select),
                    "val": _summary(metrics),
                    **({"agreement": _summary(agree)} if agree else {}),
                    **seconds,
                }
                save_model(d / "proposals" / f"{group.name}.pth", model)
                _write_json(record_path, record)  # after the weights: a record means both exist
                results.append(record)
                bar.info["score"] = record["score"]  # shown with the next step
        # ties (a tiny or untrained model scores 0 everywhere) go to the mildest cut
        best = max(results, key=lambda r: (r["score"], r["predicted_ms"]))
        model_path = d / "model.pth"
        shutil.copyfile(d / "proposals" / f"{best['group']}.pth", model_path)
        measured = None
        t0 = time.monotonic()
        if (cfg.measure_every and k % cfg.measure_every == 0) or cfg.stop_on == "measured":
            measured = self.measured_ms(_load_model(model_path))
        measure_s = time.monotonic() - t0
        state = {
            "iteration": k,
            "widths": best["widths"],
            "chosen": best["group"],
            "budget_ms": budget_ms,
            "predicted_ms": best["predicted_ms"],
            "measured_ms": measured,
            "score": best["score"],
            "val": best["val"],
            "model": str(model_path.resolve()),
            "proposals": results,
            "seconds": {
                "propose_s": round(propose_s, 2),
                "new_table_entries": measured_entries,
                "measure_s": round(measure_s, 2),
            },
            "time": time.time(),
        }
        _write_json(d / "state.json", state)
        for p in (d / "proposals").glob("*.pth"):
            p.unlink()  # the chosen one was copied; the others are not needed any more
        self.write_log()
        print(
            f"netadapt iter {k}: pruned {best['group']} {best['widths']} -> predicted "
            f"{best['predicted_ms']:.3f} ms, measured {measured if measured is None else round(measured, 3)}"
            f" ms, {cfg.select} {best['score']:.4f}",
            flush=True,
        )
        return state

    # ---------------------------------------------------------------- long-term
    def points(self) -> list[dict]:
        """The iterations to long-term fine-tune: the last and ``points - 1`` more, spread
        evenly over the predicted latency between the parent and the last."""
        done = self.completed()
        if not done:
            return []
        chosen = [done[-1]]
        if self.cfg.points > 1:
            lo, hi = done[-1]["predicted_ms"], self.start_state()["predicted_ms"]
            for j in range(1, self.cfg.points):
                want = lo + (hi - lo) * j / self.cfg.points
                best = min(done, key=lambda s: abs(s["predicted_ms"] - want))
                if best not in chosen:
                    chosen.append(best)
        return chosen

    def long_finetune(self, label: str, init: Path) -> dict:
        """Resumable :func:`.train.train` from ``init`` for ``long_steps`` (cosine schedule),
        then validation on every frame of the held-out folders."""
        from .checkpoint import load_model
        from .train import train

        cfg = self.cfg
        out = self.dir / "long" / label
        result_path = out / "result.json"
        if result_path.exists():
            return json.loads(result_path.read_text())
        warmup = cfg.long_warmup_steps if cfg.long_warmup_steps >= 0 else min(100, cfg.long_steps // 10)
        tcfg = cfg.train_config(
            steps=cfg.long_steps,
            lr=cfg.long_lr,
            batch_size=cfg.long_batch_size or cfg.batch_size,
            warmup_steps=warmup,
            init_from=str(init),
            checkpoint_dir=str(out),
            eval_every=0,
            checkpoint_every=max(1, min(100, cfg.long_steps)),
            log_path=str(out / "eval.jsonl"),
        )
        last = train(tcfg, resume=True) if cfg.long_steps > 0 else init
        model = load_model(last)[0]
        metrics = self.validate(model, 1)
        result = {
            "label": label,
            "widths": asdict(model.widths),
            "checkpoint": str(Path(last).resolve()),
            "steps": cfg.long_steps,
            "predicted_ms": self.table.predict(model.widths),
            "score": _score(metrics, cfg.select),
            "val": _summary(metrics),
        }
        _write_json(result_path, result)
        return result

    def finalize(self) -> list[dict]:
        """Long-term fine-tune the chosen points and the official widths; validate the parent
        on all frames.  Returns one record per model (the Pareto table's rows)."""
        from .model import PRUNED

        rows = []
        parent_path = self.dir / "long" / "parent" / "result.json"
        if parent_path.exists():
            rows.append(json.loads(parent_path.read_text()))
        else:
            model = self.parent()
            metrics = self.validate(model, 1)
            row = {
                "label": "parent",
                "widths": asdict(model.widths),
                "checkpoint": str(Path(self.cfg.parent)),
                "steps": 0,
                "predicted_ms": self.table.predict(model.widths),
                "score": _score(metrics, self.cfg.select),
                "val": _summary(metrics),
            }
            _write_json(parent_path, row)
            rows.append(row)
        parent_w = _widths(rows[0])
        fits = all(
            a >= b for a, b in zip(parent_w.encoder + parent_w.decoder, PRUNED.encoder + PRUNED.decoder)
        )
        if self.cfg.official and not fits:
            print(
                "netadapt: the parent is narrower than model.PRUNED somewhere; no official-widths row",
                flush=True,
            )
        if self.cfg.official and fits:
            init = self.dir / "long" / "official_init.pth"
            if not init.exists():
                save_model(init, prune_to(self.parent(), PRUNED))
            rows.append({**self.long_finetune("official_pruned", init), "kind": "official"})
        done = {s["iteration"]: s for s in self.completed()}
        chosen = {s["iteration"]: s for s in self.points()}
        for k in self.cfg.also_iterations:  # e.g. those around the target by measured latency
            if k in done:
                chosen.setdefault(k, done[k])
        for k, state in chosen.items():
            label = f"netadapt_iter{k:03d}"
            rows.append({**self.long_finetune(label, Path(state["model"])), "kind": "netadapt"})
        rows[0]["kind"] = "parent"
        return rows


def _widths(state: dict) -> Widths:
    w = state["widths"]
    return Widths(tuple(w["encoder"]), tuple(w["decoder"]))
