"""The figures of docs/performance.md, generated from the bench's result files.

Every number in a generated block of the docs comes from ``benchmarks/results/*.json``
through this module, so the text cannot drift from the measurement: rerun
``benchmarks/update_docs.py`` after a new bench run, and ``test/test_docs_figures.py``
fails while a block differs from what its result file gives.

A block sits between ``<!-- figures:NAME -->`` and ``<!-- /figures -->``; NAME picks the
function in :data:`BLOCKS`, which gets the bench result and the soak result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .report import markdown_table

Result = Dict[str, object]

#: the paper's Jetson TX2 figures (Wofk et al. 2019, Table I): quoted, not measured here
PAPER_ROWS = (
    ("Jetson TX2 GPU (paper)", "TVM-compiled", "5.6", "178"),
    ("Jetson TX2 CPU (paper)", "TVM-compiled", "37", "27"),
)
ORT_CPU = "CPUExecutionProvider"
NO_SPIN = "CPU, no spin"
EAGER = "torch-eager"


def _ms(v: Optional[float]) -> str:
    return "-" if v is None else "%.2f" % v


def _pct(fraction: Optional[float]) -> str:
    return "-" if fraction is None else "%d %%" % round(100 * fraction)


def _latency(bench: Result, model: str, runtime: str, threads: int) -> Optional[dict]:
    for row in bench["latency"]:  # type: ignore[union-attr]
        if (row["model"], row["runtime"], row["threads"]) == (model, runtime, threads):
            return row
    return None


def _e2e_rows(bench: Result) -> List[dict]:
    return [r for r in bench.get("e2e", []) if "error" not in r]  # type: ignore[union-attr]


def _e2e(bench: Result, mode: str) -> dict:
    return next(r for r in _e2e_rows(bench) if r["mode"] == mode)


def _e2e_model(bench: Result) -> str:
    return str(bench["settings"]["e2e_model"])  # type: ignore[index]


def _mode_label(mode: str) -> str:
    return "30 Hz relay (transport floor, no model)" if "relay" in mode else mode


def machine(bench: Result, soak: Result) -> str:
    m, load = bench["machine"], bench["loadavg_by_phase"]
    return (
        "Machine: **%s, %d usable cores (%s), ORT %s, numpy %s, torch %s**; load average %.2f at "
        "the start, %.2f during model-only runs, %.2f during the node runs (`%s`, %s UTC)."
        % (
            m["cpu_model"],
            m["usable_cpus"],
            " ".join(m["flags"]),
            m["onnxruntime"],
            m["numpy"],
            m["torch"],
            m["loadavg_start"][0],
            load["latency"][0],
            load["e2e"][0],
            bench["_file"],
            bench["started_utc"],
        )
    )


def paper_vs_package(bench: Result, soak: Result) -> str:
    rows: List[Sequence[object]] = [list(r) for r in PAPER_ROWS]
    label = "%s (this run), %d cores" % (bench["machine"]["cpu_model"], bench["machine"]["usable_cpus"])
    for runtime, threads, what in (
        (ORT_CPU, 2, "ONNX Runtime CPU, 2 threads, ORT's default spinning (`ort_allow_spinning:=true`)"),
        (NO_SPIN, 2, "ONNX Runtime CPU, 2 threads, spinning off (the node's default)"),
        (ORT_CPU, 1, "ONNX Runtime CPU, 1 thread"),
    ):
        row = _latency(bench, "reference", runtime, threads)
        if row is None:
            continue
        s = row["stats_ms"]
        rows.append(
            [
                label,
                what,
                "%s (p90 %s, p99 %s)" % (_ms(s["median"]), _ms(s["p90"]), _ms(s["p99"])),
                "%d" % round(1e3 / s["median"]),
            ]
        )
    return markdown_table(["machine", "runtime", "latency ms (median)", "fps"], rows)


def _runtime_order(row: dict) -> tuple:
    return ({ORT_CPU: 0, NO_SPIN: 1, EAGER: 2}.get(row["runtime"], 3),)


def model_only(bench: Result, soak: Result) -> str:
    order = list(bench["models"])
    rows = []
    for r in sorted(
        bench["latency"], key=lambda r: (_runtime_order(r), order.index(r["model"]), r["threads"])
    ):
        s = r["stats_ms"]
        rows.append(
            [
                r["model"],
                r["runtime"],
                r["threads"],
                _ms(s["median"]),
                _ms(s["p90"]),
                _ms(s["p99"]),
                s["n"],
                "%.1f" % r["gmacs_per_s"],
                _pct(r.get("peak_fraction")),
                "%.2f" % r["ort_over_eager"] if r.get("ort_over_eager") else "-",
            ]
        )
    table = markdown_table(
        ["model", "runtime", "threads", "median", "p90", "p99", "n", "GMAC/s", "of peak", "ORT / eager"], rows
    )
    peak = bench["peak"]
    models = bench["models"]
    return "\n".join(
        [
            table,
            "",
            "Peak (roofline denominator): fp32 %s MatMul in ORT, best of %d: %s."
            % (
                "1024³" if peak["shape"].startswith("1024x1024") else peak["shape"],
                peak["runs"],
                ", ".join(
                    "%s thread(s) %.1f GMAC/s" % (t, v["gmacs_per_s"]) for t, v in peak["by_threads"].items()
                ),
            ),
            "Models: %s."
            % "; ".join(
                "%s %s params, %.3f GMAC" % (k, "{:,}".format(v["params"]), v["macs"] / 1e9)
                for k, v in models.items()
            ),
        ]
    )


def encoder_decoder(bench: Result, soak: Result) -> str:
    rows = [
        [
            r["model"],
            r["threads"],
            _ms(r["encoder_ms"]["median"]),
            _ms(r["decoder_ms"]["median"]),
            _pct(r["decoder_share"]),
        ]
        for r in bench["breakdown"]
        if "error" not in r
    ]
    return markdown_table(["model", "threads", "encoder", "decoder", "decoder share"], rows)


def node_e2e(bench: Result, soak: Result) -> str:
    rows = []
    for r in _e2e_rows(bench):
        s = r["latency_ms"]
        rows.append(
            [
                _mode_label(r["mode"]),
                "%.1f" % r["input_hz"],
                "%.1f" % r["output_hz"],
                _ms(s["median"]),
                _ms(s["p95"]),
                _ms(s["p99"]),
                "%d / %d" % (r["dropped"], r["published"]),
                r["backlog"],
                "%d" % round(r["node_cpu_percent"]),
                "%d" % round(r["node_peak_rss_mib"]),
            ]
        )
    table = markdown_table(
        [
            "mode",
            "in Hz",
            "out Hz",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "dropped / sent",
            "backlog",
            "node CPU %",
            "peak RSS MiB",
        ],
        rows,
    )
    return "Model: %s; %g s measured per mode.\n\n%s" % (
        _e2e_model(bench),
        bench["settings"]["e2e_seconds"],
        table,
    )


def node_stages(bench: Result, soak: Result) -> str:
    stages = (
        "queue",
        "convert",
        "preprocess",
        "inference",
        "postprocess",
        "publish",
        "side_outputs",
        "total",
    )
    rows = []
    for r in _e2e_rows(bench):
        st = r.get("node_stage_p50_ms") or {}
        if not st:
            continue
        rows.append([r["mode"]] + [_ms(st.get(k)) for k in stages] + [_ms(r.get("outside_node_p50_ms"))])
    return markdown_table(["mode"] + [s.replace("_", " ") for s in stages] + ["e2e − total"], rows)


def in_process(bench: Result, soak: Result) -> str:
    stages = ("convert", "preprocess", "inference", "postprocess", "to_msg", "total")
    rows = []
    for key in ("pipeline", "pipeline_paced"):
        p = bench.get(key)
        if not p:
            continue
        cadence = (
            "one frame per %d ms (%g Hz camera)" % (round(1e3 / p["rate_hz"]), p["rate_hz"])
            if p["rate_hz"]
            else "back to back"
        )
        rows.append([cadence] + [_ms(p["stages_ms"][s]["median"]) for s in stages])
    return markdown_table(["cadence"] + [s.replace("_", " ") for s in stages], rows)


def _span(values: Sequence[float], fmt: str) -> str:
    lo, hi = fmt % min(values), fmt % max(values)
    return lo if lo == hi else "%s-%s" % (lo, hi)


def soak_summary(bench: Result, soak: Result) -> str:
    s, windows = soak["summary"], soak["windows"]
    return (
        "### Soak: %d minutes at %s Hz, one node process\n\n"
        "`benchmarks/soak.py --minutes %g` (%s model, 640×480 rgb8 + camera_info, the driver in %d "
        "back-to-back %g s windows against one `depth_node`; `%s`): %s frames sent, **%d dropped**, "
        "output %s Hz in every window, backlog %s; p50 per window %s ms, p95 %s ms, maximum %.1f ms; "
        "node CPU %s %%; resident memory **%.1f MiB after the first window, %.1f MiB after the last** "
        "(least-squares slope over the second half %.1f MiB/min; peak %.1f MiB)."
        % (
            round(s["wall_min"]),
            soak["settings"]["rate"],
            soak["settings"]["minutes"],
            "reference" if "pruned_ref" in str(soak["model"]) else "shipped",
            s["windows"],
            soak["settings"]["window_s"],
            soak["_file"],
            "{:,}".format(s["frames_sent"]),
            s["frames_dropped"],
            _span([w["output_hz"] for w in windows], "%.2f"),
            _span([w["backlog"] for w in windows], "%d"),
            _span([w["latency_ms"]["median"] for w in windows], "%.1f"),
            _span([w["latency_ms"]["p95"] for w in windows], "%.1f"),
            max(w["latency_ms"]["max"] for w in windows),
            _span([w["node_cpu_percent"] for w in windows], "%.0f"),
            s["rss_mib_first"],
            s["rss_mib_last"],
            s["rss_slope_mib_per_min_second_half"],
            s["peak_rss_mib"],
        )
    )


def findings(bench: Result, soak: Result) -> str:
    """The bullet list that reads the tables (every number from the result file)."""
    ref = [r for r in bench["latency"] if r["model"] == "reference"]
    one = _latency(bench, "reference", ORT_CPU, 1)
    two = _latency(bench, "reference", ORT_CPU, 2)
    pruned_share = [
        r["decoder_share"] for r in bench["breakdown"] if r["model"] != "unpruned" and "error" not in r
    ]
    full_share = [
        r["decoder_share"] for r in bench["breakdown"] if r["model"] == "unpruned" and "error" not in r
    ]
    ratios = [r["ort_over_eager"] for r in bench["latency"] if r.get("ort_over_eager")]
    lock = _e2e(bench, "lockstep")
    flood = _e2e(bench, "max")
    pct = lambda xs: _span([100 * x for x in xs], "%.0f")  # noqa: E731
    return "\n".join(
        [
            "* **Paper vs here.** The paper's 178 fps (TX2 GPU) and 27 fps (TX2 CPU) used TVM-compiled",
            "  kernels on a Jetson. The same pruned network on %d x86 cores with ONNX Runtime runs in"
            % bench["machine"]["usable_cpus"],
            "  %.1f ms (2 threads) / %.1f ms (1 thread)."
            % (two["stats_ms"]["median"], one["stats_ms"]["median"]),
            "* **Roofline.** One thread reaches %.0f GMAC/s on the pruned model, %s of a large fp32"
            % (one["gmacs_per_s"], _pct(one["peak_fraction"])),
            "  MatMul on the same core. Little is left in the kernels on this CPU; to go faster: fewer",
            "  MACs, int8, or a GPU.",
            "* **Encoder vs decoder.** The depthwise NNConv5 decoder is %s %% of the pruned model's time"
            % pct(pruned_share),
            "  and %s %% of the unpruned one's: NetAdapt pruning saved relatively more encoder time."
            % pct(full_share),
            "* **ORT vs PyTorch eager.** ORT needs %s of eager PyTorch's time for the same graph."
            % _span(ratios, "%.1f"),
            "* **`max`** (a publisher flooding at %.0f Hz from Python) leaves the node %.0f Hz of output on"
            % (flood["input_hz"], flood["output_hz"]),
            "  these cores: a runaway camera driver costs output rate, never a queue (backlog %d, drops"
            % flood["backlog"],
            "  counted). **`lockstep`** shows the node sustains %.0f Hz end to end." % lock["output_hz"],
        ]
        + ([] if ref else ["* (no reference-model rows in this result)"])
    )


def time_budget(bench: Result, soak: Result) -> str:
    """Where the end-to-end time of the 30 Hz run goes (p50s; they do not add up exactly)."""
    run = _e2e(bench, "30 Hz")
    floor = next(r for r in _e2e_rows(bench) if "relay" in r["mode"])
    st = run["node_stage_p50_ms"]
    model_only_ms = run["model_only_median_ms"]
    p50 = run["latency_ms"]["median"]
    rows = [
        [
            "DDS transport: 640×480 rgb8 in, 224×224 depth out (relay node, no model, same topics and QoS)",
            _ms(floor["latency_ms"]["median"]),
            "the transport floor",
        ],
        [
            "e2e − node total (transport in the node run)",
            _ms(run["outside_node_p50_ms"]),
            "the floor, plus the receiver waiting for a core the node still uses",
        ],
        [
            "inference in the node vs model-only back to back (%s vs %s)"
            % (_ms(st["inference"]), _ms(model_only_ms)),
            "%+.1f" % (st["inference"] - model_only_ms),
            "a camera-paced run starts with cooler caches and parked threads, and DDS / executor threads "
            "share the cores",
        ],
        ["preprocess (640×480 → 224×224 gather + scale)", "%.1f" % st["preprocess"], ""],
        [
            "publish (depth image: message + DDS write)",
            "%.1f" % st["publish"],
            "the depth's camera_info and colour map go out after it (side outputs, %.1f)"
            % st["side_outputs"],
        ],
        [
            "queue (callback → worker handoff), convert, postprocess",
            "%.1f" % (st["queue"] + st["convert"] + st["postprocess"]),
            "",
        ],
    ]
    head = (
        "At 30 Hz the node holds the rate with %d drops and backlog %d; its end-to-end p50 is "
        "**%.1f ms = model-only %.1f ms + %.1f ms**. Where the %.1f ms go (p50s of that run, which do "
        "not add up exactly):"
        % (run["dropped"], run["backlog"], p50, model_only_ms, p50 - model_only_ms, p50 - model_only_ms)
    )
    return head + "\n\n" + markdown_table(["where", "ms", ""], rows)


def points_cost(points: Result) -> str:
    """depth/points per frame on the node's output grids, and the node-default pipeline
    measured in the same run (``fastdepth-ros bench --points-only``)."""
    m = points["machine"]
    rows = []
    for r in points["points"]:  # type: ignore[union-attr]
        to_msg = r.get("depth_to_msg_ms", {})
        rows.append([
            "%d×%d" % (r["grid_hw"][1], r["grid_hw"][0]),
            r["stride"],
            "{:,}".format(r["points"]),
            "%.2f" % (r["message_bytes"] / 2 ** 20),
            _ms(r["backproject_ms"]["median"]),
            _ms(to_msg.get("median")),
            _ms(to_msg.get("p90")),
        ])
    table = markdown_table(["depth grid", "points_stride", "points", "MiB",
                            "back-projection into a new array",
                            "depth → the reused message, as the node (p50)", "(p90)"], rows)
    text = ("`%s` (%s UTC, %s, %d usable cores, ORT %s, numpy %s; load average %.2f during the "
            "point-cloud runs): ms per frame, medians of %d runs.\n\n%s"
            % (points["_file"], points["started_utc"], m["cpu_model"], m["usable_cpus"], m["onnxruntime"],
               m["numpy"], points["loadavg_points"][0], points["points"][0]["backproject_ms"]["n"], table))
    pipe = points.get("pipeline_default")
    if pipe:
        st = pipe["stages_ms"]
        text += ("\n\nIn the same run, the node's per-frame work with its default engine settings "
                 "(`intra_op_threads: 0`, `ort_allow_spinning: false`; 640×480 rgb8, no DDS; load "
                 "average %.2f): total %s ms p50, of which inference %s ms."
                 % (points["loadavg_pipeline"][0], _ms(st["total"]["median"]),
                    _ms(st["inference"]["median"])))
    return text


#: blocks generated from a result file of their own: name -> (result name, function)
OWN_RESULT_BLOCKS: Dict[str, Tuple[str, Callable[[Result], str]]] = {
    "points-cost": ("points", points_cost),
}

BLOCKS: Dict[str, Callable[[Result, Result], str]] = {
    "machine": machine,
    "paper-vs-package": paper_vs_package,
    "model-only": model_only,
    "encoder-decoder": encoder_decoder,
    "node-e2e": node_e2e,
    "node-stages": node_stages,
    "in-process": in_process,
    "soak": soak_summary,
    "findings": findings,
    "time-budget": time_budget,
}

# a block's body never contains another marker: an empty or broken block cannot swallow the next
_BLOCK = re.compile(
    r"<!-- figures:(?P<name>[a-z0-9-]+) -->\n(?:(?P<body>(?:(?!<!-- /?figures).)*?)\n)??<!-- /figures -->",
    re.S,
)


def load(path: Path, root: Path) -> Result:
    result = json.loads(path.read_text())
    result["_file"] = str(path.relative_to(root))
    return result


def render_doc(text: str, bench: Result, soak: Result, others: Optional[Dict[str, Result]] = None) -> str:
    """``text`` with every figures block regenerated (unknown names raise KeyError);
    ``others`` holds the result files of :data:`OWN_RESULT_BLOCKS` by result name."""

    def block(name: str) -> str:
        if name in OWN_RESULT_BLOCKS:
            key, fn = OWN_RESULT_BLOCKS[name]
            return fn((others or {})[key])
        return BLOCKS[name](bench, soak)

    return _BLOCK.sub(
        lambda m: "<!-- figures:%s -->\n%s\n<!-- /figures -->" % (m.group("name"), block(m.group("name"))),
        text,
    )
