"""``fastdepth-ros infer`` end to end on the official sample with the reference model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastdepth_ros.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_infer_writes_correct_depth_and_timings(tmp_path: Path, reference_model, official_sample) -> None:
    out = tmp_path / "out"
    proc = run_cli("infer", str(official_sample / "rgb.npy"), "--model", str(reference_model),
                   "--out", str(out), "--input-mode", "full", "--repeat", "3")
    assert proc.returncode == 0, proc.stderr
    assert "inference" in proc.stdout and "CPUExecutionProvider" in proc.stdout
    depth = np.load(out / "rgb_depth.npy")
    official = np.load(official_sample / "pred.npy").reshape(224, 224)
    assert depth.shape == (224, 224)
    assert np.abs(depth - official).mean() <= 0.05
    png = cv2.imread(str(out / "rgb_depth.png"))
    assert png.shape == (224, 224, 3) and png.std() > 10
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings["stages_ms"]) >= {"load", "preprocess", "inference", "postprocess", "write"}
    assert timings["stages_ms"]["inference"]["median"] > 0


def test_infer_reads_image_files_in_crop_mode(tmp_path: Path, shipped_model) -> None:
    img = np.zeros((480, 640, 3), dtype=np.uint8)
    img[:240] = (200, 180, 160)
    cv2.imwrite(str(tmp_path / "frame.png"), img)
    proc = run_cli("infer", str(tmp_path / "frame.png"), "--model", str(shipped_model),
                   "--out", str(tmp_path), "--output-size", "input")
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "frame_depth.npy").shape == (480, 640)
    assert "already" not in proc.stderr  # a camera-sized frame: crop mode is right, no note


def test_infer_notes_a_preprocessed_frame_in_crop_mode(tmp_path: Path, shipped_model) -> None:
    np.save(tmp_path / "pre.npy", np.full((224, 224, 3), 0.5))
    proc = run_cli("infer", str(tmp_path / "pre.npy"), "--model", str(shipped_model),
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "already 224x224" in proc.stderr and "--input-mode full" in proc.stderr


def test_infer_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli("infer", "x.png", "--model", str(tmp_path / "missing.onnx"), "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "model file not found" in proc.stderr and "missing.onnx" in proc.stderr
