#!/usr/bin/env python3
"""Regenerate the figures blocks of docs/performance.md from benchmarks/results/.

    .venv/bin/python benchmarks/update_docs.py            # rewrite the blocks
    .venv/bin/python benchmarks/update_docs.py --check    # exit 1 when a block is stale

--bench / --soak / --points pick other result files (default: the ones the docs name now).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
BENCH = ROOT / "benchmarks" / "results" / "amd-epyc-2c.json"
SOAK = ROOT / "benchmarks" / "results" / "soak-amd-epyc-2c.json"
POINTS = ROOT / "benchmarks" / "results" / "points-amd-epyc-2c.json"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from fastdepth_ros.bench.figures import load, render_doc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=BENCH)
    parser.add_argument("--soak", type=Path, default=SOAK)
    parser.add_argument("--points", type=Path, default=POINTS,
                        help="fastdepth-ros bench --points-only result")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    args = parser.parse_args()
    text = DOC.read_text()
    new = render_doc(text, load(args.bench.resolve(), ROOT), load(args.soak.resolve(), ROOT),
                     {"points": load(args.points.resolve(), ROOT)})
    if args.check:
        if new != text:
            print("%s is stale: run benchmarks/update_docs.py" % DOC.relative_to(ROOT), file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
