"""The training subcommands register without importing torch and run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deps import missing, need

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_register_does_not_import_torch() -> None:
    code = (
        "import argparse, sys\n"
        "from fastdepth_ros.training import cli\n"
        "p = argparse.ArgumentParser()\n"
        "cli.register(p.add_subparsers(dest='command'))\n"
        "p.parse_args(['eval', 'm.onnx'])\n"
        "assert 'torch' not in sys.modules, 'torch imported at registration'\n"
        "print(sorted(p._subparsers._group_actions[0].choices))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    expected = ("['adapt', 'eval', 'export', 'imagenet-npz', 'import-checkpoint', 'interpolate', 'prune', "
                "'render', 'scale-folder', 'train']")
    assert out.stdout.strip() == expected


def test_import_checkpoint_command(tmp_path) -> None:
    need("torch")
    need("onnxruntime")
    from test_training_import import _official_like

    from fastdepth_ros.training import cli

    path, _ = _official_like(tmp_path, True)
    out, onnx_path = tmp_path / "ours.pth", tmp_path / "official.onnx"
    assert cli.main(["import-checkpoint", str(path), "-o", str(out), "--onnx", str(onnx_path)]) == 0
    assert out.exists() and onnx_path.exists()
    assert cli.main(["eval", str(onnx_path), "--heldout", "0", "--montage", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_eval_writes_a_montage_only_when_asked(tmp_path, monkeypatch) -> None:
    """Run from a checkout, ``eval`` used to leave ``eval_montage.png`` in it."""
    need("torch")
    need("onnxruntime")
    from test_training_import import _official_like

    from fastdepth_ros.training import cli

    path, _ = _official_like(tmp_path, True)
    onnx_path = tmp_path / "official.onnx"
    ours = tmp_path / "ours.pth"
    assert cli.main(["import-checkpoint", str(path), "-o", str(ours), "--onnx", str(onnx_path)]) == 0
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    assert cli.main(["eval", str(onnx_path), "--heldout", "2"]) == 0
    assert not list(work.iterdir())


def test_installed_eval_scores_the_reference_model_on_the_official_sample(tmp_path, reference_model) -> None:
    """The console script (the installed copy, not this checkout's modules) finds the reference
    folder named by FASTDEPTH_REFERENCE_DIR (there is no default one) and reproduces the official
    accuracy within the tolerances of ../shared/reference/README.md."""
    need("torch")
    script = Path(sys.executable).parent / "fastdepth-ros"
    if not script.is_file():
        missing("console script not installed (scripts/venv.sh installs it)")
    out = tmp_path / "eval.json"
    proc = subprocess.run(
        [str(script), "eval", str(reference_model), "--heldout", "0", "--json", str(out),
         "--montage", str(tmp_path / "montage.png")],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, FASTDEPTH_REFERENCE_DIR=str(reference_model.parent)),
    )
    assert proc.returncode == 0, proc.stderr
    nyu = json.loads(out.read_text())["nyu_official_sample"]
    assert nyu is not None, "eval did not find the official sample"
    assert nyu["delta1"] >= 0.767 and nyu["rmse_m"] <= 0.640


def test_render_command_fills_the_cache(tmp_path, monkeypatch) -> None:
    need("torch")
    from fastdepth_ros.training import cli, data

    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path))
    assert cli.main(["render", "--scenes", "2"]) == 0
    assert data.is_cached(0) and data.is_cached(1) and not data.is_cached(2)
    assert cli.main(["render", "--scenes", "2", "--start", "1", "--workers", "2"]) == 0
    assert data.is_cached(2)
    assert cli.main(["render", "--scenes", "1", "--heldout"]) == 0
    assert data.is_cached(data.HELDOUT_SEED0)
