#!/usr/bin/env bash
# Create .venv in the checkout if missing and install this package with the given extras.
# Usage: scripts/venv.sh runtime,ros[,train,test]   (prints nothing on success but pip's errors)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-runtime,ros}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
# A real (non-editable) install: data files (ament index marker, package.xml, launch/,
# config/, models/) land under .venv/share/fastdepth_ros exactly as colcon installs them.
.venv/bin/python -m pip install -q --disable-pip-version-check ".[${extras}]"
