#!/usr/bin/env python3
"""Run ``fastdepth-ros bench`` and keep the result under benchmarks/results/<machine>.json.

    .venv/bin/python benchmarks/run_bench.py                 # default run (~2 min)
    .venv/bin/python benchmarks/run_bench.py --runs 1000 --e2e-seconds 60   # longer
    .venv/bin/python benchmarks/run_bench.py --quick --out /tmp/smoke.json  # smoke

All options are those of ``fastdepth-ros bench --help``; without ``--out`` the JSON goes to
``benchmarks/results/<cpu-model>-<cores>c.json`` (one file per machine, overwritten).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    # The bench code of this checkout (what the results in benchmarks/results/ came from);
    # the node it starts is the installed console script depth_node (scripts/venv.sh).
    sys.path.insert(0, str(ROOT))
    from fastdepth_ros.bench.cli import main as bench_main
    from fastdepth_ros.bench.report import machine_info, machine_label

    argv = sys.argv[1:]
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        label = next((a.split("=", 1)[1] for a in argv if a.startswith("--label=")), None)
        if label is None and "--label" in argv:
            label = argv[argv.index("--label") + 1]
        label = label or machine_label(machine_info())
        argv += ["--out", str(ROOT / "benchmarks" / "results" / ("%s.json" % label))]
    return bench_main(argv)


if __name__ == "__main__":
    sys.exit(main())
