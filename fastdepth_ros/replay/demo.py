"""``fastdepth-ros demo``: the node + the shipped sample bag + a report, in one command.

1. find the sample bag (share/fastdepth_ros/data/sample_bag/) and the model (the
   package's default, or ``--model``);
2. isolate DDS the way the tests do: a private ``ROS_DOMAIN_ID``, localhost-only
   discovery, Fast DDS with the package's shared-memory profile (``config/fastdds_shm.xml``);
3. start ``depth_node`` (the console script next to this Python) with the package's
   ``config/fastdepth.yaml``, ``use_sim_time``, and the image transport the bag needs;
4. replay the bag at recorded timing, record the node's outputs into
   ``<report>/output_bag`` (rosbag2 v8), write ``report.json``, ``frames.csv``,
   ``montage.png`` and the node's log into ``<report>`` (default ``reports/demo``);
5. print a short summary table and stop the node (SIGINT, then kill).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from ..dds import private_graph_env

SAMPLE_BAG_NAME = "sample_bag"  # a rosbag2 folder: metadata.yaml + sample_bag.mcap


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="", help="ONNX model (default: the package's models/fastdepth.onnx)")
    p.add_argument("--bag", default="", help="bag to replay (default: the shipped sample bag)")
    p.add_argument("--report", default="reports/demo", help="report folder (default reports/demo)")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed; 0 = as fast as the node keeps up")
    p.add_argument("--providers", default="cpu", help="node execution providers, e.g. cuda,cpu (default cpu)")
    p.add_argument("--domain-id", type=int, default=0, help="ROS_DOMAIN_ID (default: private, from the pid)")
    p.add_argument("--wait-node", type=float, default=60.0, help="seconds to wait for the node to start")
    p.add_argument("--no-progress", action="store_true")


def sample_bag() -> Path:
    from ..resources import CHECKOUT_ROOT, share_dir

    candidates = []
    try:
        candidates.append(share_dir() / "data" / SAMPLE_BAG_NAME)
    except FileNotFoundError:
        pass
    candidates.append(CHECKOUT_ROOT / "data" / SAMPLE_BAG_NAME)
    for c in candidates:
        if (c / "metadata.yaml").is_file():
            return c
    raise FileNotFoundError(
        "sample bag not found (looked at %s); reinstall with scripts/venv.sh runtime,ros "
        "or pass --bag" % ", ".join(str(c) for c in candidates)
    )


def dds_env(domain_id: int = 0) -> Dict[str, str]:
    """The demo's private graph (:mod:`fastdepth_ros.dds`), also applied to this process,
    which publishes the bag itself."""
    return private_graph_env(domain_id or None, apply=True)


def node_command(model: Path, compressed: bool, providers: str) -> List[str]:
    from ..resources import console_command, default_params_file

    cmd = console_command("depth_node") + ["--ros-args"]
    params = default_params_file()
    if params.is_file():
        cmd += ["--params-file", str(params)]
    provs = [p.strip() for p in providers.split(",") if p.strip()]
    cmd += [
        "-p",
        "model_path:=%s" % model,
        "-p",
        "providers:=[%s]" % ",".join('"%s"' % p for p in provs),
        "-p",
        "image_transport:=%s" % ("compressed" if compressed else "raw"),
        "-p",
        "use_sim_time:=true",
        "-p",
        "publish_colored:=false",
    ]
    return cmd


def cmd_demo(args: argparse.Namespace) -> int:
    from ..resources import default_model_path, stop_process
    from . import bagio
    from .player import ReplayConfig, _Stop, detect_topics
    from .report import format_summary
    from .run import EXIT_ERROR, run_replay_and_report

    try:
        bag = Path(args.bag) if args.bag else sample_bag()
        model = Path(args.model) if args.model else default_model_path()
    except FileNotFoundError as exc:
        print("demo: error: %s" % exc, file=sys.stderr)
        return EXIT_ERROR
    if not model.is_file():
        print(
            "demo: error: model %s not found%s"
            % (
                model,
                ""
                if args.model
                else " (the package's default model is missing: pass --model PATH to an "
                "ONNX FastDepth model)",
            ),
            file=sys.stderr,
        )
        return EXIT_ERROR
    try:
        with bagio.BagReader(bag) as reader:
            _, image_type, _ = detect_topics(reader, None, None)
    except Exception as exc:  # noqa: BLE001 - BagError/ReplayError: one line
        print("demo: error: %s" % exc, file=sys.stderr)
        return EXIT_ERROR
    report_dir = Path(args.report)
    report_dir.mkdir(parents=True, exist_ok=True)
    out_bag = report_dir / "output_bag"
    for old in (out_bag,):
        if old.exists():
            shutil.rmtree(old)
    for name in ("report.json", "frames.csv", "montage.png"):
        (report_dir / name).unlink(missing_ok=True)

    env = dds_env(args.domain_id)
    try:
        cmd = node_command(model, image_type == bagio.COMPRESSED_IMAGE, args.providers)
    except FileNotFoundError as exc:
        print("demo: error: %s" % exc, file=sys.stderr)
        return EXIT_ERROR
    log_path = report_dir / "node.log"
    print(
        "demo: starting depth_node (model %s, ROS_DOMAIN_ID=%s); log %s"
        % (model, env["ROS_DOMAIN_ID"], log_path),
        file=sys.stderr,
    )
    with _Stop() as stop, open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def health() -> Optional[str]:
            if proc.poll() is not None:
                return "depth_node exited with code %s before it was ready; see %s:\n%s" % (
                    proc.returncode,
                    log_path,
                    _tail(log_path),
                )
            return None

        t0 = time.monotonic()
        try:
            config = ReplayConfig(
                bag=bag,
                rate=args.rate,
                record=out_bag,
                wait_node_s=args.wait_node,
                health=health,
                progress=not args.no_progress and sys.stderr.isatty(),
            )
            code, report = run_replay_and_report(
                config, report_dir, extra={"model": str(model), "node_command": cmd}, stop=stop
            )
        finally:
            rc = stop_process(proc)
        if rc not in (0, None) and code == 0:
            print("demo: warning: depth_node exited with code %s (see %s)" % (rc, log_path), file=sys.stderr)
    if report is None:
        return code or EXIT_ERROR
    print()
    print(
        "FastDepth demo: %s through depth_node (%s), %.1f s"
        % (bag.name, args.providers, time.monotonic() - t0)
    )
    print(format_summary(report))
    print("report: %s (frames.csv, montage.png, output_bag/)" % (report_dir / "report.json"))
    return code


def _tail(path: Path, n: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""
