#!/usr/bin/env bash
# Create a venv in the checkout if missing and install this package with the given extras.
# Usage: scripts/venv.sh runtime,ros[,train,test]   (prints nothing on success but pip's errors)
# VENV=.venv-jazzy scripts/venv.sh runtime,ros-jazzy,test-node: the same against ROS 2 Jazzy.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-runtime,ros}"
venv="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  # The PyPI ROS 2 (Kilted, Jazzy) wheels exist for CPython 3.10-3.14 on x86-64 manylinux_2_28 only.
  if ! "$PYTHON" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 14))'; then
    echo "scripts/venv.sh: $("$PYTHON" -V 2>&1) found; the PyPI ROS 2 wheels need CPython 3.10-3.14." >&2
    echo "Set PYTHON=/path/to/python3.1x, or use apt ROS 2 + colcon (README: Install on a robot)." >&2
    exit 2
  fi
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
fi
# A real (non-editable) install: data files (ament index marker, package.xml, launch/,
# config/, models/) land under $venv/share/fastdepth_ros exactly as colcon installs them.
"$venv/bin/python" -m pip install -q --disable-pip-version-check ".[${extras}]"
