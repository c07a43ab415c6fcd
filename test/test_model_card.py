"""The shipped model and its card agree, and the docs' tables are the card's."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from deps import need

from fastdepth_ros.engine import CANONICAL_FOCAL_KEY
from fastdepth_ros.training import evaluate

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "fastdepth.onnx"
CARD = json.loads((ROOT / "models" / "fastdepth.json").read_text())


def test_card_describes_the_shipped_file() -> None:
    assert CARD["sha256"] == hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert CARD["size_bytes"] == MODEL.stat().st_size < 10 * 1024 * 1024


def test_shipped_model_records_its_canonical_focal_length() -> None:
    ort = need("onnxruntime")
    meta = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"]).get_modelmeta()
    value = float(meta.custom_metadata_map[CANONICAL_FOCAL_KEY])
    assert value == pytest.approx(CARD["io"]["metadata"][CANONICAL_FOCAL_KEY])
    from fastdepth_ros.training.canonical import CANONICAL_FOCAL_PX

    assert value == pytest.approx(CANONICAL_FOCAL_PX)


def test_docs_tables_are_generated_from_the_card() -> None:
    text = (ROOT / "docs" / "model.md").read_text()
    for begin, end, body in (
        (evaluate.DOCS_BEGIN, evaluate.DOCS_END, evaluate.card_markdown(CARD)),
        (evaluate.RUNS_BEGIN, evaluate.RUNS_END, evaluate.runs_markdown(CARD)),
    ):
        block = text.split(begin, 1)[1].split(end, 1)[0].strip()
        assert block == body.strip(), "docs/model.md is stale: run fastdepth-ros export --card --docs"
