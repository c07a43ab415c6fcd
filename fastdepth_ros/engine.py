"""ONNX Runtime session for a FastDepth ONNX model, with honest provider reporting.

ONNX Runtime silently falls back to CPU when a requested execution provider is missing or
fails to initialise (a common complaint from Jetson users who think they run TensorRT).
The engine therefore records what was requested, what this onnxruntime build offers, and
what the session actually runs, and says why in ``notes``.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEFAULT_INPUT_HW = (224, 224)
#: provider_check settings (fastdepth_ros.provider_check runs the self-test)
POLICIES = ("fallback", "warn", "off")


#: ONNX metadata key: the focal length (model-input pixels) of the canonical camera the model
#: was trained in (fastdepth_ros.training.canonical); absent in models trained otherwise.
CANONICAL_FOCAL_KEY = "fastdepth_ros.canonical_focal_px"


class ModelLoadError(RuntimeError):
    """The model file is missing, unreadable, or not a FastDepth-shaped ONNX graph."""


def provider_name(name: str) -> str:
    """'tensorrt' / 'cuda' / 'cpu' or a full ORT provider name -> the full name."""
    return PROVIDER_ALIASES.get(name.strip().lower(), name.strip())


# ORT's CPU provider takes no provider options: it ignores any it is given, so a typo there
# would otherwise pass silently.  (CPU settings are session options: intra_op_threads etc.)
_CPU_PROVIDER_OPTIONS: Tuple[str, ...] = ()


def known_provider_names() -> List[str]:
    """Every execution provider name ORT knows, whether or not this build offers it."""
    import onnxruntime as ort

    return list(ort.get_all_providers())


def check_provider(name: str, what: str = "providers") -> str:
    """The full ORT name of ``name``; ValueError for an empty or unknown one (a typo would
    otherwise only show as 'not offered by this build' and run on CPU)."""
    full = provider_name(str(name))
    if not full:
        raise ValueError("%s: empty execution provider name" % what)
    known = known_provider_names()
    if full not in known:
        raise ValueError(
            "%s: unknown execution provider %r (use tensorrt, cuda, cpu or one of: %s)"
            % (what, str(name), ", ".join(known))
        )
    return full


def parse_provider_options(text: str) -> Dict[str, Dict[str, str]]:
    """'tensorrt:a=1 cuda:b=2;tensorrt:c=3' -> {full ORT provider name: {key: value}}.

    Checked here, at start-up, because ORT itself ignores what it does not use: the
    provider must be one ORT knows, keys non-empty, and the CPU provider takes none.
    Options for a GPU provider are checked by ORT when that provider starts."""
    out: Dict[str, Dict[str, str]] = {}
    for item in (t for t in re.split(r"[;\s]+", text.strip()) if t):
        provider, sep, kv = item.partition(":")
        key, eq, value = kv.partition("=")
        if not sep or not eq or not key.strip():
            raise ValueError("provider_options: %r is not 'provider:key=value'" % item)
        full = check_provider(provider, "provider_options %r" % item)
        if full == "CPUExecutionProvider" and key not in _CPU_PROVIDER_OPTIONS:
            raise ValueError(
                "provider_options %r: CPUExecutionProvider takes no provider options (CPU "
                "threads and spinning are the intra_op_threads/ort_allow_spinning parameters)" % item
            )
        out.setdefault(full, {})[key] = value
    return out


@dataclass
class EngineConfig:
    """How to run the model.  Providers are tried in order; CPU is always appended last."""

    providers: Sequence[str] = ("cpu",)
    device_id: int = 0
    fp16: bool = False
    trt_engine_cache_path: str = ""
    intra_op_threads: int = 0  # 0 = ORT default (one per physical core)
    inter_op_threads: int = 1
    # ORT's intra-op pool threads busy-wait between kernels and runs by default.  That is fastest
    # on an idle machine but steals cores that DDS, the executor and other nodes need on a small
    # shared one (measured: docs/performance.md); False sets
    # session.intra_op.allow_spinning=0.
    allow_spinning: bool = True
    warmup_runs: int = 3
    input_hw: Tuple[int, int] = DEFAULT_INPUT_HW  # used only when the graph's H/W are dynamic
    extra_provider_options: Dict[str, Dict[str, str]] = field(default_factory=dict)
    # start-up self-test of an accelerated provider against CPU (fastdepth_ros.provider_check):
    # 'fallback' | 'warn' | 'off'; tolerance 0 = the precision's default
    provider_check: str = "fallback"
    provider_check_tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.provider_check not in POLICIES:
            raise ValueError("provider_check must be one of %s, got %r"
                             % (" | ".join(POLICIES), self.provider_check))
        if not (self.provider_check_tolerance >= 0.0 and math.isfinite(self.provider_check_tolerance)):
            raise ValueError("provider_check_tolerance must be a finite number >= 0, got %r"
                             % self.provider_check_tolerance)

    def provider_options(self, provider: str) -> Dict[str, str]:
        """ORT options per provider, named as the ORT docs name them."""
        opts: Dict[str, str] = {}
        if provider == "TensorrtExecutionProvider":
            opts["device_id"] = str(self.device_id)
            opts["trt_fp16_enable"] = "True" if self.fp16 else "False"
            if self.trt_engine_cache_path:
                opts["trt_engine_cache_enable"] = "True"
                opts["trt_engine_cache_path"] = self.trt_engine_cache_path
                opts["trt_timing_cache_enable"] = "True"
                opts["trt_timing_cache_path"] = self.trt_engine_cache_path
        elif provider == "CUDAExecutionProvider":
            opts["device_id"] = str(self.device_id)
        opts.update(self.extra_provider_options.get(provider, {}))
        return opts


class Engine:
    """One inference session: ``run(1x3xHxW float32) -> HxW float32 metres``."""

    def __init__(self, model_path: str, config: Optional[EngineConfig] = None) -> None:
        import onnxruntime as ort  # heavy import kept out of module import time

        self.config = config or EngineConfig()
        self.model_path = os.path.abspath(os.path.expanduser(str(model_path)))
        if not os.path.isfile(self.model_path):
            raise ModelLoadError("model file not found: %s" % self.model_path)
        try:
            self.requested_providers = [check_provider(p) for p in self.config.providers]
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
        available = ort.get_available_providers()
        self.notes: List[str] = []
        chosen: List[Tuple[str, Dict[str, str]]] = []
        for name in self.requested_providers:
            if name not in available:
                self.notes.append(
                    "%s requested but this onnxruntime build offers only %s"
                    % (name, ", ".join(available))
                )
            elif name not in (c[0] for c in chosen):
                chosen.append((name, self.config.provider_options(name)))
                if name == "TensorrtExecutionProvider":
                    self._make_trt_cache_dir()
        if "CPUExecutionProvider" not in (c[0] for c in chosen):
            chosen.append(("CPUExecutionProvider", {}))

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(self.config.intra_op_threads)
        options.inter_op_num_threads = int(self.config.inter_op_threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not self.config.allow_spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                self.model_path,
                sess_options=options,
                providers=[c[0] for c in chosen],
                provider_options=[c[1] for c in chosen],
            )
        except Exception as exc:  # ORT raises several unrelated exception types
            raise ModelLoadError("cannot load model %s: %s" % (self.model_path, _one_line(exc))) from exc

        self.active_providers = list(self.session.get_providers())
        for name, _ in chosen:
            if name not in self.active_providers:
                self.notes.append("%s failed to initialise; ORT fell back" % name)

        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise self._error(
                "must have one image input and a depth output, has %d inputs and %d outputs"
                % (len(inputs), len(outputs))
            )
        shape = inputs[0].shape
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise self._error("input must be Nx3xHxW, got %s" % (shape,))
        if inputs[0].type != "tensor(float)":
            raise self._error("input must be float32 (tensor(float)), got %s" % inputs[0].type)
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        h, w = shape[2], shape[3]
        self.input_hw = (
            h if isinstance(h, int) else self.config.input_hw[0],
            w if isinstance(w, int) else self.config.input_hw[1],
        )
        self._check_output_shape(outputs[0].shape, "declares")
        self.model_name = os.path.splitext(os.path.basename(self.model_path))[0]
        self.canonical_focal_px = _canonical_focal_px(self.session)
        # At least one run, whatever warmup_runs says: a graph can load and still fail on
        # its first run (a wrong input type, a Reshape that cannot hold) or return a shape
        # the declared one hid.  That must be a load error naming the file, not a crash
        # on the first frame.
        self.warmup_ms = self._warm_up(max(int(self.config.warmup_runs), 1))

    def _error(self, what: str) -> ModelLoadError:
        return ModelLoadError("model %s %s" % (self.model_path, what))

    def _check_output_shape(self, shape: Sequence[Any], verb: str) -> None:
        """The depth output must be 1x1xHxW, 1xHxW or HxW at the input's HxW (dynamic dims
        pass here and are checked on the first run); anything else is not a depth map."""
        dims = list(shape)
        ok = 2 <= len(dims) <= 4
        if ok:
            lead, spatial = dims[:-2], dims[-2:]
            ok = all(not isinstance(d, int) or d == 1 for d in lead) and all(
                not isinstance(d, int) or d == want for d, want in zip(spatial, self.input_hw)
            )
        if not ok:
            h, w = self.input_hw
            raise self._error(
                "%s output %s, but a depth output must be 1x1x%dx%d (or 1x%dx%d or %dx%d: one "
                "channel at the input's HxW)" % (verb, "x".join(str(d) for d in dims), h, w, h, w, h, w)
            )

    def _make_trt_cache_dir(self) -> None:
        """TensorRT needs the cache directory to exist; only made when TensorRT will run."""
        path = self.config.trt_engine_cache_path
        if not path:
            return
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            self.notes.append("cannot create TensorRT cache directory %s: %s" % (path, exc))

    @property
    def provider(self) -> str:
        """The provider that runs the graph (ORT lists the highest-priority one first)."""
        return self.active_providers[0]

    def _warm_up(self, runs: int) -> float:
        """First runs allocate arenas (and build TensorRT engines); keep them out of stats.

        Any failure here is the model's (the input is a valid zero image): ModelLoadError."""
        import onnxruntime as ort

        x = np.zeros((1, 3) + tuple(self.input_hw), dtype=np.float32)
        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # the exception carries ORT's message; no second copy on stderr
        start = time.perf_counter()
        for _ in range(max(runs, 0)):
            try:
                out = self.session.run([self.output_name], {self.input_name: x}, quiet)[0]
            except Exception as exc:  # ORT raises its own types (Fail, InvalidArgument, ...)
                raise self._error("fails on a test run: %s" % _one_line(exc)) from exc
            self._check_output_shape(out.shape, "returns")
            if out.dtype != np.float32:
                raise self._error("returns %s depth, expected float32" % out.dtype)
        return (time.perf_counter() - start) * 1e3

    def run(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        return out.reshape(out.shape[-2], out.shape[-1])

    def describe(self) -> Dict[str, object]:
        return {
            "model": self.model_path,
            "model_name": self.model_name,
            "canonical_focal_px": self.canonical_focal_px,
            "input_hw": list(self.input_hw),
            "requested_providers": self.requested_providers,
            "active_providers": self.active_providers,
            "notes": self.notes,
        }


def _canonical_focal_px(session: Any) -> Optional[float]:
    """The model's canonical focal length from its metadata, or None (absent or unusable)."""
    try:
        text = session.get_modelmeta().custom_metadata_map.get(CANONICAL_FOCAL_KEY)
        value = float(text) if text is not None else None
    except (AttributeError, TypeError, ValueError):
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def _one_line(exc: BaseException) -> str:
    """ORT messages can span lines (and repeat the source path); logs want one."""
    return " ".join(str(exc).split())
