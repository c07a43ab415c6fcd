"""launch/depth.launch.py and config/fastdepth.yaml.

``launch``/``launch_ros`` are not installable from PyPI here, so the launch description is
only built where they exist (apt ROS); the file is still parsed and checked everywhere,
and the YAML is checked against the node's declared parameters.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
from deps import need

REPO = Path(__file__).resolve().parent.parent
LAUNCH_FILE = REPO / "launch" / "depth.launch.py"
PARAMS_FILE = REPO / "config" / "fastdepth.yaml"
ARGUMENTS = {"model", "namespace", "image", "camera_info", "params_file", "use_sim_time", "lifecycle"}


def _declared_arguments(tree: ast.AST) -> set:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument":
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
    return names


def test_launch_file_is_valid_python_with_the_documented_arguments() -> None:
    source = LAUNCH_FILE.read_text()
    tree = ast.parse(source, filename=str(LAUNCH_FILE))
    compile(tree, str(LAUNCH_FILE), "exec")
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    assert _declared_arguments(tree) == ARGUMENTS
    assert '"fastdepth.yaml"' in source and '"depth_node"' in source and '"depth_lifecycle_node"' in source


def test_params_yaml_matches_the_node_parameters() -> None:
    yaml = need("yaml")
    need("rclpy", reason="rclpy not installed")
    from fastdepth_ros.node import PARAMETERS

    data = yaml.safe_load(PARAMS_FILE.read_text())
    assert list(data) == ["/**"], "the wildcard applies under any namespace and node name"
    params = flatten(data["/**"]["ros__parameters"])
    assert set(params) == set(PARAMETERS)
    for name, value in params.items():
        default = PARAMETERS[name][0]
        # ROS 2 refuses an int for a double parameter: floats must be written as floats
        assert type(value) is type(default), (name, value, default)
        # the shipped file documents the defaults: running without it behaves the same
        assert value == default, (name, value, default)


def flatten(params: dict, prefix: str = "") -> dict:
    """ROS 2 parameter YAML nests dotted names (``diagnostic_updater: {period: 1.0}``)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(flatten(value, prefix + key + "."))
        else:
            out[prefix + key] = value
    return out


def test_launch_and_config_are_installed() -> None:
    from fastdepth_ros.resources import share_dir

    share = share_dir()
    assert (share / "launch" / "depth.launch.py").is_file()
    assert (share / "config" / "fastdepth.yaml").is_file()
    assert (share / "config" / "fastdds_shm.xml").is_file()


def test_launch_description_builds() -> None:
    pytest.importorskip(
        "launch_ros", reason="launch/launch_ros not installable from PyPI here; tested on apt ROS"
    )
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location("depth_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {a.name for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert declared == ARGUMENTS


def test_fastdds_profile_is_shm_only_with_16mib_segments() -> None:
    import xml.etree.ElementTree as ET

    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(REPO / "config" / "fastdds_shm.xml").getroot()
    desc = root.find("d:profiles/d:transport_descriptors/d:transport_descriptor", ns)
    assert desc.findtext("d:type", namespaces=ns) == "SHM"
    assert int(desc.findtext("d:segment_size", namespaces=ns)) == 16 * 1024 * 1024
    participant = root.find("d:profiles/d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    rtps = participant.find("d:rtps", ns)
    assert rtps.findtext("d:useBuiltinTransports", namespaces=ns) == "false"
    assert rtps.findtext("d:userTransports/d:transport_id", namespaces=ns) == desc.findtext(
        "d:transport_id", namespaces=ns
    )
