"""Where the package's installed files are: share directory, default model and params.

A colcon install registers the package in the ament index; a ``pip install`` into a venv
puts the same index under ``sys.prefix/share`` but nobody sets ``AMENT_PREFIX_PATH`` for
it, so we add the venv prefix when the lookup fails.  A source checkout that was never
installed falls back to the checkout itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

PACKAGE = "fastdepth_ros"
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def _ament_share() -> Path:
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, LookupError, KeyError, ValueError, OSError):
        # OSError: AMENT_PREFIX_PATH unset (a pip install into a venv sets nothing)
        marker = Path(sys.prefix, "share", "ament_index", "resource_index", "packages", PACKAGE)
        if not marker.is_file():
            raise
        paths = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
        if sys.prefix not in paths:
            os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join(paths + [sys.prefix])
        return Path(get_package_share_directory(PACKAGE))


def share_dir() -> Path:
    """The package's share directory (launch/, config/, models/, package.xml)."""
    try:
        return _ament_share()
    except Exception:  # ament_index missing or package not installed: use the checkout
        if (CHECKOUT_ROOT / "package.xml").is_file():
            return CHECKOUT_ROOT
        raise FileNotFoundError(
            "cannot find the %s share directory: install the package (pip install . or "
            "colcon build) or set AMENT_PREFIX_PATH" % PACKAGE
        ) from None


def default_model_path() -> Path:
    return share_dir() / "models" / "fastdepth.onnx"


def default_params_file() -> Path:
    return share_dir() / "config" / "fastdepth.yaml"


#: console script -> the module that runs it with ``python -m`` (setup.py's entry points)
CONSOLE_SCRIPTS = {"depth_node": "fastdepth_ros.entry", "depth_lifecycle_node": "fastdepth_ros.lifecycle",
                   "fastdepth-ros": "fastdepth_ros.cli"}


def console_command(name: str = "depth_node") -> List[str]:
    """The command that runs this package's console script ``name`` (the one way the demo,
    the bench and the tests start ``depth_node``).

    Found the way ``ros2 run`` and ``colcon test`` see the package: ``<ament prefix>/lib/
    fastdepth_ros/`` (a colcon install), then the script next to the running interpreter (a
    venv from ``scripts/venv.sh``: two venvs, one per ROS distribution, each run their own),
    then the one on PATH, else ``python -m <module>`` with this interpreter.
    """
    try:
        _ament_share()  # registers a pip-installed venv prefix in AMENT_PREFIX_PATH
        from ament_index_python.packages import get_package_prefix

        installed = Path(get_package_prefix(PACKAGE)) / "lib" / PACKAGE / name
        if installed.is_file() and os.access(str(installed), os.X_OK):
            return [str(installed)]
    except Exception:  # not in the ament index (a source checkout): the venv / PATH
        pass
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return [str(beside)]
    found = shutil.which(name)
    if found:
        return [found]
    return [sys.executable, "-m", CONSOLE_SCRIPTS[name]]


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout_s: float = 10.0) -> Optional[int]:
    """Stop a started console script the way Ctrl-C does (``sig`` to its process group when
    it leads one, else to it), wait, kill after ``timeout_s``; the exit code of a clean stop,
    None when it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        group = os.getpgid(proc.pid) == proc.pid  # started with start_new_session=True
    except ProcessLookupError:  # exited just now
        return proc.wait()

    def send(s: int) -> None:
        try:
            os.killpg(proc.pid, s) if group else proc.send_signal(s)
        except ProcessLookupError:
            pass

    send(sig)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait(5.0)
        return None


REFERENCE_ENV = "FASTDEPTH_REFERENCE_DIR"


class ReferenceDataError(FileNotFoundError):
    """Reference data was asked for and is not named (the one-line error the CLI prints)."""


def reference_dir() -> Path:
    """The reference data (the official model and its NYU sample frame) for the training
    side's evaluation only: the node, the demo, replay and the bench never call it (the bench
    takes ``--reference-dir``, the tests their own fixture).

    Named by ``FASTDEPTH_REFERENCE_DIR`` and nothing else: it is development data, not part
    of an install, so there is no default path (a default outside the install would make a
    user's results depend on whatever lies there).  Raises :class:`ReferenceDataError`
    saying so when unset; this project's tests and scripts set it to ``../shared/reference``.
    """
    env = os.environ.get(REFERENCE_ENV)
    if not env:
        raise ReferenceDataError(
            "the official NYU sample needs the reference data folder (with official_sample/): set "
            "%s=<folder>; it is not part of the install" % REFERENCE_ENV)
    return Path(env)
