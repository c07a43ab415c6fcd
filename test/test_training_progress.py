"""The training progress bar in a log file (not a terminal)."""

from __future__ import annotations

import io

from fastdepth_ros.training.progress import Progress


def test_a_log_gets_a_line_whenever_a_multiple_of_every_is_passed() -> None:
    """Device-side training reports every 50 steps; with a line due every 20 steps a log must
    still get one per report (it got none until step 100 when only exact multiples counted)."""
    out = io.StringIO()
    with Progress(300, "train", every=20, stream=out) as bar:
        bar.update(50, loss=1.0)
        assert out.getvalue().count("\n") == 1 and " 50/300 " in out.getvalue()
        bar.update(5)  # 55: no multiple of 20 passed
        assert out.getvalue().count("\n") == 1
        for _ in range(5):
            bar.update(1)  # 60
        assert out.getvalue().count("\n") == 2
        bar.update(240)  # the end
    assert " 300/300 " in out.getvalue().splitlines()[-1]
