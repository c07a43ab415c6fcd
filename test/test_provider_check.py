"""The start-up self-test of accelerated providers (fastdepth_ros.provider_check).

CI has no GPU, so the "accelerated" session is a deliberately different CPU session that
claims to run on CUDA: the shipped model with its depth scaled by 1.05 (a graph edit, so
it is a real second ORT session), or the shipped model itself (which must agree).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest
from deps import need

from fastdepth_ros.engine import Engine, EngineConfig
from fastdepth_ros.provider_check import (
    FP16_TOLERANCE,
    FP32_TOLERANCE,
    check_input,
    compare,
    load_checked,
)

need("onnx", reason="onnx not installed (scripts/venv.sh ...,test)")


def scaled_model(src: Path, dst: Path, factor: float) -> Path:
    """``src`` with its depth output multiplied by ``factor``: the same network computing
    different numbers, like a provider that is subtly wrong."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    out = graph.output[0].name
    graph.initializer.append(numpy_helper.from_array(np.array(factor, dtype=np.float32), "wrong_factor"))
    for node in graph.node:
        node.output[:] = [o + "_pre" if o == out else o for o in node.output]
    graph.node.append(helper.make_node("Mul", [out + "_pre", "wrong_factor"], [out]))
    onnx.save(model, str(dst))
    return dst


def as_cuda(engine: Engine) -> Engine:
    """Make a CPU session report CUDAExecutionProvider, as a CUDA session would."""
    engine.active_providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return engine


@pytest.fixture(scope="module")
def wrong_model(shipped_model: Path, tmp_path_factory: Any) -> Path:
    return scaled_model(shipped_model, tmp_path_factory.mktemp("pc") / "wrong.onnx", 1.05)


def config(policy: str, **kw: Any) -> EngineConfig:
    return EngineConfig(providers=["cuda", "cpu"], warmup_runs=1, provider_check=policy, **kw)


def test_the_probe_is_fixed_and_textured() -> None:
    a, b = check_input((224, 224)), check_input((224, 224))
    assert a.shape == (1, 3, 224, 224) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0.1


def test_same_model_agrees(shipped_model: Path) -> None:
    a = Engine(str(shipped_model), EngineConfig(warmup_runs=1))
    b = Engine(str(shipped_model), EngineConfig(warmup_runs=1))
    result = compare(a, b, FP32_TOLERANCE)
    assert result.ok is True
    assert result.median_rel_error < 1e-5 and result.max_rel_error < 1e-4
    assert "agrees with CPU" in result.summary()


def test_a_5_percent_error_is_caught_and_named(shipped_model: Path, wrong_model: Path) -> None:
    wrong = Engine(str(wrong_model), EngineConfig(warmup_runs=1))
    right = Engine(str(shipped_model), EngineConfig(warmup_runs=1))
    result = compare(wrong, right, FP32_TOLERANCE)
    assert result.ok is False
    assert result.median_rel_error == pytest.approx(0.05, rel=1e-3)
    summary = result.summary()
    assert "DISAGREES" in summary and "0.05" in summary and "0.01" in summary


def test_nan_from_the_accelerated_side_is_a_mismatch(shipped_model: Path) -> None:
    class NanEngine:
        provider = "CUDAExecutionProvider"
        input_hw = (224, 224)

        def run(self, x: np.ndarray) -> np.ndarray:
            return np.full((224, 224), np.nan, np.float32)

    result = compare(NanEngine(), Engine(str(shipped_model), EngineConfig(warmup_runs=1)), 0.5)
    assert result.ok is False


def test_fallback_serves_the_cpu_session_of_the_right_model(shipped_model: Path, wrong_model: Path) -> None:
    engine = load_checked(str(shipped_model), config("fallback"),
                          make_engine=lambda path, cfg: as_cuda(Engine(str(wrong_model), cfg)))
    check = engine.provider_check
    assert check.ok is False and check.fell_back
    assert engine.provider == "CPUExecutionProvider"
    assert engine.model_path == str(shipped_model)
    assert engine.requested_providers[0] == "CUDAExecutionProvider"  # so the node WARNs: not requested
    assert any("failed the start-up self-test" in n for n in engine.notes)
    x = check_input((224, 224))
    reference = Engine(str(shipped_model), EngineConfig(warmup_runs=1))
    assert np.array_equal(engine.run(x), reference.run(x))
    assert "serving from CPU instead" in check.summary()


def test_warn_keeps_the_accelerated_session(shipped_model: Path, wrong_model: Path) -> None:
    engine = load_checked(str(shipped_model), config("warn"),
                          make_engine=lambda path, cfg: as_cuda(Engine(str(wrong_model), cfg)))
    assert engine.provider == "CUDAExecutionProvider" and engine.model_path == str(wrong_model)
    assert engine.provider_check.ok is False and not engine.provider_check.fell_back
    assert "still serving from CUDAExecutionProvider" in engine.provider_check.summary()


def test_an_agreeing_accelerated_session_serves(shipped_model: Path) -> None:
    engine = load_checked(str(shipped_model), config("fallback"),
                          make_engine=lambda path, cfg: as_cuda(Engine(path, cfg)))
    assert engine.provider == "CUDAExecutionProvider" and engine.provider_check.ok is True


def test_tolerance_parameter_and_fp16_default(shipped_model: Path, wrong_model: Path) -> None:
    loose = load_checked(str(shipped_model), config("fallback", provider_check_tolerance=0.06),
                         make_engine=lambda path, cfg: as_cuda(Engine(str(wrong_model), cfg)))
    assert loose.provider_check.ok is True and loose.provider_check.tolerance == 0.06
    fp16 = load_checked(str(shipped_model), config("fallback", fp16=True),
                        make_engine=lambda path, cfg: as_cuda(Engine(path, cfg)))
    assert fp16.provider_check.tolerance == FP16_TOLERANCE


def test_off_and_cpu_build_no_second_session(shipped_model: Path) -> None:
    built: List[str] = []

    def reference(path: str, cfg: EngineConfig) -> Engine:
        built.append(path)
        return Engine(path, cfg)

    off = load_checked(str(shipped_model), config("off"),
                       make_engine=lambda path, cfg: as_cuda(Engine(path, cfg)), make_reference=reference)
    assert off.provider_check.ok is None and "off" in off.provider_check.summary()
    cpu = load_checked(str(shipped_model), config("fallback"), make_reference=reference)
    assert cpu.provider == "CPUExecutionProvider" and cpu.provider_check.ok is None
    assert "CPU provider" in cpu.provider_check.reason
    assert built == []


@pytest.mark.parametrize("kw", [{"provider_check": "maybe"}, {"provider_check_tolerance": -0.1},
                                {"provider_check_tolerance": float("nan")}])
def test_bad_settings_are_refused(kw: Any) -> None:
    with pytest.raises(ValueError, match="provider_check"):
        EngineConfig(**kw)


@pytest.mark.ros
def test_node_refuses_a_junk_policy_at_start_up(shipped_model: Path) -> None:
    need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")
    from ros_harness import NodeProcess, isolate_dds

    proc = NodeProcess(["-p", "model_path:=%s" % shipped_model, "-p", "provider_check:=maybe",
                        "-r", "__ns:=/fdpc_%d" % os.getpid()], isolate_dds())
    try:
        rc = proc.wait(60.0)
        out = proc.output()
        assert rc == 1, out
        fatal = [line for line in out.splitlines() if "FATAL" in line]
        assert len(fatal) == 1 and "provider_check must be one of" in fatal[0], out
        assert "Traceback" not in out
    finally:
        proc.close()
