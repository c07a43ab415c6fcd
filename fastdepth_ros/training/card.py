"""Write the shipped model and its model card (``models/fastdepth.onnx`` + ``.json``).

Why generated: every number in the card (widths, params, MACs, steps, accuracy, latency) is
measured from the artefact at export time, so the card cannot drift from the model."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

from torch import nn

from . import data, render
from .evaluate import evaluate, latency_ms
from .export import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx
from .macs import measure

SYNTHETIC_NOTE = (
    "Trained from scratch (no ImageNet pretraining available offline) on procedurally "
    "rendered indoor scenes only; no real images were used. Expect a large synthetic-to-real "
    "gap: for real-world use convert the official checkpoint (docs/model.md)."
)


def ship(
    model: nn.Module,
    onnx_path: str | Path,
    train_info: dict,
    n_heldout: int = 100,
    montage: str | Path | None = None,
) -> dict:
    """Export ``model`` to ``onnx_path`` and write the card JSON beside it; returns the card."""
    onnx_path = Path(onnx_path)
    export_onnx(model, onnx_path)
    cost = measure(model)
    accuracy = evaluate(onnx_path, n_heldout=n_heldout, montage=montage)
    card = {
        "name": "fastdepth_ros synthetic-indoor FastDepth",
        "file": onnx_path.name,
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "size_bytes": onnx_path.stat().st_size,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "architecture": {
            "family": "FastDepth (Wofk et al., ICRA 2019): MobileNet-v1 encoder + NNConv5 decoder",
            **model.config(),
            "skip_sources": "decoder stages 2/3/4 <- encoder conv5/conv3/conv1 (1/8, 1/4, 1/2)",
            "encoder_activation": "ReLU6",
            "decoder_activation": "ReLU",
            "batchnorm": "folded into convolutions",
        },
        "params": cost.params,
        "macs": cost.macs,
        "io": {
            "input": {
                "name": INPUT_NAME,
                "shape": [1, 3, 224, 224],
                "dtype": "float32",
                "range": "RGB in [0, 1], no mean/std normalisation",
            },
            "output": {
                "name": OUTPUT_NAME,
                "shape": [1, 1, 224, 224],
                "dtype": "float32",
                "unit": "metres (z-depth)",
            },
            "preprocessing": "official FastDepth: 480x640 -> resize x250/480 -> centre crop "
            "228x304 -> resize 224x224",
            "opset": OPSET,
        },
        "training": {
            "data": "procedural indoor scenes rendered by fastdepth_ros.training.render "
            f"(renderer v{render.RENDERER_VERSION}, Kinect/NYU intrinsics, "
            f"{data.RENDER_SCALE:g}x 480x640 frames)",
            "synthetic_only": True,
            "pretrained_encoder": False,
            "recipe": "L1 on valid pixels, SGD momentum 0.9, weight decay 1e-4, lr 0.01 "
            "warm-up + cosine, batch 8, official augmentations",
            **train_info,
        },
        "accuracy": {
            "nyu_official_sample": accuracy.get("nyu_official_sample"),
            "heldout_rendered": accuracy.get("heldout_rendered"),
            "reference_official_pruned_on_nyu_sample": {"delta1": 0.7773, "rmse_m": 0.6180, "absrel": 0.1405},
        },
        "latency_ms_ort_cpu_224": {
            "threads_1": round(latency_ms(onnx_path, 1), 2),
            "threads_2": round(latency_ms(onnx_path, 2), 2),
        },
        "limitations": SYNTHETIC_NOTE,
    }
    onnx_path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card
