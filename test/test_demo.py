"""``fastdepth-ros demo`` as a user runs it: installed console script, real node, sample bag."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fastdepth_ros.replay import bagio
from fastdepth_ros.resources import console_command


def _run(args, timeout=120):
    return subprocess.run(console_command("fastdepth-ros") + ["demo"] + args, capture_output=True, text=True,
                          timeout=timeout)


def test_demo_end_to_end(tmp_path):
    """The demo's defaults: the shipped model on the shipped sample bag."""
    report_dir = tmp_path / "demo"
    res = _run(["--report", str(report_dir)])
    assert res.returncode == 0, res.stdout + res.stderr + (report_dir / "node.log").read_text()[-2000:]
    out = res.stdout
    for key in ("frames", "fps", "latency p50/p95", "delta1", "RMSE"):
        assert key in out, out
    report = json.loads((report_dir / "report.json").read_text())
    with bagio.BagReader(Path(report["input_bag"])) as bag:
        n = bag.topics["/camera/image_raw/compressed"].count
    assert report["frames"]["published"] == n
    assert report["frames"]["received"] >= 0.9 * n  # recorded pace on 2 cores: allow a few drops
    assert report["frames"]["with_ground_truth"] == report["frames"]["received"]
    assert 0.0 < report["metrics"]["delta1"] <= 1.0 and report["metrics"]["rmse_m"] > 0
    assert (report_dir / "montage.png").is_file() and (report_dir / "frames.csv").is_file()
    with bagio.BagReader(report_dir / "output_bag") as bag:
        assert bag.topics["/depth/image"].count == report["frames"]["received"]


def test_demo_missing_model_is_a_clear_error(tmp_path):
    res = _run(["--model", str(tmp_path / "nope.onnx"), "--report", str(tmp_path / "r")], timeout=60)
    assert res.returncode == 2
    assert "nope.onnx" in res.stderr and "not found" in res.stderr
