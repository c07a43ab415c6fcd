"""The measuring order of ``fastdepth-ros bench`` (see :mod:`fastdepth_ros.bench`)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

from .report import loadavg, machine_info, machine_label

NON_COMPUTE_PROVIDERS = {"AzureExecutionProvider"}  # remote endpoints, not a compute EP
DEFAULT_E2E_MODES = "30,max,lockstep,idle"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _specs(args: argparse.Namespace, tmpdir: str, notes: List[str]):
    from ..resources import default_model_path
    from .models import ModelSpec

    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    specs = []
    if "shipped" in wanted:
        try:
            path = default_model_path()
        except FileNotFoundError as exc:
            path = None
            notes.append("shipped model: %s" % exc)
        if path is not None and path.is_file():
            spec = ModelSpec("shipped", str(path))
            card = path.with_suffix(".json")
            if card.is_file():
                try:
                    arch = json.loads(card.read_text()).get("architecture", {})
                    keys = ("encoder_widths", "decoder_widths", "upsample", "depthwise", "skip",
                            "decoder_kernel")
                    if all(k in arch for k in keys[:2]):
                        spec.torch_config = {k: arch[k] for k in keys if k in arch}
                except (OSError, ValueError):
                    pass
            specs.append(spec)
        elif path is not None:
            notes.append("shipped model not found (%s): not trained/installed yet" % path)
    if "reference" in wanted and not args.reference_dir:
        notes.append("reference model skipped: pass --reference-dir (or set FASTDEPTH_REFERENCE_DIR)")
    elif "reference" in wanted:
        ref = Path(args.reference_dir)
        path = ref / "fastdepth_pruned_ref.onnx"
        if path.is_file():
            spec = ModelSpec("reference", str(path), torch_config="pruned",
                             note="official pruned FastDepth (%s)" % ref)
            layers = ref / "fastdepth_pruned_ref_layers.json"
            if layers.is_file():
                table = json.loads(layers.read_text())
                spec.info["layer_table_macs"] = table.get("macs")
                spec.info["layer_table_params"] = table.get("params")
            specs.append(spec)
        else:
            notes.append("reference model not found: %s" % path)
    if "unpruned" in wanted:
        try:
            from .models import export_unpruned

            specs.append(export_unpruned(tmpdir))
        except ImportError as exc:
            notes.append("unpruned architecture skipped (needs torch and onnx): %s" % exc)
    for item in args.model:
        label, sep, path = item.partition("=")
        if not sep:
            label, path = Path(item).stem, item
        specs.append(ModelSpec(label, path))
    return specs


def run_bench(args: argparse.Namespace) -> Dict[str, object]:
    """Every figure in a fixed order: costs, MatMul peak, latency rotations, encoder /
    decoder split, in-process stages, node end to end (each phase notes its load)."""
    import onnxruntime as ort

    from . import models as M

    t_start = time.time()
    machine = machine_info()
    notes: List[str] = []
    threads = [int(t) for t in str(args.threads).split(",") if t.strip()]
    providers = [p.strip() for p in args.providers.split(",") if p.strip()] or [
        p for p in ort.get_available_providers() if p not in NON_COMPUTE_PROVIDERS]
    skipped = sorted(set(ort.get_available_providers()) & NON_COMPUTE_PROVIDERS)
    if skipped and not args.providers:
        notes.append("not measured (not compute providers): %s" % ", ".join(skipped))
    results: Dict[str, object] = {
        "tool": "fastdepth-ros bench",
        "label": args.label or machine_label(machine),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
        "settings": {k: v for k, v in vars(args).items() if k != "func"},
        "machine": machine,
        "notes": notes,
    }
    load: Dict[str, object] = {}
    results["loadavg_by_phase"] = load
    with tempfile.TemporaryDirectory(prefix="fdbench_") as tmp:
        specs = _specs(args, tmp, notes)
        results["models"] = models_info = _model_costs(specs)
        load["peak"] = loadavg()
        # the roofline peak first: a machine property, measured before the long rotation
        log("peak: %dx%d MatMul, threads %s" % (args.peak_size, args.peak_size, threads))
        results["peak"] = M.matmul_peak(threads, n=args.peak_size, runs=10 if args.quick else 20)
        results["latency"] = latency = _latency(args, specs, providers, threads, notes, load,
                                                models_info, results["peak"])
        load["breakdown"] = loadavg()
        results["breakdown"] = _breakdown(args, specs, providers, threads)
        e2e_spec = [s for s in specs if s.label == args.e2e_model]
        if e2e_spec and not args.no_e2e:
            results.update(_pipeline_stages(args, e2e_spec[0].path))
        if not args.no_points:
            from .points import points_cost

            load["points"] = loadavg()
            log("depth/points cost: grids 224x224, 640x480; strides 1, 2, 4")
            results["points"] = points_cost(args.runs, args.warmup)
        if not args.no_e2e:
            load["e2e"] = loadavg()
            results["e2e"] = _e2e(args, specs, latency, notes)
    machine["loadavg_end"] = loadavg()
    results["wall_s"] = round(time.time() - t_start, 1)
    return results


def run_points_only(args: argparse.Namespace) -> Dict[str, object]:
    """``--points-only``: the depth/points cost and the node-default pipeline of the
    ``--e2e-model`` (the shipped one by default), with the usual header."""
    from .points import run_points_bench

    t_start = time.time()
    machine = machine_info()
    notes: List[str] = []
    results: Dict[str, object] = {
        "tool": "fastdepth-ros bench --points-only",
        "label": args.label or machine_label(machine),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
        "settings": {k: v for k, v in vars(args).items() if k != "func"},
        "machine": machine,
        "notes": notes,
    }
    with tempfile.TemporaryDirectory(prefix="fdbench_") as tmp:
        args.models = args.e2e_model if args.e2e_model in ("shipped", "reference") else ""
        args.model = [] if args.models else ["e2e=%s" % args.e2e_model]
        specs = _specs(args, tmp, notes)
        path = specs[0].path if specs else None
        if path is None:
            notes.append("node-default pipeline skipped: model %r not available" % args.e2e_model)
        log("depth/points cost%s" % (", then the node-default pipeline of %s" % path if path else ""))
        results.update(run_points_bench(args.runs, args.warmup, path))
    machine["loadavg_end"] = loadavg()
    results["wall_s"] = round(time.time() - t_start, 1)
    return results


def _model_costs(specs) -> Dict[str, Dict[str, object]]:
    """MACs and parameters of each model from its ONNX graph."""
    from . import models as M

    models_info: Dict[str, Dict[str, object]] = {}
    for s in specs:
        info: Dict[str, object] = {"path": s.path, "note": s.note, **s.info}
        try:
            info.update(M.graph_cost(s.path))
            info["macs_source"] = "ONNX graph (conv out_hw*cout*cin/groups*k*k)"
        except ImportError:
            info["macs_source"] = "unavailable (pip install onnx)"
        except Exception as exc:  # a graph shape inference cannot handle
            info["macs_source"] = "unavailable: %s" % exc
        models_info[s.label] = info
    return models_info


def _runners(args, specs, providers, threads, notes) -> list:
    """One timed configuration per model x provider x threads (+ no-spin CPU, + eager)."""
    from . import models as M

    runners = []
    for s in specs:
        for prov in providers:
            for t in threads:
                try:
                    r = M.ort_runner(s, prov, t, args.warmup)
                except Exception as exc:
                    notes.append("%s on %s/%d threads: %s" % (s.label, prov, t, exc))
                    continue
                if r.engine.provider != prov and prov != "CPUExecutionProvider":
                    notes.append("%s: %s fell back to %s (%s)" % (
                        s.label, prov, r.engine.provider, "; ".join(r.engine.notes)))
                    continue
                runners.append(r)
    if not args.no_spin_variant and "CPUExecutionProvider" in providers:
        runners += [M.ort_nospin_runner(s, t, args.warmup) for s in specs for t in threads if t > 1]
    if args.no_eager:
        return runners
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        notes.append("PyTorch eager skipped: %s" % exc)
        return runners
    for s in specs:
        if s.torch_config is None:
            continue
        for t in threads:
            try:
                runners.append(M.eager_runner(s, t, args.warmup))
            except Exception as exc:
                notes.append("eager %s: %s" % (s.label, exc))
                break
    return runners


def _latency(args, specs, providers, threads, notes, load, models_info, peak) -> List[Dict[str, object]]:
    """Model-only latency rows: ORT configurations interleaved, then torch eager."""
    from . import models as M

    runners = _runners(args, specs, providers, threads, notes)
    load["latency"] = loadavg()
    # ORT and torch eager run as two rotations, one after the other: interleaved on a
    # 2-core machine, torch's OpenMP pool and ORT's spinning pools slow each other down
    # (ORT 2-thread p90 tripled in a trial run), which would falsify both figures.
    ort_runners = [r for r in runners if r.key[1] != "torch-eager"]
    eager_runners = [r for r in runners if r.key[1] == "torch-eager"]
    for phase, group in (("ORT", ort_runners), ("torch eager", eager_runners)):
        if not group:
            continue
        log("latency %s: %d configurations x %d runs (interleaved)" % (phase, len(group), args.runs))
        M.rotate(group, args.runs, budget_s=args.budget,
                 progress=lambda d, n: log("  %d/%d" % (d, n)) if d % 100 == 0 else None)
    return _latency_rows(runners, models_info, peak)


def _breakdown(args, specs, providers, threads) -> List[Dict[str, object]]:
    """Encoder vs decoder time per model and thread count (ORT profiling, CPU only)."""
    from . import models as M

    breakdown: List[Dict[str, object]] = []
    if args.no_breakdown or "CPUExecutionProvider" not in providers:
        return breakdown
    for s in specs:
        for t in threads:
            log("breakdown: %s, %d threads" % (s.label, t))
            try:
                breakdown.append(M.profile_split(s, t, args.profile_runs, args.warmup))
            except ImportError as exc:
                breakdown.append({"model": s.label, "threads": t, "error": "needs onnx: %s" % exc})
    return breakdown


def _pipeline_stages(args, model_path: str) -> Dict[str, object]:
    """The node's per-frame work in one process (no DDS), back to back and camera-paced,
    to split the end-to-end latency."""
    from . import models as M

    log("pipeline stages: %s, 640x480 rgb8, node default threads" % args.e2e_model)
    out: Dict[str, object] = {"pipeline": M.pipeline_stages(model_path, args.runs, args.warmup)}
    rates = [float(m) for m in args.e2e_modes.split(",")
             if m.strip() not in ("", "max", "lockstep") and not m.strip().startswith("idle")]
    if rates:
        log("pipeline stages paced at %g Hz (camera cadence, no DDS)" % rates[0])
        out["pipeline_paced"] = M.pipeline_stages(
            model_path, min(args.runs, int(rates[0] * 10) or 1), args.warmup, rate_hz=rates[0])
    return out


def _peak_for(peak: Dict[str, object], threads: int) -> Optional[float]:
    """Roofline denominator at ``threads``: the measured MatMul peak at that thread count,
    but at least ``threads`` x the one-thread peak (a 2-thread MatMul on a shared 2-core VM
    often does not scale, which would put models above 100 % of "peak")."""
    by = peak.get("by_threads", {})
    one = by.get("1", {}).get("gmacs_per_s") if isinstance(by, dict) else None
    own = by.get(str(threads), {}).get("gmacs_per_s") if isinstance(by, dict) else None
    cands = [v for v in (own, one * threads if one else None) if v]
    return max(cands) if cands else None


def _latency_rows(runners, models_info, peak) -> List[Dict[str, object]]:
    from ..stats import summarize_ms

    rows: List[Dict[str, object]] = []
    for r in runners:
        label, runtime, t = r.key
        stats = summarize_ms(r.samples)
        row: Dict[str, object] = {"model": label, "runtime": runtime, "threads": t, "stats_ms": stats}
        med = stats.get("median")
        if med:
            row["fps_at_median"] = round(1e3 / med, 1)
            macs = models_info.get(label, {}).get("macs")
            if macs:
                gmacs = macs / (med / 1e3) / 1e9
                row["gmacs_per_s"] = round(gmacs, 2)
                pk = _peak_for(peak, t)
                if pk:
                    row["peak_fraction"] = round(gmacs / pk, 3)
        rows.append(row)
    for row in rows:  # ORT / eager ratio for the same model and thread count
        if row["runtime"] == "torch-eager":
            continue
        twin = [x for x in rows if x["runtime"] == "torch-eager" and x["model"] == row["model"]
                and x["threads"] == row["threads"]]
        if twin and twin[0]["stats_ms"].get("median"):
            row["ort_over_eager"] = round(row["stats_ms"]["median"] / twin[0]["stats_ms"]["median"], 3)
    return rows


def _e2e(args, specs, latency, notes) -> List[Dict[str, object]]:
    from .e2e import run_e2e

    path: Optional[str] = None
    for s in specs:
        if s.label == args.e2e_model:
            path = s.path
    if path is None and Path(args.e2e_model).is_file():
        path = args.e2e_model
    if path is None:
        notes.append("e2e skipped: model %r not available" % args.e2e_model)
        return []
    try:
        import rclpy  # noqa: F401
    except ImportError as exc:
        notes.append("e2e skipped: rclpy not installed (%s)" % exc)
        return []
    modes = [m.strip() for m in args.e2e_modes.split(",") if m.strip()]
    log("e2e: depth_node with %s, modes %s" % (path, modes))
    warm = 1.0 if args.quick else 3.0
    rows = run_e2e(path, modes, args.e2e_seconds, warmup_s=warm, extra_params=args.e2e_param, log=log)
    rates = [m for m in modes if m not in ("max", "lockstep") and not m.startswith("idle")]
    idle = [m for m in modes if m.startswith("idle")][:1]
    if rates and not args.no_relay:
        log("e2e transport floor: relay node at %s Hz" % rates[0])
        floor = run_e2e(path, rates[:1], args.e2e_seconds, warmup_s=warm, log=log, relay=True)
        for r in rows:
            if r.get("mode") == "%g Hz" % float(rates[0]) and floor and "error" not in floor[0]:
                r["transport_floor_p50_ms"] = floor[0]["latency_ms"].get("median")
        rows += floor
    for combo in [c for c in args.e2e_whatif.split(",") if c.strip()] if rates else []:
        names = [n for n in combo.strip().split("+") if n]
        log("e2e what-if %s at %s Hz%s" % ("+".join(names), rates[0], " and idle" if idle else ""))
        rows += run_e2e(path, rates[:1] + idle, args.e2e_seconds, warmup_s=warm,
                        extra_params=args.e2e_param, log=log, whatif=names)
    _compare_to_model_only(rows, [x for x in latency if x["model"] == args.e2e_model])
    return rows


def _compare_to_model_only(rows: List[Dict[str, object]], model_rows: List[Dict[str, object]]) -> None:
    """Annotate each node run with the matching model-only median, the overhead over it,
    the part outside the node, and the verdict against the "model-only + 3 ms" budget."""
    # the node runs ORT with its configured threads (0 = ORT default = one per core).  The
    # budget compares against the fastest model-only figure (back to back, ORT's default
    # spinning); "nospin"/"1thread" what-ifs against the model-only row of that configuration.
    mine = [x for x in model_rows if x["runtime"] != "torch-eager"]
    max_threads = max((x["threads"] for x in mine), default=0)

    def model_only_row(whatif):
        threads = 1 if "1thread" in whatif else max_threads
        # spinning only matters with a pool (threads > 1); the no-spin rows exist only there
        want_nospin = "nospin" in whatif and threads > 1
        rows_ = [x for x in mine
                 if x["threads"] == threads and (x["runtime"] == "CPU, no spin") == want_nospin]
        return rows_[0] if rows_ else None

    for r in rows:
        if "error" in r or "relay" in r.get("mode", ""):
            continue
        base = model_only_row(r.get("whatif", []))
        if base is None:
            continue
        mo = base["stats_ms"]["median"]
        r["model_only_median_ms"] = mo
        r["model_only_runtime"] = base["runtime"]
        r["model_only_threads"] = base["threads"]
        p50 = r["latency_ms"].get("median")
        if p50 is None:
            continue
        r["overhead_over_model_ms"] = round(p50 - mo, 3)
        node_total = r.get("node_stage_p50_ms", {}).get("total")
        if node_total is not None:
            # node "total" runs from its image callback to the depth handed to DDS: the rest
            # of the end-to-end p50 is DDS transport in and out plus the receiver's executor
            r["outside_node_p50_ms"] = round(p50 - node_total, 3)
        if r["mode"].split(" what-if")[0].endswith("Hz") and "relay" not in r["mode"]:
            ok_lat = p50 <= mo + 3.0
            ok_rate = r["dropped"] == 0 and r["backlog"] == 0
            r["verdict"] = "p50 %.2f ms vs model-only %.2f + 3 ms: %s; %s" % (
                p50, mo, "OK" if ok_lat else "OVER BUDGET",
                "holds the rate with zero drops/backlog" if ok_rate else
                "does NOT hold the rate (%d dropped, backlog %d)" % (r["dropped"], r["backlog"]))


