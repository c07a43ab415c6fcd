"""Python version floor of the code that runs on robots.

The node, the replay/bench tools and the launch file run on apt ROS 2 as well: Humble on
JetPack 5 means Python 3.8, so those modules must not use newer syntax or standard-library
API.  The training side (torch only) needs Python 3.10, ROS 2 Humble's Python on Ubuntu 22.04.
``vermin`` (PyPI) parses the files and reports the minimum version every construct needs;
annotations are not evaluated at runtime here (``from __future__ import annotations``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

from deps import missing

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "fastdepth_ros"


def _vermin() -> str:
    exe = Path(sys.executable).parent / "vermin"
    found = str(exe) if exe.is_file() else shutil.which("vermin")
    if not found:
        missing("vermin not installed (test extra)")
    return found


def _check(files: List[Path], target: str) -> subprocess.CompletedProcess:
    assert files
    return subprocess.run(
        [_vermin(), "-q", "--no-tips", "--violations", "-t=%s-" % target] + [str(f) for f in files],
        capture_output=True, text=True, timeout=120,
    )


def _runtime_files() -> List[Path]:
    files = [p for p in PACKAGE.rglob("*.py") if "training" not in p.relative_to(PACKAGE).parts]
    return sorted(files) + sorted((REPO / "launch").glob("*.py"))


def test_runtime_modules_run_on_python_3_8() -> None:
    files = _runtime_files()
    assert PACKAGE / "node.py" in files and PACKAGE / "training" / "model.py" not in files
    result = _check(files, "3.8")
    assert result.returncode == 0, result.stdout + result.stderr


def test_training_modules_run_on_python_3_10() -> None:
    result = _check(sorted((PACKAGE / "training").rglob("*.py")), "3.10")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_catches_newer_syntax(tmp_path: Path) -> None:
    """The floor check itself works: a 3.9-only construct fails the 3.8 target."""
    newer = tmp_path / "newer.py"
    newer.write_text("print('prefix: x'.removeprefix('prefix: '))\n")
    result = _check([newer], "3.8")
    assert result.returncode != 0 and "removeprefix" in result.stdout
