"""The lifecycle node the ROS way, against the real ``depth_lifecycle_node`` process (issues 23, 25):

* fault 1 of issue 23: a ``model_path`` change after deactivate -> activate loads and runs
  the new model (the loader lives from configure to cleanup; it used to die at deactivate,
  leaving the parameter reading the new path while the old model ran); a failing load
  after the cycle sets ``model_path`` back;
* a failing configure returns FAILURE and leaves the node unconfigured; parameters set
  while unconfigured are the ones configure uses;
* the output topics exist from configure to cleanup (lifecycle publishers), and
  ``/diagnostics`` reports every state, level OK with the state as the message;
* the ``shutdown`` transition from active: finalized, topics gone, a clean exit;
* in process: a reload while inactive loads, a set to a stopped loader is rejected with the
  reason; an exception in a transition is logged in one line and torn down (on_error).

Expected depths come from the offline pipeline on the same frame (no camera_info, so no
focal scaling), not from the node.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, ContextManager, Iterator, Optional, Tuple

import numpy as np
import pytest
from deps import need
from ros_harness import (
    IMAGE,
    Client,
    NodeProcess,
    change_state,
    get_parameter,
    isolate_dds,
    lifecycle_state,
    node_and_client,
    scene_rgb8,
    served,
    status_values,
    wait_for,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

OK, ERROR = 0, 2
REPO = Path(__file__).resolve().parent.parent
# a second real FastDepth (NetAdapt widths, committed with its docs), so the reload test
# needs no onnx package and runs in the Jazzy venv too
OTHER_MODEL = REPO / "docs" / "netadapt_cpu_2t" / "netadapt_iter018_seed0.onnx"
TASKS = ("input", "depth output", "frame age", "latency", "engine", "camera_info", "qos")


def _change(client: Client, node: str, transition: str) -> Tuple[bool, str]:
    """ChangeState by name (none for ""), then GetState: (transition succeeded, state label)."""
    success = change_state(client, node, transition) if transition else True
    return success, lifecycle_state(client, node)


def _status(client: Client, suffix: str, since: float, pred=lambda s: True, timeout_s: float = 10.0) -> Any:
    """The first of our node's statuses named ``...suffix`` received after ``since`` that
    satisfies ``pred`` (polled until ``timeout_s``)."""
    def find() -> Optional[Any]:
        for s in client.statuses(since):
            if s.name.endswith(": " + suffix) and pred(s):
                return s
        return None
    return wait_for(find, timeout_s)


def _all_tasks_say(client: Client, since: float, text: str) -> bool:
    """Every diagnostic task of the node published at level OK with ``text`` in its message."""
    return all(_status(client, task, since, lambda s: s.level[0] == OK and text in s.message) is not None
               for task in TASKS)


def _offline_depth(model: Path, rgb: np.ndarray) -> np.ndarray:
    """The depth the node must publish for ``rgb`` without camera_info (no focal scaling),
    computed by the package's pipeline in this process, with the node's default settings."""
    from fastdepth_ros.engine import Engine, EngineConfig
    from fastdepth_ros.pipeline import DepthPipeline, PipelineConfig

    engine = Engine(str(model), EngineConfig(providers=["cpu"], warmup_runs=0))
    return DepthPipeline(engine, PipelineConfig()).process(rgb, None).depth


def _depth_array(msg: Any) -> np.ndarray:
    from fastdepth_ros.imaging import image_to_numpy

    return np.asarray(image_to_numpy(msg), dtype=np.float32)


def _start(ns: str, params: list) -> ContextManager[Tuple[NodeProcess, Client]]:
    """The lifecycle node and a client (it subscribes once active: the tests wait then)."""
    return node_and_client(ns, params + ["-p", "diagnostic_updater.period:=0.5"], reliable=(IMAGE,),
                           script="depth_lifecycle_node", subscribed_within_s=None)


def test_model_reload_after_deactivate_activate_runs_the_new_model(shipped_model: Path,
                                                                   tmp_path: Path) -> None:
    """Issue 23 fault 1: before the fix the loader thread died at deactivate; the set was
    accepted, model_path read back the new file and the old model kept running."""
    assert OTHER_MODEL.is_file(), "the second model %s is missing" % OTHER_MODEL
    new_model = OTHER_MODEL
    bad_model = tmp_path / "not_a_model.onnx"  # exists (so the set is accepted), fails to load
    bad_model.write_bytes(b"not an ONNX graph")
    bad_model = str(bad_model)
    rgb = scene_rgb8()
    want_old, want_new = _offline_depth(shipped_model, rgb), _offline_depth(new_model, rgb)
    assert not np.allclose(want_old, want_new, rtol=1e-3), "the two models must tell apart"
    ns = "/fdlcreload_%d" % os.getpid()
    node = ns + "/fastdepth"
    with _start(ns, ["-p", "model_path:=%s" % shipped_model]) as (proc, client):
        assert _change(client, node, "configure") == (True, "inactive"), proc.output()
        assert _change(client, node, "activate") == (True, "active")
        assert client.wait_subscribed(20.0), proc.output()
        depth = served(client, rgb)
        assert depth is not None, proc.output()
        np.testing.assert_allclose(_depth_array(depth), want_old, rtol=1e-4, atol=1e-5)

        assert _change(client, node, "deactivate") == (True, "inactive")
        assert _change(client, node, "activate") == (True, "active")
        assert client.wait_subscribed(20.0), proc.output()

        since = time.perf_counter()
        results = client.set_parameters(node, model_path=str(new_model))
        assert results[0].successful, results[0].reason
        engine = _status(client, "engine", since,
                         lambda s: status_values(s).get("Model path") == str(new_model), timeout_s=60.0)
        assert engine is not None, "the new model never runs; node output:\n" + proc.output()[-3000:]
        assert "loaded %s" % new_model in status_values(engine)["Model reload"]
        depth = served(client, rgb)
        assert depth is not None, proc.output()
        np.testing.assert_allclose(_depth_array(depth), want_new, rtol=1e-4, atol=1e-5)

        # a load that fails after the cycle: reported, and model_path names the model that runs
        since = time.perf_counter()
        assert client.set_parameters(node, model_path=bad_model)[0].successful
        failed = _status(client, "engine", since,
                         lambda s: s.level[0] == ERROR and "model reload failed" in s.message, timeout_s=60.0)
        assert failed is not None and bad_model in failed.message, proc.output()[-3000:]
        assert wait_for(lambda: get_parameter(client, node, "model_path") == str(new_model), 20.0)
        depth = served(client, rgb)
        np.testing.assert_allclose(_depth_array(depth), want_new, rtol=1e-4, atol=1e-5)
        assert proc.alive() and "Traceback" not in proc.output()


def test_failed_configure_unconfigured_parameters_topics_diagnostics_and_shutdown(
        shipped_model: Path, tmp_path: Path) -> None:
    """Issue 25's lifecycle promises and issue 23's "lifecycle the ROS way", one node life."""
    missing = tmp_path / "no_such_model.onnx"
    ns = "/fdlcstates_%d" % os.getpid()
    node = ns + "/fastdepth"
    with _start(ns, ["-p", "model_path:=%s" % missing]) as (proc, client):
        assert _change(client, node, "") == (True, "unconfigured"), proc.output()
        # unconfigured: /diagnostics already reports, every task OK and saying so
        assert _all_tasks_say(client, 0.0, "unconfigured"), proc.output()

        # a configure that fails: FAILURE, still unconfigured, the reason in the log
        assert _change(client, node, "configure") == (False, "unconfigured")
        assert wait_for(lambda: "configure failed" in proc.output() and str(missing) in proc.output(), 10.0)
        assert client._depth_sub.get_publisher_count() == 0

        # parameters set while unconfigured are the ones configure uses
        results = client.set_parameters(node, model_path=str(shipped_model), output_encoding="16UC1")
        assert all(r.successful for r in results), [r.reason for r in results]
        since = time.perf_counter()
        assert _change(client, node, "configure") == (True, "inactive"), proc.output()[-3000:]
        engine = _status(client, "engine", since,
                         lambda s: status_values(s).get("Model path") == str(shipped_model))
        assert engine is not None, proc.output()[-3000:]

        # inactive: the output topics are in the graph (nothing published), the work
        # statuses say "inactive" at level OK
        assert wait_for(lambda: client._depth_sub.get_publisher_count() == 1, 10.0)
        assert wait_for(lambda: client._info_sub.get_publisher_count() == 1, 10.0)
        assert client.image_pub.get_subscription_count() == 0
        since = time.perf_counter()
        for task in ("input", "depth output", "frame age", "latency", "camera_info"):
            status = _status(client, task, since, lambda s: "inactive" in s.message)
            assert status is not None and status.level[0] == OK, task
        assert not client.depth

        assert _change(client, node, "activate") == (True, "active")
        assert client.wait_subscribed(20.0), proc.output()
        depth = served(client, scene_rgb8())
        assert depth is not None, proc.output()
        assert depth.encoding == "16UC1"  # set while unconfigured, used at configure

        # shutdown from active: finalized, topics gone, diagnostics say so, a clean exit
        assert _change(client, node, "shutdown_active") == (True, "finalized")
        assert wait_for(lambda: client._depth_sub.get_publisher_count() == 0, 10.0)
        assert client.image_pub.get_subscription_count() == 0
        assert _all_tasks_say(client, time.perf_counter(), "finalized")
        assert proc.alive()
        assert proc.stop(timeout_s=15.0) == 0, proc.output()
        assert "Traceback" not in proc.output()


@contextlib.contextmanager
def _in_process(model: Path) -> Iterator[Any]:
    """A LifecycleDepthNode in this process on a context of its own (not spun: transitions
    and parameter sets are called directly), configured with ``model``."""
    import rclpy
    from rclpy.parameter import Parameter

    from fastdepth_ros.lifecycle import LifecycleDepthNode

    isolate_dds()
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = LifecycleDepthNode(context=context, parameter_overrides=[
        Parameter("model_path", value=str(model)), Parameter("warmup_runs", value=0)])
    try:
        node.trigger_configure()
        assert node.lifecycle_state() == "inactive"
        yield node
    finally:
        node.stop()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_a_reload_while_inactive_loads_and_a_stopped_loader_refuses(shipped_model: Path) -> None:
    """In process: inactive, a model_path change loads (the loader lives until cleanup);
    with the loader stopped, as cleanup stops it before freeing the model, the set is
    rejected with the reason (never queued) and model_path keeps naming the model that runs."""
    from rclpy.parameter import Parameter

    with _in_process(shipped_model) as node:
        def engine_value(key: str) -> str:
            engine = [s for s in node.collect_statuses() if s.name.endswith(": engine")][0]
            return engine.value(key) or ""

        assert node.set_parameters([Parameter("model_path", value=str(OTHER_MODEL))])[0].successful
        assert wait_for(lambda: engine_value("Model path") == str(OTHER_MODEL), 30.0), \
            engine_value("Model reload")

        node._reloader.stop()  # the window between cleanup stopping the loader and freeing the model
        result = node.set_parameters([Parameter("model_path", value=str(shipped_model))])[0]
        assert not result.successful and "stopped" in result.reason, result.reason
        assert node.get_parameter("model_path").value == str(OTHER_MODEL)
        assert engine_value("Model path") == str(OTHER_MODEL)
        assert engine_value("Model reload") == "stopped"


def test_an_exception_in_a_transition_is_said_and_torn_down_to_unconfigured(shipped_model: Path,
                                                                             capfd) -> None:
    """In process, with a fault injected into activate (as a QoS override rclpy refuses
    when the subscription is created would raise): rclpy itself turns the exception into
    ERROR silently; the node says why in one line, on_error tears down (topics gone) and a
    new configure + activate works."""
    from fastdepth_ros import topics

    with _in_process(shipped_model) as node:
        assert wait_for(lambda: node.count_publishers(topics.DEPTH_IMAGE) == 1, 10.0)

        def broken_activate() -> None:
            raise RuntimeError("subscription refused: injected fault")

        node._activate = broken_activate  # type: ignore[method-assign]
        node.trigger_activate()
        assert node.lifecycle_state() == "unconfigured"
        assert wait_for(lambda: node.count_publishers(topics.DEPTH_IMAGE) == 0, 10.0)
        err = capfd.readouterr().err
        assert "activate failed: subscription refused: injected fault" in err, err
        assert "back to unconfigured" in err and "Traceback" not in err

        del node._activate  # the class's own again
        node.trigger_configure()
        node.trigger_activate()
        assert node.lifecycle_state() == "active"
