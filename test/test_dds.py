"""The private-graph recipe shared by the demo, the bench and the tests (fastdepth_ros.dds)."""

from __future__ import annotations

import os
from pathlib import Path

from fastdepth_ros.dds import private_graph_env, shm_profile


def test_recipe_keys_and_defaults(monkeypatch) -> None:
    monkeypatch.setenv("ROS_LOCALHOST_ONLY", "1")
    monkeypatch.setenv("RMW_IMPLEMENTATION", "rmw_cyclonedds_cpp")
    env = private_graph_env()
    assert env["ROS_DOMAIN_ID"] == str(100 + os.getpid() % 100)
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert "ROS_LOCALHOST_ONLY" not in env  # the Humble spelling must not contradict
    assert env["RMW_IMPLEMENTATION"] == "rmw_fastrtps_cpp"  # the profile is Fast DDS XML
    assert Path(env["FASTDDS_DEFAULT_PROFILES_FILE"]) == shm_profile()
    assert shm_profile().name == "fastdds_shm.xml"
    assert os.environ["ROS_LOCALHOST_ONLY"] == "1"  # not applied: this process unchanged


def test_explicit_domain_profile_base_and_apply(monkeypatch, tmp_path: Path) -> None:
    profile = tmp_path / "p.xml"
    env = private_graph_env(domain_id=7, profile=profile, base={"KEEP": "x"})
    assert env["ROS_DOMAIN_ID"] == "7" and env["KEEP"] == "x"
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(profile)
    assert "PATH" not in env  # built on the given base only
    for key in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "RMW_IMPLEMENTATION", "FASTDDS_DEFAULT_PROFILES_FILE",
                "PYTHONUNBUFFERED"):
        monkeypatch.setenv(key, "before")  # monkeypatch restores what apply=True overwrites
    monkeypatch.setenv("ROS_LOCALHOST_ONLY", "1")
    monkeypatch.setenv("ROS_DOMAIN_ID", "0")
    private_graph_env(domain_id=42, apply=True)
    assert os.environ["ROS_DOMAIN_ID"] == "42"
    assert "ROS_LOCALHOST_ONLY" not in os.environ
