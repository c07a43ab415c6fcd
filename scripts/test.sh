#!/usr/bin/env bash
# The README's test command: set up .venv (if needed) and run lint + the whole test suite on
# ROS 2 Kilted; then, for a full run (no arguments), the ROS process tests (node, lifecycle,
# replay, demo) again on ROS 2 Jazzy in .venv-jazzy.  FASTDEPTH_SKIP_JAZZY=1 skips that part.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/no_sourced_ros.sh
scripts/venv.sh runtime,ros,train,test
.venv/bin/ruff check .
if [ "$#" -gt 0 ] || [ -n "${FASTDEPTH_SKIP_JAZZY:-}" ]; then
  exec .venv/bin/python -m pytest "$@"
fi
status=0
.venv/bin/python -m pytest || status=$?
echo "== ROS 2 Jazzy (.venv-jazzy): node, lifecycle, faults, replay and demo tests"
VENV=.venv-jazzy scripts/venv.sh runtime,ros-jazzy,test-node
# reliable input for test_node.py's many served frames: ros_harness.reliable_input() says why
FASTDEPTH_TEST_RELIABLE_INPUT=1 .venv-jazzy/bin/python -m pytest -p no:cacheprovider \
  test/test_node.py test/test_node_startup.py test/test_node_integration.py test/test_node_qos_faults.py \
  test/test_node_promises.py test/test_node_rectify.py test/test_node_points.py \
  test/test_node_anchor.py test/test_node_info_pairing.py test/test_lifecycle_ros.py \
  test/test_node_faults.py test/test_replay.py test/test_demo.py || status=$?
exit "$status"
