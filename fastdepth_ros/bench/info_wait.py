"""What exact-stamp camera_info pairing costs at 30 Hz (issue 23, fault 8).

image_transport's CameraPublisher publishes the image and then its camera_info, so the
node often has the image before the info with the same stamp.  ``camera_info_wait_ms``
lets a frame wait (bounded) for it instead of taking the previous frame's calibration.
This runs the node end to end (:mod:`.e2e`: the real ``depth_node`` process, a 640x480
camera at 30 Hz in another process) once per case and prints one JSON document:

* ``info before image``: the info is already there, nothing waits (the reference);
* ``info 3 ms after``, ``camera_info_wait_ms`` 0: the old behaviour, pairs with the latest;
* ``info 3 ms after``, the default wait: pairs exactly, at the cost of the wait;
* ``no camera_info``: never waits (nothing was ever received);
* ``stamp never matches``: the worst case, every frame waits the whole bound.

Per case: depth latency (receive time - stamp, same host clock) median / p95, output rate,
dropped frames, the node's own ``info_wait`` stage p50 and its pairing counters (since the
node started, warm-up included).

    python -m fastdepth_ros.bench.info_wait --seconds 20 --out benchmarks/results/info_wait.json
    python -m fastdepth_ros.bench.info_wait --table benchmarks/results/info_wait.json

``--table`` prints the markdown table docs/performance.md carries (a test checks that the
doc's table is this rendering of the committed result file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .e2e import run_e2e

DEFAULT_WAIT_MS = 10.0  # the node's default (PARAMETERS in node.py; not imported: no rclpy here)
# (label, info_after_ms for the e2e driver, camera_info_wait_ms)
CASES = (
    ("info before image", None, DEFAULT_WAIT_MS),
    ("info 3 ms after image, no wait (camera_info_wait_ms 0)", 3.0, 0.0),
    ("info 3 ms after image, default wait", 3.0, DEFAULT_WAIT_MS),
    ("no camera_info", "none", DEFAULT_WAIT_MS),
    ("info 3 ms after image, stamp never matches (worst case)", "mismatch", DEFAULT_WAIT_MS),
)
COUNTERS = {
    "exact": "Paired by exact stamp",
    "exact_after_waiting": "Of these, after waiting for it (camera_info_wait_ms)",
    "latest": "Paired with latest (no exact stamp)",
    "latest_after_waiting_in_vain": "Of these, after waiting camera_info_wait_ms in vain",
    "without_camera_info": "Depth without camera_info (none received yet)",
}


def _row(label: str, info_after: object, wait_ms: float, result: Dict[str, object]) -> Dict[str, object]:
    if "error" in result:
        return {"case": label, "error": result["error"]}
    diag = result.get("node_diagnostics", {})
    latency = result.get("latency_ms", {})
    counts: Dict[str, Optional[int]] = {}
    for key, name in COUNTERS.items():
        value = diag.get("camera_info/" + name)  # type: ignore[union-attr]
        counts[key] = int(value) if value is not None else None
    return {
        "case": label,
        "info_after_image_ms": info_after,
        "camera_info_wait_ms": wait_ms,
        "input_hz": result.get("input_hz"),
        "output_hz": result.get("output_hz"),
        "dropped": result.get("dropped"),
        "latency_median_ms": latency.get("median"),  # type: ignore[union-attr]
        "latency_p95_ms": latency.get("p95"),  # type: ignore[union-attr]
        "node_info_wait_p50_ms": result.get("node_stage_p50_ms", {}).get("info_wait"),  # type: ignore[union-attr]
        "node_total_p50_ms": result.get("node_stage_p50_ms", {}).get("total"),  # type: ignore[union-attr]
        "pairing_since_start": counts,
    }


def run(model_path: str, seconds: float, rate_hz: float = 30.0, log=print) -> Dict[str, object]:
    from .report import machine_info

    rows: List[Dict[str, object]] = []
    for label, info_after, wait_ms in CASES:
        log("info_wait: %s ..." % label)
        result = run_e2e(model_path, ["%g" % rate_hz], seconds, log=lambda *_: None,
                         extra_params=["camera_info_wait_ms:=%.1f" % wait_ms],
                         driver_options={"info_after_ms": info_after})[0]
        rows.append(_row(label, info_after, wait_ms, result))
    return {"rate_hz": rate_hz, "seconds_per_case": seconds, "model": model_path,
            "machine": machine_info(), "cases": rows}


TABLE_HEADER = (
    "| camera_info timing | `camera_info_wait_ms` | node `info_wait` p50 | exact / latest pairs "
    "(since start) | e2e p50 / p95 | output at 30 Hz in |\n|---|---|---|---|---|---|\n")
TIMING = {None: "before the image", "none": "none",
          "mismatch": "3 ms after, stamp never matches (worst case)"}


def markdown_table(report: Dict[str, object]) -> str:
    """The docs/performance.md table of a report from :func:`run`."""
    lines = [TABLE_HEADER]
    for row in report["cases"]:  # type: ignore[union-attr]
        after, wait = row["info_after_image_ms"], row["camera_info_wait_ms"]
        timing = TIMING[after] if after in TIMING else "%g ms after the image" % after
        wait_text = "%g" % wait
        if isinstance(after, float):  # the cases that compare waiting with not waiting
            wait_text += " (no wait)" if wait == 0 else " (default)" if wait == DEFAULT_WAIT_MS else ""
        counts = row["pairing_since_start"]
        pairs = "no camera_info" if after == "none" else "%d / %d" % (counts["exact"], counts["latest"])
        lines.append("| %s | %s | %s ms | %s | %.1f / %.1f ms | %.1f Hz |\n" % (
            timing, wait_text, _ms(row["node_info_wait_p50_ms"]), pairs, row["latency_median_ms"],
            row["latency_p95_ms"], row["output_hz"]))
    return "".join(lines)


def _ms(value: float) -> str:
    return "%.3f" % value if value < 0.1 else "%.1f" % value


def main(argv: Optional[Sequence[str]] = None) -> int:
    from ..resources import default_model_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="", help="ONNX model (default: the package's)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window per case")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate in Hz")
    parser.add_argument("--out", default="", help="also write the JSON here")
    parser.add_argument("--table", default="", metavar="JSON",
                        help="print the docs table of a result file instead of measuring")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(Path(args.table).read_text())), end="")
        return 0
    report = run(args.model or str(default_model_path()), args.seconds, args.rate,
                 log=lambda msg: print(msg, file=sys.stderr))
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
