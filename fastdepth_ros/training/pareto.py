"""The latency-accuracy Pareto table and plot of a NetAdapt run (:mod:`.netadapt`).

Rows: the unpruned parent, the official pruned widths (the parent pruned to ``model.PRUNED``
by the same magnitude criterion and long-term fine-tuned the same way), the long-term
fine-tuned NetAdapt points, and each search iteration's short-term point (lighter, since it
saw only ``budget`` fine-tuning steps).  Latency on the x axis is *measured* whole-network
latency, all models in one interleaved rotation (the minimum over rounds), so a load spike
from a neighbour cannot favour one model; the table's prediction is listed beside it.
Accuracy: δ1 averaged over the held-out validation folders, metric and median-scaled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .latency import LatencyTable, measure_widths
from .model import Widths


def _widths(row: dict) -> Widths:
    return Widths(tuple(row["widths"]["encoder"]), tuple(row["widths"]["decoder"]))


def mean_delta1(row: dict) -> tuple[float, float]:
    """(δ1, δ1 median-scaled), each the mean over the row's validation folders."""
    val = row["val"].values()
    return (float(np.mean([v["delta1"] for v in val])), float(np.mean([v["delta1_scaled"] for v in val])))


def measure_rows(table: LatencyTable, rows: list[dict], rounds: int = 3) -> None:
    """Set ``measured_ms`` of every row: the minimum over ``rounds`` interleaved rounds."""
    best: dict[int, float] = {}
    for _ in range(rounds):
        for i, row in enumerate(rows):
            ms = measure_widths(table, _widths(row))
            best[i] = min(best.get(i, ms), ms)
    for i, row in enumerate(rows):
        row["measured_ms"] = round(best[i], 4)


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For (latency, accuracy) points: True where no other point is at least as fast and at
    least as accurate and strictly better in one of the two."""
    out = []
    for i, (t, a) in enumerate(points):
        dominated = any(
            (t2 <= t and a2 >= a) and (t2 < t or a2 > a) for j, (t2, a2) in enumerate(points) if j != i
        )
        out.append(not dominated)
    return out


def build(final_rows: list[dict], log: dict) -> dict:
    """The table: final rows + the short-term iteration points, with the ``measured_ms`` they
    carry (:func:`report` measures them all in one rotation)."""
    rows = []
    for r in final_rows:
        d1, d1s = mean_delta1(r)
        rows.append(
            {
                "label": r["label"],
                "kind": r.get("kind", "netadapt"),
                "widths": r["widths"],
                "predicted_ms": r["predicted_ms"],
                "measured_ms": r.get("measured_ms"),
                "delta1": d1,
                "delta1_scaled": d1s,
                "val": r["val"],  # per folder
                "finetune_steps": r.get("steps", 0),
            }
        )
    for s in log["iterations"][1:]:
        d1, d1s = mean_delta1(s)
        rows.append(
            {
                "label": f"iter{s['iteration']:03d} (short-term)",
                "kind": "short-term",
                "widths": s["widths"],
                "predicted_ms": s["predicted_ms"],
                "measured_ms": s.get("measured_ms"),
                "delta1": d1,
                "delta1_scaled": d1s,
                "val": s["val"],
                "chosen": s.get("chosen"),
            }
        )
    final = [r for r in rows if r["kind"] != "short-term" and r["measured_ms"] is not None]
    front = pareto_front([(r["measured_ms"], r["delta1"]) for r in final])
    for r, f in zip(final, front):
        r["pareto"] = f
    return {"table": log.get("table"), "target_ms": log.get("target_ms"), "rows": rows}


def markdown(result: dict) -> str:
    lines = [
        "| model | measured ms | predicted ms | δ1 | δ1 median-scaled | Pareto | encoder / decoder widths |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        w = r["widths"]
        ms = r["measured_ms"]
        lines.append(
            f"| {r['label']} | {'-' if ms is None else f'{ms:.2f}'} | {r['predicted_ms']:.2f} | "
            f"{r['delta1']:.3f} | {r['delta1_scaled']:.3f} | {'yes' if r.get('pareto') else ''} | "
            f"{','.join(map(str, w['encoder']))} / {','.join(map(str, w['decoder']))} |"
        )
    return "\n".join(lines)


STYLE = {  # kind -> (marker, colour, size, label)
    "parent": ("s", "black", 70, "parent (where the search started)"),
    "official": ("D", "tab:red", 70, "official pruned widths, same fine-tune"),
    "netadapt": ("*", "tab:blue", 140, "NetAdapt, long-term fine-tuned"),
    "short-term": ("o", "tab:cyan", 20, "NetAdapt iterations, short-term"),
}


def plot(result: dict, path: str | Path) -> Path:
    """Two panels (δ1 metric, δ1 median-scaled) against measured latency, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = "ms" if (result.get("table") or {}).get("measure") != "macs" else "nominal ms (MACs)"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    folders = sorted({name for r in result["rows"] for name in (r.get("val") or {})})
    over = f"δ1: mean over {', '.join(folders)}" if len(folders) > 1 else f"δ1: {''.join(folders)}"
    for ax, key, title in (
        (axes[0], "delta1", "δ1 (metric)"),
        (axes[1], "delta1_scaled", "δ1 (median-scaled)"),
    ):
        for kind, (marker, colour, size, label) in STYLE.items():
            pts = [r for r in result["rows"] if r["kind"] == kind and r["measured_ms"] is not None]
            if not pts:
                continue
            ax.scatter(
                [r["measured_ms"] for r in pts],
                [r[key] for r in pts],
                marker=marker,
                c=colour,
                s=size,
                label=label,
                zorder=3 if kind != "short-term" else 2,
            )
        final = [
            (r["measured_ms"], r[key])
            for r in result["rows"]
            if r["kind"] != "short-term" and r["measured_ms"] is not None
        ]
        front = sorted(pt for pt, on in zip(final, pareto_front(final)) if on)
        if len(front) > 1:
            ax.plot(*zip(*front), color="grey", lw=0.8, ls="--", zorder=1)
        ax.set_xlabel(f"measured latency ({unit})")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    table = result.get("table") or {}
    if table.get("measure") == "macs":
        title = "FastDepth NetAdapt with the MAC proxy table"
    else:
        title = (
            f"FastDepth NetAdapt: ONNX Runtime {table.get('provider')}, {table.get('threads')} threads, "
            f"{table.get('machine')}"
        )
    fig.suptitle(f"{title}\n{over}", fontsize=10)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write(result: dict, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "pareto.json", "md": out / "pareto.md", "png": out / "pareto.png"}
    paths["json"].write_text(json.dumps(result, indent=1))
    paths["md"].write_text(markdown(result) + "\n")
    plot(result, paths["png"])
    return paths


def report(search, rows: list[dict], rounds: int = 3, plot: str | Path | None = None) -> dict:
    """Measure the final rows and the search's points, build the table from them and the log
    (:class:`.netadapt.Search`), write it beside the log, print it, copy the PNG to ``plot``."""
    import shutil
    from dataclasses import asdict

    log = search.write_log()
    # the short-term points too, in the same rotation: their measurement during the search came
    # from whatever moment it ran in (here 10.8 and 11.2 ms for networks that take 7-8)
    measure_rows(search.table, rows + log["iterations"][1:], rounds=rounds)
    result = build(rows, log)
    result["config"] = asdict(search.cfg)
    paths = write(result, search.dir)
    print(markdown(result))
    if plot:
        shutil.copyfile(paths["png"], plot)
    print(f"wrote {', '.join(str(p) for p in paths.values())}", flush=True)
    return result
