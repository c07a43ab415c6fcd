"""The training / pruning scripts write the checkout's models/ and docs/ only with --install.

Each script runs for real with ``--dry-run`` (it prints the commands it would run: training
takes hours), from a copy of ``scripts/`` in a temporary checkout, so even a script that
ignored ``--dry-run`` could not touch this checkout (it fails there: no .venv).  The printed
commands are parsed and every file or folder they would write (``-o``, ``--plot``,
``--docs``, ``cp``'s target, ``--run-dir``, ``--checkpoint-dir``) is checked against the
temporary checkout's models/ and docs/.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = ("finetune_default_model.sh", "prune_default_model.sh", "prune_shipped_model.sh")
#: what --install writes, per script (relative to the checkout)
INSTALLED = {
    "finetune_default_model.sh": {"models/fastdepth.onnx", "docs/model.md"},
    "prune_default_model.sh": {"docs/netadapt_pareto.png"},
    "prune_shipped_model.sh": {"docs/netadapt_pareto_shipped.png"},
}
WRITE_OPTIONS = ("-o", "--output", "--plot", "--docs", "--run-dir", "--checkpoint-dir")


def _targets(stdout: str) -> List[str]:
    """Every path a printed command would write."""
    out = []
    for line in stdout.splitlines():
        words = shlex.split(line)
        if not words:
            continue
        if words[0] == "cp":
            out.append(words[-1])
        out += [words[i + 1] for i, w in enumerate(words[:-1]) if w in WRITE_OPTIONS]
    return out


def _run(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    checkout = tmp_path / "checkout"
    if not checkout.exists():
        shutil.copytree(REPO / "scripts", checkout / "scripts")
        (checkout / "docs").mkdir()
        (checkout / "models").mkdir()
    env = dict(os.environ, HOME=str(tmp_path / "home"), FASTDEPTH_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run(["bash", str(checkout / "scripts" / script), *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=str(tmp_path))


@pytest.mark.parametrize("script", SCRIPTS)
def test_without_install_nothing_goes_to_models_or_docs(tmp_path: Path, script: str) -> None:
    proc = _run(tmp_path, script, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    targets = _targets(proc.stdout)
    assert targets, "the script writes something: %s" % proc.stdout
    for path in targets:
        rel = Path(path)
        assert rel.parts[0] not in ("models", "docs"), "%s writes %s without --install" % (script, path)
    assert "untouched" in proc.stderr and "--install" in proc.stderr, "it says where the results went"
    assert not [p for d in ("models", "docs") for p in (tmp_path / "checkout" / d).iterdir()]


@pytest.mark.parametrize("script", SCRIPTS)
def test_install_writes_the_shipped_files(tmp_path: Path, script: str) -> None:
    proc = _run(tmp_path, script, "--install", "--dry-run", "--extra-flag", "1")
    assert proc.returncode == 0, proc.stderr
    assert INSTALLED[script] <= set(_targets(proc.stdout)), proc.stdout
    if script.startswith("prune"):  # other flags still reach fastdepth-ros prune
        assert "--extra-flag 1" in proc.stdout
