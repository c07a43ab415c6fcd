"""Replay a bag through the running node, then write the report: the step that
``fastdepth-ros replay`` and ``fastdepth-ros demo`` share."""

from __future__ import annotations

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
