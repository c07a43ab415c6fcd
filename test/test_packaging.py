"""The package installs both ways: pip into a venv and colcon into a ROS 2 workspace."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from deps import missing, need

import fastdepth_ros
from fastdepth_ros.resources import share_dir

ROOT = Path(__file__).resolve().parent.parent
SHARED_FILES = ["package.xml", "config/fastdepth.yaml", "config/fastdds_shm.xml", "launch/depth.launch.py"]


def test_package_xml_is_format3_with_real_exec_depends() -> None:
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "fastdepth_ros"
    assert root.findtext("version") == fastdepth_ros.__version__
    deps = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "diagnostic_msgs", "python3-numpy", "python3-opencv",
            "python3-onnxruntime-pip"} <= deps
    assert root.find("export/build_type").text == "ament_python"


#: top-level module -> rosdep key; None: not a robot dependency (pip-only extra or an
#: optional fallback), documented in docs/integration.md
ROSDEP_KEYS = {
    "rclpy": "rclpy", "rcl_interfaces": "rcl_interfaces", "sensor_msgs": "sensor_msgs",
    "diagnostic_msgs": "diagnostic_msgs", "lifecycle_msgs": "lifecycle_msgs",
    "rosgraph_msgs": "rosgraph_msgs", "ament_index_python": "ament_index_python",
    "launch": "launch", "launch_ros": "launch_ros", "numpy": "python3-numpy",
    "cv2": "python3-opencv", "onnxruntime": "python3-onnxruntime-pip", "tqdm": "python3-tqdm",
    "yaml": "python3-yaml", "builtin_interfaces": "builtin_interfaces", "std_msgs": "std_msgs",
    "pytest": "python3-pytest", "PIL": "python3-pil",
    "rosbags": None, "ruamel": None, "apsw": None,  # replay's bag library (pip) and its fallbacks
    "torch": None, "onnx": None,  # training/export/bench extras, never on the robot
}
#: exec_depends the code reaches through another package's API, not an import
INDIRECT = {"lifecycle_msgs": "rclpy.lifecycle serves the lifecycle_msgs services"}


def _imported_modules(paths) -> set:
    import ast
    import sys as _sys

    stdlib = set(getattr(_sys, "stdlib_module_names", ())) | {"__future__"}
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {n.split(".")[0] for n in names}
    return {m for m in found if m not in stdlib and m not in ("fastdepth_ros", "ros_harness", "test_launch",
                                                               "test_training_import")}


def test_package_xml_declares_exactly_what_the_code_imports() -> None:
    """rosdep installs what package.xml says: every import of the shipped code (the node,
    replay, bench, launch file) must be there, and nothing it does not use."""
    if sys.version_info < (3, 10):
        pytest.skip("sys.stdlib_module_names needs Python 3.10")
    root = ET.parse(ROOT / "package.xml").getroot()
    shipped = [p for p in (ROOT / "fastdepth_ros").rglob("*.py") if "training" not in p.parts]
    shipped += list((ROOT / "launch").glob("*.py"))
    runtime = _imported_modules(shipped)
    unknown = runtime - set(ROSDEP_KEYS)
    assert not unknown, "imports without a rosdep mapping in this test: %s" % sorted(unknown)
    want = {ROSDEP_KEYS[m] for m in runtime if ROSDEP_KEYS[m]} | set(INDIRECT)
    exec_deps = {e.text for e in root.findall("exec_depend")}
    assert exec_deps == want, ("missing", want - exec_deps, "unused", exec_deps - want)
    tests = _imported_modules((ROOT / "test").glob("*.py")) - runtime - set(INDIRECT)
    test_want = {ROSDEP_KEYS[m] for m in tests if ROSDEP_KEYS.get(m)}
    test_deps = {e.text for e in root.findall("test_depend")}
    assert test_deps == test_want, ("missing", test_want - test_deps, "unused", test_deps - test_want)
    assert not root.findall("build_depend") and "ament_flake8" not in ET.tostring(root, "unicode")


def test_license_and_changelog_are_shipped() -> None:
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.findtext("license") == "MIT"
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "WITHOUT WARRANTY" in license_text
    changelog = (ROOT / "CHANGELOG.rst").read_text()
    # catkin_generate_changelog / bloom format: a title, then "<version> (YYYY-MM-DD)" sections
    assert re.search(r"^%s \(\d{4}-\d{2}-\d{2}\)$" % re.escape(fastdepth_ros.__version__), changelog,
                     re.M) or re.search(r"^Forthcoming$", changelog, re.M)


def test_pip_install_puts_share_files_where_ament_finds_them() -> None:
    """scripts/venv.sh installs non-editable; ament_index must resolve the share dir."""
    share = share_dir()
    if not str(share).startswith(sys.prefix):
        missing("package not installed into this interpreter's prefix (%s)" % sys.prefix)
    marker = Path(sys.prefix, "share/ament_index/resource_index/packages/fastdepth_ros")
    assert marker.is_file()
    for rel in SHARED_FILES:
        assert (share / rel).is_file(), rel


def test_colcon_build_installs_ros2_run_layout(tmp_path: Path) -> None:
    colcon = shutil.which("colcon") or str(Path(sys.executable).with_name("colcon"))
    if not Path(colcon).exists():
        missing("colcon not installed (pip install colcon-common-extensions)")
    src = tmp_path / "src" / "fastdepth_ros"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "build", "install", "log",
                                                             "*.egg-info", "__pycache__", "reports"))
    proc = subprocess.run([colcon, "build", "--packages-select", "fastdepth_ros"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    install = tmp_path / "install" / "fastdepth_ros"
    # `ros2 run fastdepth_ros depth_node` looks in lib/<package>/.
    assert (install / "lib" / "fastdepth_ros" / "depth_node").is_file()
    assert (install / "lib" / "fastdepth_ros" / "fastdepth-ros").is_file()
    for rel in SHARED_FILES:
        assert (install / "share" / "fastdepth_ros" / rel).is_file(), rel
    index = tmp_path / "install/fastdepth_ros/share/ament_index/resource_index/packages"
    assert (index / "fastdepth_ros").is_file()

    # `colcon test` after `colcon build`: the harness finds the *installed* executables via the
    # ament index (colcon puts them in lib/<package>, not next to the interpreter)
    env = dict(os.environ, AMENT_PREFIX_PATH=str(install))
    probe = "from fastdepth_ros.resources import console_command; print(console_command('depth_node')[0])"
    found = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                           timeout=60, cwd=str(tmp_path))
    assert found.stdout.strip() == str(install / "lib" / "fastdepth_ros" / "depth_node"), found.stderr
    proc = subprocess.run([colcon, "test", "--packages-select", "fastdepth_ros", "--pytest-args",
                           "test/test_topics.py", "test/test_node_startup.py", "-k",
                           "sibling or missing_model"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = subprocess.run([colcon, "test-result", "--all"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert "0 errors, 0 failures" in result.stdout and "Summary: 2 tests" in result.stdout, result.stdout


def test_every_node_parameter_is_documented_and_in_the_shipped_yaml() -> None:
    """Users read the node reference table (docs/node.md) and edit config/fastdepth.yaml:
    neither may miss a parameter the node declares (node.PARAMETERS is what it declares;
    importing it needs rclpy)."""
    need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")
    import yaml
    from test_launch import flatten

    from fastdepth_ros.node import PARAMETERS

    readme = (ROOT / "docs" / "node.md").read_text()
    table = {name for line in readme.splitlines() if line.startswith("| `")
             for name in re.findall(r"`([a-z0-9_.]+)`", line.split("|")[1])}
    shipped_yaml = yaml.safe_load((ROOT / "config" / "fastdepth.yaml").read_text())
    shipped = flatten(shipped_yaml["/**"]["ros__parameters"])
    assert set(PARAMETERS) - table == set(), "parameters missing from the docs/node.md table"
    assert set(PARAMETERS) - set(shipped) == set(), "parameters missing from config/fastdepth.yaml"
    assert set(shipped) - set(PARAMETERS) == set(), "config/fastdepth.yaml sets unknown parameters"


def test_readme_is_short_and_starts_with_what_an_integrator_needs() -> None:
    """README under 20 KB, in this order: what it does (one picture), install on a robot,
    the two commands, wiring, rectification, troubleshooting; its links to docs/ resolve."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 20_000
    headings = re.findall(r"^## (.+)$", readme, re.M)
    wanted = ["Install on a robot", "two commands", "Wiring", "Rectification", "Troubleshooting"]
    found = [next(i for i, h in enumerate(headings) if w in h) for w in wanted]
    assert found == sorted(found), headings
    assert readme.index("![") < readme.index("## Install on a robot"), "the picture comes first"
    assert "./scripts/demo.sh" in readme and "./scripts/test.sh" in readme
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def _package_imports() -> dict:
    """module -> the fastdepth_ros modules it imports (module level or inside functions)."""
    import ast

    pkg_root = ROOT / "fastdepth_ros"
    mods = {}
    for path in pkg_root.rglob("*.py"):
        name = ".".join(path.with_suffix("").relative_to(ROOT).parts)
        mods[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets.update([module] + ["%s.%s" % (module, a.name) for a in node.names])
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def test_no_import_cycles() -> None:
    """Each module's imports form a tree (replay/cli -> replay/demo -> replay/run, never back;
    training/train -> evaluate -> checkpoint, never back)."""
    graph = _package_imports()

    def reaches(start: str, goal: str, seen: set) -> bool:
        for dep in graph.get(start, ()):
            if dep == goal or (dep not in seen and not seen.add(dep) and reaches(dep, goal, seen)):
                return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, set()))
    assert not cycles, "modules on an import cycle: %s" % cycles
