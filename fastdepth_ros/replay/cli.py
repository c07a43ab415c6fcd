"""``fastdepth-ros replay | make-bag | demo`` (registered by :mod:`fastdepth_ros.cli`).

Heavy imports (rclpy, rosbags, cv2) happen inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path


def add_live_topic_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live topics (defaults fit depth_node without namespace or remapping)")
    g.add_argument(
        "--image-topic",
        default="/image",
        help="publish colour here (CompressedImage bags: <this>/compressed)",
    )
    g.add_argument("--info-topic", default="/camera_info")
    g.add_argument("--depth-topic", default="/depth/image")
    g.add_argument("--depth-info-topic", default="/depth/camera_info")
    g.add_argument("--diagnostics-topic", default="/diagnostics")


def add_bag_topic_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("topics in the input bag (default: detected from message types)")
    g.add_argument("--bag-image-topic", default=None, help="colour Image/CompressedImage topic")
    g.add_argument("--bag-info-topic", default=None, help="its CameraInfo topic")
    g.add_argument("--gt-topic", default=None, help="ground-truth depth Image (16UC1 mm or 32FC1 m)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="publish a rosbag2 bag to the running depth node, record its outputs, write a report",
        description="Publish BAG's colour + camera_info topics (and /clock) at recorded timing to a running "
        "depth_node, record depth, depth/camera_info and /diagnostics into a rosbag2 v8 bag, and "
        "optionally write a report (metrics vs ground truth, latency, rate).",
    )
    p.add_argument("bag", help="rosbag2 bag directory, or a .mcap / .db3 file")
    p.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="playback speed factor; 0 = as fast as the node keeps up (lock-step)",
    )
    p.add_argument("--loop", action="store_true", help="repeat the bag (stamps keep increasing) until Ctrl-C")
    p.add_argument("--loops", type=int, default=0, help="with --loop: stop after N passes")
    p.add_argument(
        "--record", default=None, help="output bag directory for the node's outputs (must not exist)"
    )
    p.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3", help="output bag storage")
    p.add_argument("--report", default=None, help="write report.json, frames.csv, montage.png here")
    p.add_argument("--montage-frames", type=int, default=4)
    p.add_argument("--no-anchors", action="store_true",
                   help="do not publish the bag's metric anchors (topics named *anchor*) to the node")
    p.add_argument("--compare-anchors", action="store_true",
                   help="with --report: replay twice, without and with the bag's anchors, and report "
                   "both (needs a bag with anchors, e.g. make-bag --anchor-points 40)")
    p.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    p.add_argument("--wait-node", type=float, default=30.0, help="seconds to wait for the node to appear")
    p.add_argument("--max-frames", type=int, default=0, help="stop after N images (0 = all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_bag_topic_args(p)
    add_live_topic_args(p)
    p.set_defaults(func=cmd_replay)

    from .make_bag import add_args, cmd_make_bag

    p = sub.add_parser(
        "make-bag",
        help="build a rosbag2 bag from image files or RGB-D pairs (TUM folders) with camera_info",
        description="Build a rosbag2 v8 bag (colour, camera_info, ground-truth depth) from a TUM RGB-D "
        "sequence or from folders/globs of images.",
    )
    add_args(p)
    p.set_defaults(func=cmd_make_bag)

    from .bag_folder import add_args as add_folder_args
    from .bag_folder import cmd_bag_to_folder

    p = sub.add_parser(
        "bag-to-folder",
        help="write a recorded bag's colour + registered depth + camera_info as an RGB-D folder",
        description="Pair colour (Image or CompressedImage) and registered depth (16UC1 mm / 32FC1 m) "
        "by stamp and write the RGB-D folder layout of docs/model.md (rgb/, depth/ uint16 mm, meta.json "
        "with the camera_info intrinsics), for train/eval/adapt.",
    )
    add_folder_args(p)
    p.set_defaults(func=cmd_bag_to_folder)

    from .demo import add_args as add_demo_args
    from .demo import cmd_demo

    p = sub.add_parser(
        "demo",
        help="start the node, replay the shipped sample bag, print a summary, write a report",
        description="Start depth_node (default model, use_sim_time), replay the sample bag through it, "
        "record its outputs and write reports/demo/ (report.json, frames.csv, montage.png).",
    )
    add_demo_args(p)
    p.set_defaults(func=cmd_demo)


def config_from_args(args: argparse.Namespace, record: Path):
    from .player import ReplayConfig

    return ReplayConfig(
        bag=Path(args.bag),
        rate=args.rate,
        loop=args.loop,
        loops=args.loops,
        record=record,
        storage=args.storage,
        bag_image_topic=args.bag_image_topic,
        bag_info_topic=args.bag_info_topic,
        anchors=not args.no_anchors,
        image_topic=args.image_topic,
        info_topic=args.info_topic,
        depth_topic=args.depth_topic,
        depth_info_topic=args.depth_info_topic,
        diagnostics_topic=args.diagnostics_topic,
        clock=not args.no_clock,
        wait_node_s=args.wait_node,
        max_frames=args.max_frames,
        progress=not args.no_progress and sys.stderr.isatty(),
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from .report import format_summary
    from .run import EXIT_ERROR, run_replay_and_report, run_with_and_without_anchors

    if args.record and Path(args.record).exists():
        print("replay: error: %s exists already; refusing to overwrite it" % args.record, file=sys.stderr)
        return EXIT_ERROR
    tmp = None
    record = Path(args.record) if args.record else None
    if record is None and args.report:
        tmp = Path(tempfile.mkdtemp(prefix="fastdepth_replay_"))
        record = tmp / "outputs"
    if args.compare_anchors and not args.report:
        print("replay: error: --compare-anchors needs --report", file=sys.stderr)
        return EXIT_ERROR
    try:
        if args.compare_anchors:
            base = tmp if record is None else record  # two recordings: <base>/without_anchors, with_anchors
            base.mkdir(parents=True, exist_ok=True)
            code, report = run_with_and_without_anchors(
                config_from_args(args, None), args.report, base, gt_topic=args.gt_topic,
                montage_frames=args.montage_frames)
        else:
            code, report = run_replay_and_report(
                config_from_args(args, record), args.report, gt_topic=args.gt_topic,
                montage_frames=args.montage_frames)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if report is not None:
        print(format_summary(report))
        print("report: %s" % Path(args.report, "report.json"))
    return code
