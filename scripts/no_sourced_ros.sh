# Sourced by scripts/demo.sh and scripts/test.sh: the venv brings its own ROS 2.
# A shell with /opt/ros/<distro>/setup.bash (or a colcon workspace) sourced puts that
# distro's Python packages on PYTHONPATH, ahead of the venv's: the venv's Python then
# imports /opt/ros's rclpy, built for another Python, and fails with "No module named
# 'rclpy._rclpy_pybind11'" (tests that need rclpy skip as "rclpy not installed").  For
# these commands only, drop what setup.bash added.
if [ -n "${ROS_DISTRO:-}" ] || [[ "${PYTHONPATH:-}" == */opt/ros/* ]]; then
  echo "$(basename "$0"): ignoring the sourced ROS 2 ${ROS_DISTRO:-} environment (PYTHONPATH, AMENT_PREFIX_PATH, /opt/ros in LD_LIBRARY_PATH); .venv has its own ROS 2" >&2
  unset PYTHONPATH AMENT_PREFIX_PATH COLCON_PREFIX_PATH ROS_DISTRO ROS_VERSION ROS_PYTHON_VERSION
  if [ -n "${LD_LIBRARY_PATH:-}" ]; then
    LD_LIBRARY_PATH="$(printf '%s' "$LD_LIBRARY_PATH" | tr ':' '\n' | { grep -v '^/opt/ros/' || true; } | paste -sd: -)"
    export LD_LIBRARY_PATH
  fi
fi
