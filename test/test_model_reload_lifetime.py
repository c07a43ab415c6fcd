"""Issue 23 fault 1, at the loader and the node's parameter callback: a request to a
stopped ModelReloader is refused, never queued (a queued request nobody takes read "about
to load ..." forever while model_path named a model that never ran)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from fastdepth_ros.model_reload import LoaderStopped, ModelReloader


def test_a_stopped_loader_refuses_requests_and_says_it_is_stopped() -> None:
    loads = []
    reloader = ModelReloader(lambda path: loads.append(path) or SimpleNamespace(model_path=path),
                             lambda outcome: None)
    reloader.stop()
    assert not reloader.alive
    with pytest.raises(LoaderStopped, match="/m/new.onnx"):
        reloader.request("/m/new.onnx")
    assert not reloader.busy
    assert reloader.state() == "stopped"
    assert loads == []


def test_the_lifecycle_node_reloads_while_inactive_and_refuses_once_its_loader_stopped(
        shipped_model: Path) -> None:
    """In process (no spinning needed): configure -> inactive; a model_path change loads
    (the loader lives until cleanup); with the loader stopped, as cleanup stops it, the set
    is rejected with the reason and model_path keeps naming the model that runs."""
    rclpy = pytest.importorskip("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")
    from rclpy.parameter import Parameter
    from ros_harness import isolate_dds, wait_for

    from fastdepth_ros.lifecycle import LifecycleDepthNode

    # a second real FastDepth (NetAdapt widths, committed with its docs): no onnx package needed
    new_model = str(Path(__file__).resolve().parent.parent / "docs" / "netadapt_cpu_2t"
                    / "netadapt_iter018_seed0.onnx")
    isolate_dds()
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = LifecycleDepthNode(context=context, parameter_overrides=[
        Parameter("model_path", value=str(shipped_model)), Parameter("warmup_runs", value=0)])
    try:
        node.trigger_configure()
        assert node.lifecycle_state() == "inactive"

        def engine_value(key: str) -> str:
            engine = [s for s in node.collect_statuses() if s.name.endswith(": engine")][0]
            return engine.value(key) or ""

        assert node.set_parameters([Parameter("model_path", value=new_model)])[0].successful
        assert wait_for(lambda: engine_value("Model path") == new_model, 30.0), engine_value("Model reload")

        node._reloader.stop()  # the window between cleanup stopping the loader and freeing the model
        result = node.set_parameters([Parameter("model_path", value=str(shipped_model))])[0]
        assert not result.successful and "stopped" in result.reason, result.reason
        assert node.get_parameter("model_path").value == new_model
        assert engine_value("Model path") == new_model
        assert engine_value("Model reload") == "stopped"
    finally:
        node.stop()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
