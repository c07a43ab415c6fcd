"""Evaluate a model (ONNX or our .pth) on the official NYU sample and held-out rendered scenes.

Why both: the rendered scenes measure what the model learned from its own training
distribution; the single official NYU Depth v2 sample (already preprocessed by the official
code, read from the reference folder, never copied) is the only real-world check available
offline and shows the synthetic-to-real gap honestly.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..metrics import MetricsAccumulator, compute_metrics, median_scaled
from ..resources import REFERENCE_ENV, ReferenceDataError, reference_dir

Predictor = Callable[[np.ndarray], np.ndarray]  # rgb float32 1x3xHxW [0,1] -> depth HxW m


def onnx_predictor(path: str | Path, threads: int = 1) -> Predictor:
    from .export import INPUT_NAME, OUTPUT_NAME, onnx_session

    sess = onnx_session(path, threads)

    def predict(x: np.ndarray) -> np.ndarray:
        return sess.run([OUTPUT_NAME], {INPUT_NAME: x.astype(np.float32)})[0][0, 0]

    return predict


def torch_predictor(path_or_model) -> Predictor:
    import torch

    from .checkpoint import load_model

    model = load_model(path_or_model)[0] if isinstance(path_or_model, str | Path) else path_or_model
    model.eval()
    device = next(model.parameters()).device  # a model training on a GPU is scored there

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x.astype(np.float32)).to(device))[0, 0].cpu().numpy()

    return predict


def predictor_for(path_or_model, threads: int = 1) -> Predictor:
    """ONNX Runtime for ``.onnx`` files, PyTorch for our ``.pth`` checkpoints and torch models."""
    if _is_onnx(path_or_model):
        return onnx_predictor(path_or_model, threads)
    return torch_predictor(path_or_model)


def official_sample() -> tuple[np.ndarray, np.ndarray]:
    """(rgb 224x224x3 float [0,1], depth 224x224 m) of the official NYU sample in
    FASTDEPTH_REFERENCE_DIR; ReferenceDataError when it is not named or not there."""
    d = reference_dir() / "official_sample"
    if not (d / "rgb.npy").exists():
        raise ReferenceDataError("no official NYU sample in %s (FASTDEPTH_REFERENCE_DIR): expected "
                                 "official_sample/rgb.npy and depth.npy" % d.parent)
    return np.load(d / "rgb.npy"), np.load(d / "depth.npy")


def heldout(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """First ``n`` held-out rendered scenes after the official val transform."""
    from . import data

    out = []
    for i in range(n):
        rgb, depth = data.load_or_render(data.HELDOUT_SEED0 + i)
        x, d = data.transform(rgb, depth, None)
        out.append((x.permute(1, 2, 0).numpy(), d[0].numpy()))
    return out


def run(predict: Predictor, samples: list[tuple[np.ndarray, np.ndarray]]) -> tuple[dict, list[np.ndarray]]:
    """Mean metrics over samples and the predictions, plus ``median_scaled``: the same metrics
    after per-image median scaling (structure without the global scale, see metrics)."""
    preds = [predict(np.ascontiguousarray(rgb.transpose(2, 0, 1))[None]) for rgb, _ in samples]
    return score(zip(preds, (gt for _, gt in samples))), preds


def score(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean metrics of (prediction, ground truth) pairs, and ``median_scaled``: the same after
    per-image median scaling."""
    acc, scaled = MetricsAccumulator(), MetricsAccumulator()
    for pred, gt in pairs:
        acc.add(compute_metrics(pred, gt))
        scaled.add(compute_metrics(median_scaled(pred, gt), gt))
    ms = scaled.mean().as_dict()
    ms.pop("valid_pixels")
    return {"frames": acc.frames, **acc.mean().as_dict(), "median_scaled": ms}


def latency_ms(path: str | Path, threads: int = 1, runs: int = 50) -> float:
    """Median ONNX Runtime CPU latency of one 224x224 inference."""
    predict = onnx_predictor(path, threads)
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    for _ in range(5):
        predict(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        predict(x)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


# --------------------------------------------------------------------------- validation sets
class ValidationSet:
    """One set's val-transformed frames, loaded once, and its camera's focal length in
    model-input pixels (canonical predictions are converted to it, as the node does)."""

    def __init__(self, name: str, samples: list, focal_model_px: float) -> None:
        self.name, self.samples = name, samples
        self.focal_px = focal_model_px


def validation_sets(specs: list) -> list[ValidationSet]:
    """Each ``PATH[:FIRST-LAST]`` spec as a :class:`ValidationSet`; ``nyu_sample`` names the
    official NYU sample of the reference folder (already val-transformed, canonical camera)."""
    from .canonical import CANONICAL_FOCAL_PX
    from .folders import FolderSpec, RGBDFolder

    out = []
    for spec in specs:
        if spec == "nyu_sample":  # asked for by name: missing reference data is an error
            out.append(ValidationSet("nyu_official_sample", [official_sample()], CANONICAL_FOCAL_PX))
            continue
        folder = RGBDFolder(FolderSpec.parse(spec))
        samples = [folder.val_sample(i) for i in range(len(folder))]
        out.append(ValidationSet(folder.name, samples, folder.focal_model_px()))
    return out


def evaluate_sets(model, sets: list[ValidationSet]) -> dict:
    """``{set: {delta1, rmse_m, absrel, ..., median_scaled: {...}}}`` for a torch model during
    training (scored like any model by :func:`_scores`; its train/eval mode is restored)."""
    was_training = model.training
    try:
        return _scores(model, 1, sets)[0]
    finally:
        model.train(was_training)


def _is_onnx(path_or_model) -> bool:
    return isinstance(path_or_model, (str, Path)) and str(path_or_model).endswith(".onnx")


def model_canonical_focal_px(path_or_model) -> float | None:
    """The canonical focal length a model predicts depth for: from an ONNX file's metadata (as
    the node reads it), always the canonical one for our .pth checkpoints and torch models."""
    if not _is_onnx(path_or_model):
        from .canonical import CANONICAL_FOCAL_PX

        return CANONICAL_FOCAL_PX
    from ..engine import _canonical_focal_px
    from .export import onnx_session

    return _canonical_focal_px(onnx_session(path_or_model))


def _eval_sets(folders, nyu: bool, n_heldout: int) -> list:
    from .canonical import CANONICAL_FOCAL_PX

    if nyu and not os.environ.get(REFERENCE_ENV):
        nyu = False  # eval's default NYU frame: only where the reference data is named (else null)
    sets = validation_sets((["nyu_sample"] if nyu else []) + list(folders))
    if n_heldout > 0:
        sets.append(ValidationSet("heldout_rendered", heldout(n_heldout), CANONICAL_FOCAL_PX))
    return sets


def _scores(path_or_model, threads: int, sets: list) -> tuple[dict, dict]:
    """Metrics and predictions of one model on each set, converted to each set's camera the way
    the node does it (focal scaling for models that record a canonical focal length)."""
    predict = predictor_for(path_or_model, threads)
    canonical = model_canonical_focal_px(path_or_model)
    scores, preds = {}, {}
    for vs in sets:
        k = vs.focal_px / canonical if canonical else 1.0
        metrics, p = run(lambda x, k=k: predict(x) * k, vs.samples)
        scores[vs.name] = {**metrics, "focal_scale": k}
        preds[vs.name] = p
    return scores, preds


def evaluate(
    model_path: str | Path,
    n_heldout: int = 100,
    montage: str | Path | None = None,
    threads: int = 1,
    folders: list | tuple = (),
    compare: str | Path | None = None,
    nyu: bool = True,
    montage_per_set: int = 3,
) -> dict:
    """Metrics (metric and median-scaled) per evaluation set: the official NYU sample (if the
    reference folder is present), each RGB-D folder spec (official val transform) and
    ``n_heldout`` rendered scenes.  ``compare``: a second model on the same frames, reported
    beside the first.  Optional montage: RGB | prediction(s) | ground truth | error."""
    sets = _eval_sets(folders, nyu, n_heldout)
    scores, preds = _scores(model_path, threads, sets)
    result: dict = {"model": str(model_path), **scores}
    if nyu and "nyu_official_sample" not in scores:
        result["nyu_official_sample"] = None
    if "heldout_rendered" in result:
        result["heldout_rendered"]["first_seed"] = _heldout_seed0()
    other_preds = None
    if compare is not None:
        other, other_preds = _scores(compare, threads, sets)
        result["compare"] = {"model": str(compare), **other}
    if montage is not None and sets:
        rows = []
        for vs in sets:
            for i in sorted(set(np.linspace(0, len(vs.samples) - 1, montage_per_set).round().astype(int))):
                rgb, gt = vs.samples[i]
                shown = [preds[vs.name][i]] + ([other_preds[vs.name][i]] if other_preds else [])
                rows.append((rgb, shown, gt))
        write_montage(montage, rows)
        result["montage"] = str(montage)
    return result


def _heldout_seed0() -> int:
    from . import data

    return data.HELDOUT_SEED0


def format_table(result: dict) -> str:
    """A plain-text table of the headline metrics, the compared model's beside (``|``)."""
    models = [result] + ([result["compare"]] if result.get("compare") else [])
    head = f"{'delta1':>8}{'d1 scaled':>10}{'rmse_m':>8}{'absrel':>8}"
    lines = [f"{'set':<30}{'frames':>7}" + " | ".join(head for _ in models)]
    lines.append(f"{'':<37}" + " | ".join(f"{Path(m['model']).name[:34]:>34}" for m in models))
    for key, m in result.items():
        if not isinstance(m, dict) or "delta1" not in m:
            continue
        cells = []
        for model in models:
            s = model.get(key) or {}
            ms = s.get("median_scaled", {})
            cells.append(f"{s.get('delta1', float('nan')):>8.3f}{ms.get('delta1', float('nan')):>10.3f}"
                         f"{s.get('rmse_m', float('nan')):>8.3f}{s.get('absrel', float('nan')):>8.3f}")
        lines.append(f"{key[:30]:<30}{m['frames']:>7}" + " | ".join(cells))
    return "\n".join(lines)


DOCS_BEGIN = "<!-- accuracy table from models/fastdepth.json: fastdepth-ros export --card --docs -->"
DOCS_END = "<!-- end of accuracy table -->"


def card_markdown(card: dict) -> str:
    """The model card's accuracy as a markdown table: each set, ours beside the compared model."""
    acc = card["accuracy"]
    ours_name = card.get("file", "ours")
    other_name = acc.get("compared_model") or "compared"
    lines = [
        "| set | frames | model | δ1 | RMSE (m) | AbsRel | δ1 median-scaled | AbsRel median-scaled |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, pair in acc["sets"].items():
        for label, m in ((ours_name, pair.get("ours")), (other_name, pair.get("compared"))):
            if not m:
                continue
            ms = m.get("median_scaled", {})
            nan = float("nan")
            lines.append(
                f"| {name} | {m['frames']} | {label} | {m['delta1']:.3f} | {m['rmse_m']:.3f} | "
                f"{m['absrel']:.3f} | {ms.get('delta1', nan):.3f} | {ms.get('absrel', nan):.3f} |"
            )
    ours_ms, other_ms = card.get("latency_ms_ort_cpu_224"), card.get("compared_latency_ms_ort_cpu_224")
    if ours_ms:
        line = (f"\nLatency, ONNX Runtime CPU at 224×224, medians of the same export run (1 / 2 threads): "
                f"{ours_ms['threads_1']} / {ours_ms['threads_2']} ms")
        if other_ms:
            line += f" ({other_name}: {other_ms['threads_1']} / {other_ms['threads_2']} ms)"
        lines.append(line + ".")
    return "\n".join(lines)


RUNS_BEGIN = "<!-- recipe table from models/fastdepth.json: fastdepth-ros export --card --run-log --docs -->"
RUNS_END = "<!-- end of recipe table -->"


def read_run_log(path: str | Path) -> list[dict]:
    """A training run's eval.jsonl reduced to the validation figures the card keeps."""
    out = []
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        sets = {
            k: {"delta1": round(v["delta1"], 4), "absrel": round(v["absrel"], 4),
                "delta1_median_scaled": round(v["median_scaled"]["delta1"], 4)}
            for k, v in record.items() if isinstance(v, dict) and "delta1" in v
        }
        out.append({"step": record["step"], **sets})
    return out


def runs_markdown(card: dict) -> str:
    """Validation of each training recipe at the steps it was evaluated (δ1 / median-scaled δ1)."""
    runs = card.get("training", {}).get("recipe_runs") or {}
    names = sorted({k for evals in runs.values() for e in evals for k in e if k != "step"})
    lines = ["| recipe | step | " + " | ".join(f"{n}: δ1 / scaled" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for recipe, evals in runs.items():
        for e in evals:
            cells = [f"{e[n]['delta1']:.3f} / {e[n]['delta1_median_scaled']:.3f}" if n in e else ""
                     for n in names]
            lines.append(f"| {recipe} | {e['step']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _replace_block(text: str, begin: str, end: str, body: str, path: Path) -> str:
    if begin not in text or end not in text:
        raise ValueError(f"{path} has no generated-table markers ({begin!r})")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def update_docs(card: dict, doc_path: str | Path) -> None:
    """Replace the generated tables (accuracy; recipes, if the doc has that block) in ``doc_path``."""
    path = Path(doc_path)
    text = _replace_block(path.read_text(), DOCS_BEGIN, DOCS_END, card_markdown(card), path)
    if RUNS_BEGIN in text:
        text = _replace_block(text, RUNS_BEGIN, RUNS_END, runs_markdown(card), path)
    path.write_text(text)


# --------------------------------------------------------------------------- montage
def _colorize(depth_m: np.ndarray, max_m: float) -> np.ndarray:
    """Depth -> RGB uint8 with a simple perceptual-ish ramp (near: yellow, far: dark blue)."""
    t = np.clip(depth_m / max_m, 0, 1)
    r = np.clip(1.5 - 2.0 * t, 0, 1)
    g = np.clip(1.2 - 1.4 * np.abs(t - 0.35) * 2, 0, 1)
    b = np.clip(0.3 + 1.2 * t, 0, 1) * (1 - 0.5 * t)
    rgb = np.stack([r, g, b], -1)
    rgb[depth_m <= 0] = 0
    return (rgb * 255).astype(np.uint8)


def montage_rows(rows: list[tuple[np.ndarray, np.ndarray | list, np.ndarray]]) -> np.ndarray:
    """RGB | prediction(s) | ground truth | |error of the first| per row, one shared depth
    scale per row."""
    out = []
    for rgb, preds, gt in rows:
        preds = preds if isinstance(preds, list) else [preds]
        pred = preds[0]
        max_m = float(max(gt.max(), 1.0))
        err = np.abs(pred - gt) * (gt > 0)
        err_rgb = (np.clip(err / max(0.25 * max_m, 1e-3), 0, 1)[..., None] * np.array([255, 80, 40])).astype(
            np.uint8
        )
        rgb8 = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
        shown = [_colorize(p, max_m) for p in preds]
        out.append(np.concatenate([rgb8, *shown, _colorize(gt, max_m), err_rgb], 1))
    return np.concatenate(out, 0)


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Minimal PNG writer (8-bit RGB) so evaluation needs no imaging library."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
        )

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(png)


def write_montage(path: str | Path, rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    write_png(path, montage_rows(rows))


def dumps(result: dict) -> str:
    return json.dumps(result, indent=2, sort_keys=True)
