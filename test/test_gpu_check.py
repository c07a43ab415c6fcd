"""benchmarks/gpu_check.py (issue 24) runs end to end on a CPU-only machine: every CUDA
section says why it was skipped, the CPU stand-ins measure, and the JSON is strict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_gpu_check_runs_and_says_what_it_skipped(tmp_path: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA machine: scripts/gpu_check.sh measures it for real")
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--runs", "20",
                           "--frames", "2", "--out", str(out)], capture_output=True, text=True, timeout=300,
                          cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail("non-JSON constant %s" % c))
    assert result["cuda_available"] is False
    truth = result["provider_truth"]
    assert truth["provider"] == "CPUExecutionProvider" and not truth["runs_on_cuda"]
    assert any("CUDAExecutionProvider requested" in n for n in truth["notes"])
    assert truth["self_test"]["ok"] is None and "CPU provider" in truth["self_test"]["summary"]
    assert "skipped" in result["agreement_fp32"] and "skipped" in result["model_latency"]["cuda_graph"]
    for key in ("session_run", "io_binding_copy_back", "io_binding_device_output"):
        figures = result["model_latency"][key]
        assert figures["runs"] == 20 and 0 < figures["p50_ms"] <= figures["p90_ms"] <= figures["p99_ms"]
    stages = result["pipeline_640x480"]
    assert stages["frame"] == "640x480"
    assert set(stages["stages"]) == {"preprocess", "inference", "postprocess"}
    assert stages["dominant_stage"] in stages["stages"]
    assert result["tensorrt"]["tested"] is False
