"""``need(module)``: ``pytest.importorskip`` that fails instead under CI (env ``CI`` set).

Every module the README's test command installs (rclpy, onnx, onnxruntime, torch, yaml ...)
is a dependency of the suite: a venv that lost one would otherwise skip every test that
uses it and still exit 0.  A contributor's partial venv (no training extras) keeps the skip.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest


def need(module: str, reason: str = "") -> Any:
    """The imported ``module``; else a skip with ``reason`` (a failure when ``CI`` is set)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = "%s (%s)" % (reason or "%s not installed" % module, exc)
        if os.environ.get("CI"):
            pytest.fail("CI: a dependency of the test command is missing: " + message, pytrace=False)
        pytest.skip(message, allow_module_level=True)


def missing(message: str) -> None:
    """Skip for a missing part of the test command's install (a failure when ``CI`` is set)."""
    if os.environ.get("CI"):
        pytest.fail("CI: " + message, pytrace=False)
    pytest.skip(message)
