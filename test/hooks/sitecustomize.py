"""Test hook for node processes started with ``ros_harness.NodeProcess(hold_loads=True)``
(``PYTHONPATH`` = this folder, ``FDTEST_HOLD_LOADS=1``): a model load the test controls.

``onnxruntime.InferenceSession(path)`` waits while a file ``<path>.hold`` exists, and
creates ``<path>.waiting`` when it starts waiting.  A test then knows for certain that a
load is in progress (instead of guessing with a big model and a sleep), checks what the
node does meanwhile, and releases the load by deleting the ``.hold`` file.  Nothing
changes for a model without a ``.hold`` file, nor for a process without the variable.
"""

import os
import sys
import time

_HOLD_ENV = "FDTEST_HOLD_LOADS"


def _hold(path) -> None:
    if not isinstance(path, (str, bytes, os.PathLike)):
        return
    path = os.fsdecode(path)
    if not os.path.exists(path + ".hold"):
        return
    with open(path + ".waiting", "w"):
        pass
    while os.path.exists(path + ".hold"):
        time.sleep(0.01)


def _patch(module) -> None:
    base = module.InferenceSession

    class HeldInferenceSession(base):  # type: ignore[misc, valid-type]
        def __init__(self, path_or_bytes, *args, **kwargs):
            _hold(path_or_bytes)
            super().__init__(path_or_bytes, *args, **kwargs)

    module.InferenceSession = HeldInferenceSession


class _Finder:
    """Patches onnxruntime right after its import (importing it here would slow every start)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "onnxruntime":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module) -> None:
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


if os.environ.get(_HOLD_ENV):
    sys.meta_path.insert(0, _Finder())
