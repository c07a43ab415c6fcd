#!/usr/bin/env bash
# The README's test command: set up .venv (if needed) and run lint + the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/no_sourced_ros.sh
scripts/venv.sh runtime,ros,train,test
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
