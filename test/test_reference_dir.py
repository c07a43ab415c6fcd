"""The reference data (official model + NYU sample) is development data: the package has no
default folder for it outside the install, and asking for it without naming it is one clear
error line, not a traceback (``resources.reference_dir``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deps import need

from fastdepth_ros.resources import ReferenceDataError, reference_dir

REPO = Path(__file__).resolve().parent.parent


def test_no_default_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FASTDEPTH_REFERENCE_DIR", raising=False)
    with pytest.raises(ReferenceDataError, match="FASTDEPTH_REFERENCE_DIR"):
        reference_dir()
    monkeypatch.setenv("FASTDEPTH_REFERENCE_DIR", str(tmp_path))
    assert reference_dir() == tmp_path


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "FASTDEPTH_REFERENCE_DIR"}
    return subprocess.run([sys.executable, "-m", "fastdepth_ros.cli", *args], capture_output=True,
                          text=True, timeout=300, env=dict(base, **env), cwd=str(REPO))


def test_eval_asking_for_the_nyu_frame_without_reference_data_is_one_error_line(shipped_model: Path) -> None:
    need("torch", reason="the training side (scripts/venv.sh train)")
    proc = _cli("eval", str(shipped_model), "--heldout", "0", "--folder", "nyu_sample")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "FASTDEPTH_REFERENCE_DIR" in lines[0], proc.stderr


def test_eval_default_skips_the_nyu_frame_when_no_reference_data_is_named(shipped_model: Path,
                                                                         tmp_path: Path) -> None:
    """eval scores the NYU frame by default only where the reference data is named; a user
    without it gets their own folders scored, and null for the NYU frame."""
    need("torch", reason="the training side (scripts/venv.sh train)")
    import numpy as np

    folder = tmp_path / "rgbd"
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    import cv2

    (folder / "meta.json").write_text(json.dumps(
        {"intrinsics": {"fx": 520.0, "fy": 520.0, "cx": 319.5, "cy": 239.5, "width": 640, "height": 480}}))
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / "rgb" / ("%03d.png" % i)), rng.integers(0, 255, (480, 640, 3), np.uint8))
        cv2.imwrite(str(folder / "depth" / ("%03d.png" % i)), np.full((480, 640), 2000, np.uint16))
    proc = _cli("eval", str(shipped_model), "--heldout", "0", "--folder", str(folder),
                "--json", str(tmp_path / "eval.json"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["nyu_official_sample"] is None
    assert result["rgbd"]["delta1"] >= 0.0
