"""Engine: provider fallback is reported, bad models fail with the path in the message."""

from __future__ import annotations

import numpy as np
import pytest

from fastdepth_ros.engine import Engine, EngineConfig, ModelLoadError, provider_name


def test_provider_aliases() -> None:
    assert provider_name("TensorRT") == "TensorrtExecutionProvider"
    assert provider_name("cuda") == "CUDAExecutionProvider"
    assert provider_name("CPUExecutionProvider") == "CPUExecutionProvider"


def test_unavailable_providers_fall_back_and_say_so(shipped_model) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA; the fallback path is not exercised")
    engine = Engine(str(shipped_model), EngineConfig(providers=["tensorrt", "cuda", "cpu"], warmup_runs=1))
    assert engine.provider == "CPUExecutionProvider"
    assert engine.requested_providers[:2] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    assert any("TensorrtExecutionProvider requested" in n for n in engine.notes)
    assert any("CUDAExecutionProvider requested" in n for n in engine.notes)
    assert engine.input_hw == (224, 224)
    out = engine.run(np.zeros((1, 3, 224, 224), dtype=np.float32))
    assert out.shape == (224, 224) and out.dtype == np.float32


def test_missing_model_names_the_path(tmp_path) -> None:
    path = tmp_path / "nope.onnx"
    with pytest.raises(ModelLoadError, match="model file not found: .*nope.onnx"):
        Engine(str(path))


def test_corrupt_model_names_the_path(tmp_path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ModelLoadError, match="cannot load model .*broken.onnx"):
        Engine(str(path))


def test_thread_setting_is_applied(shipped_model) -> None:
    engine = Engine(str(shipped_model), EngineConfig(intra_op_threads=1, warmup_runs=0))
    assert engine.session.get_session_options().intra_op_num_threads == 1


def test_spinning_off_reaches_the_session(shipped_model) -> None:
    options = Engine(str(shipped_model), EngineConfig(allow_spinning=False)).session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    options = Engine(str(shipped_model), EngineConfig()).session.get_session_options()
    with pytest.raises(RuntimeError, match="does not have"):  # unset: ORT default (spinning on)
        options.get_session_config_entry("session.intra_op.allow_spinning")


def test_tensorrt_cache_dir_only_made_when_tensorrt_runs(shipped_model, tmp_path) -> None:
    import onnxruntime as ort

    cache = tmp_path / "trt_cache"
    engine = Engine(str(shipped_model), EngineConfig(providers=["tensorrt", "cpu"], warmup_runs=0,
                                                       trt_engine_cache_path=str(cache)))
    has_trt = "TensorrtExecutionProvider" in ort.get_available_providers()
    assert cache.is_dir() == has_trt
    assert (engine.provider == "TensorrtExecutionProvider") == has_trt
