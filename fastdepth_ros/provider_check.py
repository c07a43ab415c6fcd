"""Start-up self-test of an accelerated execution provider against ONNX Runtime's CPU provider.

Why: TensorRT and CUDA builds can run and still compute the wrong depth (users of other
monocular-depth wrappers report exactly that on some Jetson TensorRT versions), and nothing
downstream notices: a map just fills with wrong walls.  So when the session that will serve
frames runs on anything but the CPU provider, one fixed input goes through it and through a
CPU session of the same model, and the two depths are compared before the first frame.

Policy (``provider_check`` parameter):

* ``fallback`` (default): a mismatch is reported (ERROR, both figures) and the node serves
  from the CPU session instead: slower depth that is right beats fast depth that is not;
* ``warn``: reported the same, but the accelerated session keeps serving;
* ``off``: no check (no CPU session is built: saves its memory and start-up time).

The comparison is the relative depth error per pixel, ``|d_acc - d_cpu| / d_cpu``; its
median must be within the tolerance and its 99th percentile within 10x the tolerance (a
few pixels at depth edges may differ more, fp16 rounding moves whole regions).  The default
tolerance depends on precision: TensorRT may run TF32 convolutions even at "fp32", which
moves depths by ~1e-3; fp16 by ~1e-2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Tuple

import numpy as np

from .engine import Engine

FP32_TOLERANCE = 0.01  # median relative error; TF32 kernels stay ~10x below it
FP16_TOLERANCE = 0.05
TAIL_FACTOR = 10.0  # p99 may reach this multiple of the tolerance
CPU = "CPUExecutionProvider"


def check_input(input_hw: Tuple[int, int], seed: int = 0) -> np.ndarray:
    """The fixed probe: a smooth gradient with texture (a flat image would hide a provider
    that mishandles spatial ops), 1x3xHxW float32 in [0, 1], the same on every machine."""
    h, w = input_hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    noise = rng.random((3, h, w), dtype=np.float32)
    base = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), 0.5 + 0.5 * np.sin(xx / 7.0) * np.cos(yy / 5.0)])
    return np.clip(0.8 * base + 0.2 * noise, 0.0, 1.0)[None].astype(np.float32)


def default_tolerance(fp16: bool) -> float:
    return FP16_TOLERANCE if fp16 else FP32_TOLERANCE


@dataclass(frozen=True)
class ProviderCheck:
    """What the self-test found; ``ok`` is None when it did not run (and ``reason`` why)."""

    ok: Optional[bool]
    provider: str
    reason: str = ""
    median_rel_error: float = float("nan")
    p99_rel_error: float = float("nan")
    max_rel_error: float = float("nan")
    tolerance: float = float("nan")
    policy: str = "off"
    fell_back: bool = False

    def summary(self) -> str:
        """One line for logs and the engine diagnostic."""
        if self.ok is None:
            return "not run: %s" % self.reason
        figures = ("median relative error %.4g, p99 %.4g, max %.4g (tolerance: median %.4g, p99 %.4g)"
                   % (self.median_rel_error, self.p99_rel_error, self.max_rel_error, self.tolerance,
                      self.tolerance * TAIL_FACTOR))
        if self.ok:
            return "%s agrees with CPU: %s" % (self.provider, figures)
        action = ("serving from CPU instead (provider_check: fallback)" if self.fell_back
                  else "still serving from %s (provider_check: %s)" % (self.provider, self.policy))
        return "%s DISAGREES with CPU: %s; %s" % (self.provider, figures, action)


def compare(candidate: Any, reference: Any, tolerance: float, policy: str = "fallback") -> ProviderCheck:
    """Run the fixed input through both engines (anything with ``run``, ``input_hw`` and
    ``provider``) and judge the candidate's depth against the reference's."""
    x = check_input(tuple(reference.input_hw))
    d_acc = np.asarray(candidate.run(x), dtype=np.float64)
    d_cpu = np.asarray(reference.run(x), dtype=np.float64)
    if d_acc.shape != d_cpu.shape:
        shapes = "depth shape %s vs CPU %s" % (d_acc.shape, d_cpu.shape)
        return ProviderCheck(False, candidate.provider, shapes, tolerance=tolerance, policy=policy)
    rel = np.abs(d_acc - d_cpu) / np.maximum(np.abs(d_cpu), 1e-6)
    rel = np.where(np.isfinite(rel), rel, 1e9)  # NaN/Inf from the accelerated side: a mismatch
    median, p99, worst = (float(v) for v in (np.median(rel), np.percentile(rel, 99), rel.max()))
    ok = median <= tolerance and p99 <= tolerance * TAIL_FACTOR
    return ProviderCheck(ok, candidate.provider, median_rel_error=median, p99_rel_error=p99,
                         max_rel_error=worst, tolerance=tolerance, policy=policy)


def load_checked(model_path: str, config: Any, make_engine: Optional[Callable[..., Any]] = None,
                 make_reference: Optional[Callable[..., Any]] = None) -> Any:
    """Load ``model_path`` with ``config`` (an EngineConfig) and self-test it per
    ``config.provider_check``; returns the engine that should serve, with its
    ``provider_check`` attribute set to the :class:`ProviderCheck`.

    ``make_engine``/``make_reference`` default to :class:`~fastdepth_ros.engine.Engine`
    (the reference with ``providers=["cpu"]``); tests inject a deliberately different
    session as the "accelerated" one, since CI has no GPU."""
    make_engine = make_engine or Engine
    policy = config.provider_check
    engine = make_engine(model_path, config)
    if policy == "off":
        engine.provider_check = ProviderCheck(None, engine.provider, "provider_check: off", policy=policy)
        return engine
    if engine.provider == CPU:
        engine.provider_check = ProviderCheck(None, engine.provider, "the session runs on the CPU provider",
                                              policy=policy)
        return engine
    tolerance = config.provider_check_tolerance or default_tolerance(config.fp16)
    cpu_config = replace(config, providers=["cpu"], warmup_runs=1)
    reference = (make_reference or Engine)(model_path, cpu_config)
    result = compare(engine, reference, tolerance, policy)
    if result.ok or policy == "warn":
        engine.provider_check = result
        return engine
    reference.provider_check = replace(result, fell_back=True)
    reference.notes = list(getattr(reference, "notes", [])) + [
        "%s failed the start-up self-test against CPU; serving from CPU" % engine.provider]
    reference.requested_providers = list(getattr(engine, "requested_providers", []))
    return reference
