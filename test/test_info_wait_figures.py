"""docs/performance.md's camera_info-wait table is the rendering of the committed bench
result (``python -m fastdepth_ros.bench.info_wait --table``), not hand-copied figures."""

from __future__ import annotations

import json
from pathlib import Path

from fastdepth_ros.bench.info_wait import CASES, markdown_table

REPO = Path(__file__).resolve().parent.parent
RESULT = REPO / "benchmarks" / "results" / "info_wait-amd-epyc-2c.json"


def test_the_doc_table_renders_the_committed_result() -> None:
    report = json.loads(RESULT.read_text())
    assert [row["case"] for row in report["cases"]] == [case[0] for case in CASES]
    assert report["rate_hz"] == 30.0 and all("error" not in row for row in report["cases"])
    assert markdown_table(report) in (REPO / "docs" / "performance.md").read_text()
