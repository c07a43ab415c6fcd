"""Replay a bag through the running node, then write the report: the step that
``fastdepth-ros replay`` and ``fastdepth-ros demo`` share."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from . import bagio
from .player import ReplayConfig, ReplayError, replay

PathLike = Union[str, Path]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def run_replay_and_report(
    config: ReplayConfig,
    report_dir: Optional[PathLike],
    gt_topic: Optional[str] = None,
    montage_frames: int = 4,
    extra: Optional[Dict[str, Any]] = None,
    stop: Any = None,
) -> Tuple[int, Optional[Dict[str, Any]]]:
    """Replay, then (if ``report_dir``) write the report; returns (exit code, report or None)."""
    from .report import build_report

    try:
        result = replay(config, stop=stop)
    except (bagio.BagError, ReplayError) as exc:
        print("replay: error: %s" % exc, file=sys.stderr)
        return EXIT_ERROR, None
    rec = result.recorder
    n_depth = rec.count("depth") if rec else 0
    print(
        "replay: published %d frames, received %d depth%s%s"
        % (
            len(result.published),
            n_depth,
            "; recorded %s" % result.recorded_bag if result.recorded_bag else "",
            " (interrupted)" if result.interrupted else "",
        ),
        file=sys.stderr,
    )
    report = None
    if report_dir is not None:
        try:
            report = build_report(
                config.bag,
                result.recorded_bag,
                result.published,
                rec.received if rec else [],
                Path(report_dir),
                image_topic=result.image_topic,
                info_topic=result.info_topic,
                gt_topic=gt_topic,
                depth_topic=config.depth_topic,
                depth_info_topic=config.depth_info_topic,
                montage_frames=montage_frames,
                extra=dict(extra or {}, interrupted=result.interrupted, rate=config.rate),
            )
        except (bagio.BagError, OSError, ValueError) as exc:
            print("replay: error writing the report: %s" % exc, file=sys.stderr)
            return EXIT_ERROR, None
    return (EXIT_INTERRUPTED if result.interrupted else 0), report


def run_with_and_without_anchors(
    config: ReplayConfig,
    report_dir: PathLike,
    record_dir: Path,
    gt_topic: Optional[str] = None,
    montage_frames: int = 4,
) -> Tuple[int, Optional[Dict[str, Any]]]:
    """Replay twice through the same node: without the bag's anchors (into
    ``report_dir/without_anchors``), then with them (``report_dir``); the main report gains
    ``anchoring``: δ1 (and AbsRel) of both passes beside the median-scaled shape bound."""
    from dataclasses import replace

    out = Path(report_dir)
    code, plain = run_replay_and_report(
        replace(config, anchors=False, record=record_dir / "without_anchors"), out / "without_anchors",
        gt_topic, montage_frames)
    if code != 0 or plain is None:
        return code, plain
    code, anchored = run_replay_and_report(
        replace(config, anchors=True, record=record_dir / "with_anchors"), out, gt_topic, montage_frames)
    if anchored is None:
        return code, anchored

    def pick(metrics: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        return None if not metrics else {k: metrics.get(k) for k in ("delta1", "absrel", "rmse_m")}

    anchored["anchoring"] = {
        "without_anchors": pick(plain.get("metrics")),
        "with_anchors": pick(anchored.get("metrics")),
        "median_scaled_without_anchors": pick(plain.get("metrics_median_scaled")),
        "without_anchors_report": "without_anchors/report.json",
    }
    (out / "report.json").write_text(json.dumps(anchored, indent=2) + "\n")
    return code, anchored
