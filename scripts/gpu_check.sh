#!/usr/bin/env bash
# Issue 24's GPU check: run on a machine with an NVIDIA GPU, prints one JSON (and writes it
# to $2, default benchmarks/results/gpu-check.json).
#   scripts/gpu_check.sh [WHEEL_DIR] [OUT_JSON]
# WHEEL_DIR holds onnxruntime_gpu-*.whl (installed with --no-deps into /tmp/ortgpu, so the
# machine's CPU onnxruntime stays untouched); without it the installed onnxruntime is used.
# CUDA/cuDNN come from the nvidia-* wheels beside torch (onnxruntime.preload_dlls()).
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="${1:-}"
out="${2:-benchmarks/results/gpu-check.json}"
PY="${PYTHON:-python3}"
if [ -n "$wheels" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/ortgpu "$wheels"/onnxruntime_gpu-*.whl
  export PYTHONPATH="/tmp/ortgpu${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's fastdepth_ros
export PYTHONUNBUFFERED=1
exec "$PY" benchmarks/gpu_check.py --out "$out" "${@:3}"
