"""Machine description, latency statistics and the printed table of ``fastdepth-ros bench``.

Every result file carries the machine it was measured on (CPU model, usable cores, SIMD
flags, library versions, load average before and after), because a latency figure without
its machine is meaningless and this project's CI box is shared and noisy.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

#: SIMD / ISA flags worth knowing for CPU inference (the rest of /proc/cpuinfo is noise).
INTERESTING_FLAGS = (
    "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "neon", "asimd", "asimddp",
)


def _cpuinfo() -> Dict[str, str]:
    info: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" not in line:
                    if info:
                        break  # first processor block is enough
                    continue
                key, value = line.split(":", 1)
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def _version(dist: str) -> Optional[str]:
    """Installed version without importing the package (importing torch costs seconds)."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def loadavg() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info() -> Dict[str, object]:
    """Who measured: CPU, cores, flags, memory, library versions, current load."""
    cpu = _cpuinfo()
    flags = set((cpu.get("flags") or cpu.get("Features") or "").split())
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    try:
        import onnxruntime as ort

        ort_version, providers = ort.__version__, list(ort.get_available_providers())
    except ImportError:
        ort_version, providers = None, []
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu.get("model name") or cpu.get("Model") or platform.processor(),
        "cpu_mhz": cpu.get("cpu MHz"),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "flags": sorted(f for f in INTERESTING_FLAGS if f in flags),
        "mem_total_gib": round(mem_kb / 2**20, 1) if mem_kb else None,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "onnxruntime": ort_version,
        "ort_providers": providers,
        "numpy": np.__version__,
        "torch": _version("torch"),
        "opencv": _version("opencv-python-headless") or _version("opencv-python"),
        "loadavg_start": loadavg(),
    }


def machine_label(machine: Dict[str, object]) -> str:
    """A short filesystem-safe label: cpu model + usable cores, e.g. ``amd-epyc-2c``."""
    model = str(machine.get("cpu_model") or "cpu").lower()
    for junk in ("(r)", "(tm)", "processor", "cpu", "@"):
        model = model.replace(junk, " ")
    words = [w for w in "".join(c if c.isalnum() or c == "." else " " for c in model).split()
             if not w.endswith("ghz")][:4]
    return "%s-%dc" % ("-".join(words) or "cpu", int(machine.get("usable_cpus") or 0))


def _fmt(v: object, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.*f" % (digits, v)
    return str(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_fmt(c) for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)


def render(results: Dict[str, object]) -> str:
    """The human-readable tables of a result dict (markdown, so they paste into docs)."""
    out: List[str] = []
    m = results["machine"]
    out.append("machine: %s, %s usable cores, flags %s, ORT %s, torch %s, load %s -> %s" % (
        m.get("cpu_model"), m.get("usable_cpus"), ",".join(m.get("flags") or []),
        m.get("onnxruntime"), m.get("torch"), m.get("loadavg_start"), m.get("loadavg_end")))
    models = results.get("models", {})
    if models:
        out.append("\nmodels")
        out.append(markdown_table(
            ["model", "params", "GMACs", "source"],
            [[k, v.get("params"), (v.get("macs") or 0) / 1e9 if v.get("macs") else None,
              v.get("path") or v.get("note")] for k, v in models.items()]))
    lat = results.get("latency", [])
    if lat:
        out.append("\nmodel-only latency (ms; ORT session.run / torch eager forward, 1x3x224x224)")
        rows = []
        for r in lat:
            s = r["stats_ms"]
            rows.append([r["model"], r["runtime"], r["threads"], s.get("median"), s.get("p90"),
                         s.get("p99"), s.get("n"), r.get("fps_at_median"),
                         r.get("gmacs_per_s"), r.get("peak_fraction"), r.get("ort_over_eager")])
        out.append(markdown_table(
            ["model", "runtime", "threads", "median", "p90", "p99", "n", "fps", "GMAC/s",
             "of peak", "ORT/eager"], rows))
    br = results.get("breakdown", [])
    if br:
        out.append("\nencoder vs decoder (ORT profiling, per-run sums of kernel times, ms)")
        rows = []
        for r in br:
            if "error" in r:
                rows.append([r["model"], r.get("threads"), r["error"], None, None, None, None])
                continue
            e, d = r["encoder_ms"], r["decoder_ms"]
            rows.append([r["model"], r["threads"], e.get("median"), e.get("p90"), d.get("median"),
                         d.get("p90"), r.get("decoder_share")])
        out.append(markdown_table(
            ["model", "threads", "encoder med", "encoder p90", "decoder med", "decoder p90",
             "decoder share"], rows))
    peak = results.get("peak", {})
    if peak:
        out.append("\nachievable peak (fp32 MatMul %s): %s" % (peak.get("shape"), ", ".join(
            "%s thr %.1f GMAC/s" % (t, v["gmacs_per_s"]) for t, v in peak.get("by_threads", {}).items())))
    for key in ("pipeline", "pipeline_paced", "pipeline_default"):
        pipe = results.get(key)
        if not pipe:
            continue
        st = pipe["stages_ms"]
        cadence = "one frame per %.1f ms" % (1e3 / pipe["rate_hz"]) if pipe.get("rate_hz") else "back to back"
        out.append("\nnode work in one process, no DDS (%dx%d rgb8, ORT threads %s, spinning %s, %s)" % (
            pipe["input_hw"][1], pipe["input_hw"][0], pipe["threads"], pipe.get("allow_spinning"), cadence))
        out.append(markdown_table(["stage", "median", "p90", "p99"],
                                  [[k, v.get("median"), v.get("p90"), v.get("p99")] for k, v in st.items()]))
    points = results.get("points", [])
    if points:
        out.append("\ndepth/points per frame (ms: back-projection into a new array; depth -> the "
                   "node's reused PointCloud2 message)")
        out.append(markdown_table(
            ["grid", "stride", "points", "MiB", "backproject med", "to msg med", "to msg p90"],
            [["%dx%d" % (r["grid_hw"][1], r["grid_hw"][0]), r["stride"], r["points"],
              r["message_bytes"] / 2 ** 20, r["backproject_ms"].get("median"),
              r.get("depth_to_msg_ms", {}).get("median"), r.get("depth_to_msg_ms", {}).get("p90")]
             for r in points]))
    e2e = results.get("e2e", [])
    if e2e:
        out.append("\nnode end to end (640x480 rgb8 + camera_info -> depth + depth/camera_info)")
        rows = []
        for r in e2e:
            if "error" in r:
                rows.append([r.get("mode"), r["error"]] + [None] * 10)
                continue
            s = r["latency_ms"]
            rows.append([r["mode"], r.get("input_hz"), r.get("output_hz"), s.get("median"),
                         s.get("p95"), s.get("p99"), r.get("published"), r.get("received_depth"),
                         r.get("dropped"), r.get("node_cpu_percent"), r.get("node_peak_rss_mib"),
                         r.get("backlog")])
        out.append(markdown_table(
            ["mode", "in Hz", "out Hz", "lat p50", "lat p95", "lat p99", "sent", "got", "dropped",
             "node CPU %", "peak RSS MiB", "backlog"], rows))
        for r in e2e:
            if r.get("node_stage_p50_ms"):
                out.append("%s node stages p50 (its /diagnostics): %s" % (r["mode"], ", ".join(
                    "%s %.2f" % kv for kv in r["node_stage_p50_ms"].items())))
            if r.get("outside_node_p50_ms") is not None:
                out.append("%s: e2e p50 - node total p50 = %.2f ms (DDS in + out, receiver)" % (
                    r["mode"], r["outside_node_p50_ms"]))
            if r.get("verdict"):
                out.append("%s: %s" % (r["mode"], r["verdict"]))
    for note in results.get("notes", []):
        out.append("note: %s" % note)
    return "\n".join(out)
