#!/usr/bin/env bash
# The README's main job: set up .venv (if needed) and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/no_sourced_ros.sh
scripts/venv.sh runtime,ros
exec .venv/bin/fastdepth-ros demo "$@"
