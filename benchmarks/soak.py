#!/usr/bin/env python3
"""Soak: depth_node at 30 Hz (640x480 rgb8 + camera_info) for many minutes, one node process.

Does the node keep its rate and latency, and does its memory stay flat?  The driver runs in
back-to-back windows (``--window-s``, default 60 s) against the same ``depth_node``; after each
window the node's resident memory (VmRSS) is read from /proc.  Prints one line per window and
writes JSON (default ``benchmarks/results/soak-<machine>.json``) with every window and a
least-squares RSS slope over the second half (after allocator warm-up).

    .venv/bin/python benchmarks/soak.py --minutes 20          # ~20 min, in the background
    .venv/bin/python benchmarks/soak.py --minutes 1 --window-s 10 --out /tmp/soak.json   # smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(ROOT))  # this checkout's bench code; the node is the installed depth_node
    import numpy as np

    from fastdepth_ros.bench.e2e import run_e2e
    from fastdepth_ros.bench.report import machine_info, machine_label
    from fastdepth_ros.resources import default_model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--rate", default="30", help="publish rate in Hz")
    parser.add_argument("--model", default="",
                        help="ONNX (default: the shipped model)")
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    model = args.model or str(default_model_path())
    windows = max(1, int(round(args.minutes * 60 / args.window_s)))
    machine = machine_info()
    print("soak: %d x %.0f s at %s Hz, model %s" % (windows, args.window_s, args.rate, model), flush=True)
    t0 = time.monotonic()
    done = []

    def progress(message: str) -> None:  # run_e2e logs once per window, as it starts it
        done.append(message)
        print("window %d/%d (%.1f min)%s" % (len(done), windows, (time.monotonic() - t0) / 60, message),
              flush=True)

    rows = run_e2e(model, [args.rate] * windows, args.window_s, log=progress)
    print("| window | end min | out Hz | p50 ms | p95 ms | max ms | dropped / sent | backlog | CPU % "
          "| RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows):
        if "error" in r:
            print("| %d | error: %s |" % (i, r["error"]))
            continue
        lat = r["latency_ms"]
        print("| %d | %.1f | %.2f | %.2f | %.2f | %.2f | %d / %d | %d | %.0f | %s |" % (
            i, (r["finished_monotonic_s"] - t0) / 60, r["output_hz"], lat["median"], lat["p95"], lat["max"],
            r["dropped"], r["published"], r["backlog"], r["node_cpu_percent"], r["node_rss_mib"]))
    ok = [r for r in rows if "error" not in r and r.get("node_rss_mib")]
    half = ok[len(ok) // 2:]
    slope = None
    if len(half) >= 2:
        x = [(r["finished_monotonic_s"] - t0) / 60 for r in half]
        slope = float(np.polyfit(x, [r["node_rss_mib"] for r in half], 1)[0])
    summary = {
        "windows": len(rows), "errors": len(rows) - len(ok),
        "frames_sent": sum(r["published"] for r in ok), "frames_dropped": sum(r["dropped"] for r in ok),
        "p50_ms_by_window": [r["latency_ms"]["median"] for r in ok],
        "rss_mib_first": ok[0]["node_rss_mib"] if ok else None,
        "rss_mib_last": ok[-1]["node_rss_mib"] if ok else None,
        "rss_slope_mib_per_min_second_half": None if slope is None else round(slope, 3),
        "peak_rss_mib": ok[-1]["node_peak_rss_mib"] if ok else None,
        "wall_min": round((time.monotonic() - t0) / 60, 1),
    }
    print(json.dumps(summary))
    default_out = ROOT / "benchmarks" / "results" / ("soak-%s.json" % machine_label(machine))
    out = Path(args.out) if args.out else default_out
    out.parent.mkdir(parents=True, exist_ok=True)
    for r in rows:
        r.pop("node_diagnostics", None)  # per-window diagnostics are bulky; the stage p50s stay
    out.write_text(json.dumps({"tool": "benchmarks/soak.py", "settings": vars(args), "model": model,
                               "machine": machine, "summary": summary, "windows": rows}, indent=1) + "\n")
    print("wrote %s" % out)
    return 0 if ok and len(ok) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
