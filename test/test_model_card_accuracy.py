"""The accuracy figures in ``models/fastdepth.json`` are the shipped model's: recomputed here
from the ONNX file on every set of the card (the official NYU sample, the 10 RealSense
office frames, the 100 held-out 7-Scenes frames and the rendered held-out rooms), metric and
median-scaled, for the shipped model and for the official model it is compared with.  The
card's sha256 ties it to the file; this ties the numbers to what the file computes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from deps import need

need("onnxruntime")
need("torch", reason="torch not installed (the evaluation's folder loader is training code)")

from fastdepth_ros.training import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "fastdepth.onnx"
CARD = json.loads((ROOT / "models" / "fastdepth.json").read_text())
SETS = CARD["accuracy"]["sets"]
KEYS = ("delta1", "delta2", "delta3", "rmse_m", "absrel")


def _close(card: dict, got: dict, what: str) -> None:
    assert got["frames"] == card["frames"], what
    for key in KEYS:
        assert got[key] == pytest.approx(card[key], abs=2e-4), (what, key, got[key], card[key])
        assert got["median_scaled"][key] == pytest.approx(card["median_scaled"][key], abs=2e-4), \
            (what, "median_scaled", key)
    assert got["focal_scale"] == pytest.approx(card["focal_scale"], rel=1e-6), what


def _spec(name: str, realdata: Path) -> str:
    """A card set name (``folder`` or ``folder[first-last]``) as a folder spec."""
    if "[" in name:
        folder, rng = name[:-1].split("[")
        return "%s:%s" % (realdata / folder, rng)
    return str(realdata / name)


def _sets(name: str, realdata: Path) -> list:
    if name == "heldout_rendered":  # the card's rendered rooms: the same seeds as export --card
        from fastdepth_ros.training.canonical import CANONICAL_FOCAL_PX

        frames = evaluate.heldout(SETS[name]["ours"]["frames"])
        return [evaluate.ValidationSet(name, frames, CANONICAL_FOCAL_PX)]
    return evaluate.validation_sets(["nyu_sample" if name.startswith("nyu") else _spec(name, realdata)])


@pytest.mark.parametrize("name", sorted(SETS))
def test_card_accuracy_is_recomputed_from_the_models(name: str, reference_model: Path, realdata: Path,
                                                      monkeypatch) -> None:
    monkeypatch.setenv("FASTDEPTH_REFERENCE_DIR", str(reference_model.parent))
    assert name in SETS, sorted(SETS)
    sets = _sets(name, realdata)
    assert [s.name for s in sets] == [name]
    ours = evaluate._scores(MODEL, 1, sets)[0][name]
    _close(SETS[name]["ours"], ours, name + " ours")
    assert CARD["accuracy"]["compared_model"] == reference_model.name
    compared = evaluate._scores(reference_model, 1, sets)[0][name]
    _close(SETS[name]["compared"], compared, name + " compared")
    assert np.isfinite(ours["delta1"])
