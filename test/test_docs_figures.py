"""docs/performance.md says what benchmarks/results/*.json say (benchmarks/update_docs.py)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

from fastdepth_ros.bench import figures

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "performance.md"
BENCH = REPO / "benchmarks" / "results" / "amd-epyc-2c.json"
SOAK = REPO / "benchmarks" / "results" / "soak-amd-epyc-2c.json"
POINTS = REPO / "benchmarks" / "results" / "points-amd-epyc-2c.json"


def _results():
    return figures.load(BENCH, REPO), figures.load(SOAK, REPO), {"points": figures.load(POINTS, REPO)}


def _blocks(text: str) -> dict:
    return dict(re.findall(r"<!-- figures:([a-z0-9-]+) -->\n(.*?)<!-- /figures -->", text, re.S))


def test_every_generated_block_matches_its_result_file() -> None:
    text = DOC.read_text()
    bench, soak, others = _results()
    now, fresh = _blocks(text), _blocks(figures.render_doc(text, bench, soak, others))
    assert set(now) == set(figures.BLOCKS) | set(figures.OWN_RESULT_BLOCKS), "each generator has its block"
    stale = sorted(name for name in now if now[name] != fresh[name])
    assert not stale, "docs/performance.md blocks %s are stale: run benchmarks/update_docs.py" % stale


def test_a_changed_result_changes_the_docs() -> None:
    """The check can fail: one measured figure changed in the result gives different text."""
    text = DOC.read_text()
    bench, soak, others = _results()
    changed = copy.deepcopy(bench)
    thirty = next(r for r in changed["e2e"] if r["mode"] == "30 Hz")
    thirty["latency_ms"]["median"] += 1.0
    assert figures.render_doc(text, changed, soak, others) != figures.render_doc(text, bench, soak, others)
    points = copy.deepcopy(others["points"])
    points["points"][0]["depth_to_msg_ms"]["median"] += 1.0
    before = figures.render_doc(text, bench, soak, others)
    assert figures.render_doc(text, bench, soak, {"points": points}) != before


def test_update_script_check_mode() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "update_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
