"""Engine: provider fallback is reported, bad models fail with the path in the message."""

from __future__ import annotations

import numpy as np
import pytest
from deps import need

from fastdepth_ros.engine import Engine, EngineConfig, ModelLoadError, provider_name


def test_provider_aliases() -> None:
    assert provider_name("TensorRT") == "TensorrtExecutionProvider"
    assert provider_name("cuda") == "CUDAExecutionProvider"
    assert provider_name("CPUExecutionProvider") == "CPUExecutionProvider"


def test_unavailable_providers_fall_back_and_say_so(shipped_model) -> None:
    """Two providers ORT knows but this build lacks (TensorRT and CUDA on a CPU build; on a
    CUDA build others, e.g. CoreML and DirectML), then CPU: on every machine."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    preferred = ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    lacking = [p for p in preferred + list(ort.get_all_providers())
               if p not in available and p != "CPUExecutionProvider"]
    lacking = list(dict.fromkeys(lacking))[:2]
    assert len(lacking) == 2, available
    engine = Engine(str(shipped_model), EngineConfig(providers=lacking + ["cpu"], warmup_runs=1))
    assert engine.provider == "CPUExecutionProvider"
    assert engine.requested_providers[:2] == lacking
    for name in lacking:
        assert any("%s requested" % name in n for n in engine.notes), engine.notes
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


# ------------------------------------------------ issue 11: models that load but are not depth


def _model(tmp_path, name, **kwargs):
    import fault_models

    return str(getattr(fault_models, name)(tmp_path / (name + ".onnx"), **kwargs))


@pytest.mark.parametrize(
    "name,kwargs,pattern",
    [
        ("uint8_input", {}, "input must be float32 \\(tensor\\(float\\)\\), got tensor\\(uint8\\)"),
        ("runtime_reshape_failure", {}, "fails on a test run: .*Reshape"),
        ("three_channel_output", {}, "declares output 1x3x224x224, but a depth output must be 1x1x224x224"),
        ("three_channel_output", {"declared": False},
         "returns output 1x3x224x224, but a depth output must be 1x1x224x224"),
    ],
)
def test_models_that_load_but_give_no_depth_are_load_errors_naming_the_path(tmp_path, name, kwargs,
                                                                               pattern) -> None:
    need("onnx", reason="onnx not installed (test extras)")
    path = _model(tmp_path, name, **kwargs)
    # warmup_runs=0 must not skip the check: one run happens regardless
    with pytest.raises(ModelLoadError, match="model %s %s" % (path, pattern)) as info:
        Engine(path, EngineConfig(warmup_runs=0))
    assert "\n" not in str(info.value)  # one log line


def test_a_valid_small_model_loads_and_runs(tmp_path) -> None:
    need("onnx", reason="onnx not installed (test extras)")
    engine = Engine(_model(tmp_path, "mean_depth"), EngineConfig(warmup_runs=0))
    x = np.full((1, 3, 224, 224), 0.5, dtype=np.float32)
    np.testing.assert_allclose(engine.run(x), np.full((224, 224), 3.0, np.float32))


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("cpu:foo=bar", "CPUExecutionProvider takes no provider options"),
        (":a=b", "empty execution provider name"),
        ("cdua:device_id=0", "unknown execution provider 'cdua'"),
        ("tensorrt:=1", "is not 'provider:key=value'"),
        ("tensorrt", "is not 'provider:key=value'"),
    ],
)
def test_junk_provider_options_are_refused(text, pattern) -> None:
    from fastdepth_ros.engine import parse_provider_options

    with pytest.raises(ValueError, match=pattern):
        parse_provider_options(text)


def test_provider_options_parse() -> None:
    from fastdepth_ros.engine import parse_provider_options

    assert parse_provider_options(" tensorrt:a=1 cuda:b=2;TensorrtExecutionProvider:c= ") == {
        "TensorrtExecutionProvider": {"a": "1", "c": ""}, "CUDAExecutionProvider": {"b": "2"}}


@pytest.mark.parametrize("providers,pattern", [(["", "cpu"], "empty execution provider name"),
                                               (["cdua"], "unknown execution provider 'cdua'")])
def test_empty_or_unknown_provider_is_a_load_error(reference_model, providers, pattern) -> None:
    with pytest.raises(ModelLoadError, match=pattern):
        Engine(str(reference_model), EngineConfig(providers=providers, warmup_runs=0))
