"""Smoke tests of ``fastdepth-ros bench`` on tiny settings: the harness runs and writes its
JSON.  No timing assertions (the CI machine is shared and noisy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from deps import need

onnx = need("onnx")


def run_bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The bench as a user runs it: no reference data unless a test passes --reference-dir."""
    env = {k: v for k, v in os.environ.items() if k != "FASTDEPTH_REFERENCE_DIR"}
    return subprocess.run([sys.executable, "-m", "fastdepth_ros.cli", "bench", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def tiny_model(path: Path) -> Path:
    """A 3-node FastDepth-shaped graph: 'encoder' conv + ReLU6 (Clip), 'decoder' conv + ReLU."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.random((8, 3, 3, 3), dtype=np.float32), "w0"),
        numpy_helper.from_array(rng.random((1, 8, 1, 1), dtype=np.float32), "w1"),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
    ]
    nodes = [
        helper.make_node("Conv", ["rgb", "w0"], ["c0"], name="conv0", pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c0", "lo", "hi"], ["e"], name="conv0_relu6"),
        helper.make_node("Conv", ["e", "w1"], ["c1"], name="dec"),
        helper.make_node("Relu", ["c1"], ["depth"], name="dec_relu"),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("rgb", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 1, 32, 32])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_graph_cost_and_encoder_split_of_a_tiny_graph(tmp_path: Path) -> None:
    from fastdepth_ros.bench.models import ModelSpec, encoder_nodes, graph_cost, profile_split

    path = str(tiny_model(tmp_path / "tiny.onnx"))
    cost = graph_cost(path)
    assert cost["macs"] == 32 * 32 * 8 * 3 * 9 + 32 * 32 * 1 * 8
    assert cost["params"] == 8 * 3 * 9 + 8
    boundary, enc, _, _ = encoder_nodes(path)
    assert boundary == "conv0_relu6" and "conv0" in enc and "dec" not in enc
    split = profile_split(ModelSpec("tiny", path), threads=1, runs=3, warmup=1)
    assert split["encoder_ms"]["n"] == 3 and split["decoder_ms"]["n"] == 3


def test_reference_graph_cost_matches_layer_table(reference_model: Path) -> None:
    from fastdepth_ros.bench.models import graph_cost

    table = json.loads((reference_model.parent / "fastdepth_pruned_ref_layers.json").read_text())
    cost = graph_cost(str(reference_model))
    assert cost["macs"] == table["macs"] and cost["params"] == table["params"]


def test_bench_quick_on_a_tiny_model_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    model = tiny_model(tmp_path / "tiny.onnx")
    proc = run_bench("--quick", "--models", "", "--model", "tiny=%s" % model, "--no-e2e",
                     "--threads", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["machine"]["cpu_model"] and result["machine"]["onnxruntime"]
    (row,) = result["latency"]
    assert row["model"] == "tiny" and row["threads"] == 1
    assert set(row["stats_ms"]) >= {"median", "p90", "p99", "n"} and row["stats_ms"]["n"] > 0
    assert result["breakdown"][0]["model"] == "tiny"
    assert result["peak"]["by_threads"]["1"]["gmacs_per_s"] > 0
    assert "model-only latency" in proc.stdout


@pytest.mark.slow
def test_bench_quick_shipped_with_eager(tmp_path: Path) -> None:
    """The shipped model in ORT and eager; the reference model is only measured when a
    reference folder is given, and its absence is noted, not an error."""
    need("torch")
    out = tmp_path / "bench.json"
    proc = run_bench("--quick", "--models", "shipped,reference", "--no-e2e",
                     "--threads", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    runtimes = {r["runtime"] for r in result["latency"]}
    assert runtimes == {"CPUExecutionProvider", "torch-eager"}  # 1 thread: no no-spin variant
    ort_row = [r for r in result["latency"] if r["runtime"] != "torch-eager"][0]
    assert ort_row["ort_over_eager"] > 0 and ort_row["peak_fraction"] > 0
    assert set(result["models"]) == {"shipped"}
    assert any("reference model skipped: pass --reference-dir" in n for n in result["notes"])
    assert result["models"]["shipped"]["macs"] == 366393384  # the pruned FastDepth architecture


@pytest.mark.ros
@pytest.mark.slow
def test_bench_quick_node_end_to_end(tmp_path: Path) -> None:
    """Default models: the node end to end runs the shipped model."""
    need("rclpy")
    out = tmp_path / "bench.json"
    proc = run_bench("--quick", "--models", "shipped", "--no-eager", "--no-breakdown", "--threads", "1",
                     "--e2e-modes", "30", "--e2e-seconds", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    node_row, relay_row = json.loads(out.read_text())["e2e"]
    for row in (node_row, relay_row):
        assert "error" not in row, row
        assert row["published"] > 0 and row["received_depth"] > 0
        assert row["latency_ms"]["n"] == row["received_depth"]
        assert 0 < row["node_rss_mib"] <= row["node_peak_rss_mib"]
    assert "relay" in relay_row["mode"] and "relay" not in node_row["mode"]
    assert node_row["transport_floor_p50_ms"] == relay_row["latency_ms"]["median"]
    assert "total" in node_row["node_stage_p50_ms"]
    paced = json.loads(out.read_text())["pipeline_paced"]
    assert paced["rate_hz"] == 30.0 and paced["stages_ms"]["inference"]["n"] > 0


def test_whatif_names_map_to_node_parameters() -> None:
    from fastdepth_ros.bench.e2e import whatif_params

    assert whatif_params(["nospin", "1thread"]) == ["ort_allow_spinning:=false", "intra_op_threads:=1"]
    with pytest.raises(KeyError, match="unknown what-if 'take'"):
        whatif_params(["take"])


@pytest.mark.ros
@pytest.mark.slow
def test_soak_script_runs_windows_against_one_node(tmp_path: Path) -> None:
    """benchmarks/soak.py on a tiny setting: every window served by the same node process,
    memory read after each window, summary written.  No timing or growth assertions."""
    need("rclpy")
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"),
         "--minutes", "0.07", "--window-s", "2", "--out", str(out)],  # default: the shipped model
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    summary, windows = result["summary"], result["windows"]
    assert summary["windows"] == len(windows) == 2 and summary["errors"] == 0
    assert len({w["node_pid"] for w in windows}) == 1  # one node process for the whole soak
    assert all(w["received_depth"] > 0 and w["node_rss_mib"] > 0 for w in windows)
    assert windows[0]["finished_monotonic_s"] < windows[1]["finished_monotonic_s"]
    assert summary["rss_mib_last"] == windows[-1]["node_rss_mib"]
    assert "rss_slope_mib_per_min_second_half" in summary
