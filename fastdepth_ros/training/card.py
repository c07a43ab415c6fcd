"""Write the shipped model and its model card (``models/fastdepth.onnx`` + ``.json``).

Why generated: every number in the card (widths, params, MACs, steps, accuracy, latency) is
measured from the artefact at export time, so the card cannot drift from the model."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

from torch import nn

from ..engine import CANONICAL_FOCAL_KEY
from . import data, render
from .canonical import CANONICAL_FOCAL_PX
from .evaluate import evaluate, latency_ms, read_run_log
from .export import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx
from .macs import measure

LIMITATIONS = (
    "Learnt indoor rooms seen from a standing person's height (NYU Depth v2 through the official "
    "model, one real kitchen from 7-Scenes, one photoreal office render from Replica): expect "
    "larger errors for cameras far from that height (e.g. floor-level robots, where scale can be "
    "off by 2x), outdoors, and beyond ~6 m. Metric scale comes from a single image: without "
    "camera_info (focal scaling) a camera with a very different field of view gets a biased scale."
)
RESEARCH_ONLY = (
    "Research use only: the training data include Microsoft 7-Scenes (non-commercial research "
    "licence) and Replica (research licence); the architecture code is MIT."
)


def describe_training(train_config: dict) -> dict:
    """What the model was trained on and how, from the checkpoint's TrainConfig (folder names,
    frame counts and licences read from the folders' meta.json; no local paths)."""
    from .canonical import CANONICAL_FOCAL_PX
    from .folders import FolderSpec, RGBDFolder

    real = []
    for spec in train_config.get("real", []):
        fs = FolderSpec.parse(spec)
        entry: dict = {"folder": fs.name}
        try:
            folder = RGBDFolder(fs)
            entry.update(frames=len(folder), dataset=folder.meta.get("dataset"),
                         license=folder.meta.get("license"))
            if folder.meta.get("scaled_from"):  # a scale-folder copy: name what it copies
                entry["copy_of"] = folder.meta["scaled_from"]
        except (OSError, ValueError) as exc:
            entry["unavailable"] = str(exc)
        real.append(entry)
    teacher = train_config.get("teacher") or ""
    distill = float(train_config.get("distill_weight") or 0.0)
    imagenet = train_config.get("init") == "imagenet"
    init_from = Path(train_config.get("init_from") or "").name
    if init_from.endswith(".onnx"):
        encoder_init = (f"fine-tuned from {init_from}: the official FastDepth (Wofk et al., MIT), which its "
                        "authors trained from the ImageNet MobileNet-v1 encoder on NYU Depth v2; "
                        "BatchNorm statistics frozen as loaded")
    elif imagenet:
        encoder_init = ("ImageNet MobileNet-v1 1.0/224 (TF-slim, Apache-2.0; fastdepth-ros imagenet-npz); "
                        "pruned "
                        "widths keep the channels with the largest BN-folded filter L2 norm")
    else:
        encoder_init = "random (He), no pretraining"
    wise = train_config.get("wise_ft")
    share = float(train_config.get("render_share", 1.0)) if real else 1.0
    return {
        "encoder_init": encoder_init,
        "init_from_checkpoint": init_from or None,
        "weight_interpolation": (
            f"WiSE-FT (Wortsman et al., CVPR 2022): {1 - wise['alpha']:g} x {wise['start']} + "
            f"{wise['alpha']:g} x the fine-tune ({wise['tuned']}); alpha: "
            f"{wise.get('alpha_chosen_by', 'not recorded')}" if wise else None),
        "data": {
            "rendered_share_of_batches": share,
            "rendered": f"procedural indoor rooms (fastdepth_ros.training.render v{render.RENDERER_VERSION}, "
            f"NYU Kinect intrinsics, {data.RENDER_SCALE:g}x 480x640)" if share > 0 else None,
            "real": real,
        },
        "distillation": (
            {"teacher": Path(teacher).name, "weight": distill,
             "on": ("real and rendered frames" if train_config.get("distill_rendered") and share > 0
                    else "real frames")
             + ": L1 to the teacher's depth on the same augmented input, beside L1 to the ground truth"}
            if teacher and distill > 0 else None
        ),
        "canonical_focal_px": CANONICAL_FOCAL_PX,
        "recipe": f"L1 on valid pixels, {train_config.get('optimizer', 'sgd').upper()} "
        "(momentum 0.9 for SGD), "
        "weight decay 1e-4, lr "
        f"{train_config.get('lr', 0.01)} warm-up + cosine, batch {train_config.get('batch_size', 8)}, "
        "official augmentations, targets in the canonical camera",
        "seed": train_config.get("seed"),
        "planned_steps": train_config.get("steps"),
    }


def ship(
    model: nn.Module,
    onnx_path: str | Path,
    train_info: dict,
    n_heldout: int = 100,
    montage: str | Path | None = None,
    train_config: dict | None = None,
    folders: list | tuple = (),
    compare: str | Path | None = None,
    run_logs: dict | None = None,
) -> dict:
    """Export ``model`` to ``onnx_path`` and write the card JSON beside it; returns the card.

    Accuracy is measured on the official NYU sample, each RGB-D ``folders`` spec and
    ``n_heldout`` rendered scenes, with ``compare`` (e.g. the official reference model) on
    the same frames beside it, and the latency of both in the same run.  ``run_logs``
    (recipe name -> eval.jsonl) records how each training recipe validated along the way."""
    onnx_path = Path(onnx_path)
    export_onnx(model, onnx_path)
    cost = measure(model)
    accuracy = evaluate(onnx_path, n_heldout=n_heldout, montage=montage, folders=folders, compare=compare)
    sets = [k for k, v in accuracy.items() if isinstance(v, dict) and "delta1" in v]
    latency = {f"threads_{t}": round(latency_ms(onnx_path, t), 2) for t in (1, 2)}
    card = {
        "name": "fastdepth_ros FastDepth",
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
                "unit": "metres (z-depth) in the canonical camera; the node converts to the "
                "camera's focal length (focal_scaling)",
            },
            "metadata": {CANONICAL_FOCAL_KEY: CANONICAL_FOCAL_PX},
            "preprocessing": "official FastDepth: 480x640 -> resize x250/480 -> centre crop "
            "228x304 -> resize 224x224",
            "opset": OPSET,
        },
        "training": {
            **(describe_training(train_config) if train_config else {}),
            **train_info,
            "recipe_runs": {name: read_run_log(path) for name, path in (run_logs or {}).items()},
        },
        "accuracy": {
            "method": "official val transform; metric scores after focal scaling to each set's camera "
            "(as the node does for models with canonical metadata); median_scaled = per-image median "
            "scaling (shape only)",
            "sets": {k: {"ours": accuracy[k],
                         "compared": (accuracy.get("compare") or {}).get(k)} for k in sets},
            "compared_model": (accuracy.get("compare") or {}).get("model") and Path(compare).name,
        },
        "latency_ms_ort_cpu_224": latency,
        "license": RESEARCH_ONLY,
        "limitations": LIMITATIONS,
    }
    if compare is not None and str(compare).endswith(".onnx"):
        card["compared_latency_ms_ort_cpu_224"] = {
            f"threads_{t}": round(latency_ms(compare, t), 2) for t in (1, 2)
        }
    onnx_path.with_suffix(".json").write_text(json.dumps(card, indent=2, default=str) + "\n")
    return card
