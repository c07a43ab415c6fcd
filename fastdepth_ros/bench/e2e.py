"""Node end to end across processes: camera publisher -> ``depth_node`` -> depth receiver.

The bench starts the real console script ``depth_node`` (its own process, the shipped
parameter file plus ``model_path``) and, per mode, a driver process (``python -m
fastdepth_ros.bench.e2e``) that publishes 640x480 rgb8 ``image`` + ``camera_info`` stamped
with the host clock at publish time, and subscribes ``depth`` + ``depth/camera_info``.

* latency = receive time - header.stamp (same host clock, so no sync error);
* output rate = depth images received per second of the measuring window;
* dropped = frames published in the window whose depth never arrived (the node keeps only
  the newest frame, so under overload it drops instead of queueing);
* backlog = outputs still arriving more than one frame period after the publisher stopped
  (queued work), plus the latency drift from the first to the last quarter of the window;
* node CPU % from /proc/<pid>/stat (utime+stime over the window; 100 % = one core), peak
  RSS from /proc/<pid>/status VmHWM;
* the node's own per-stage timings (queue, convert, info_wait, preprocess, inference, postprocess,
  publish) from its /diagnostics, to show where the time goes.

Modes: ``30`` (or any rate in Hz), ``max`` (publish back to back: the publisher competes
with the node for the CPU, as a too-fast camera driver would), ``lockstep`` (publish the
next frame as soon as the previous depth arrived: the node's sustainable throughput) and
``idle`` / ``idle@<Hz>`` (camera at 30 Hz or the given rate, nobody subscribed to the depth:
the node's CPU while idle; with ``lazy`` it does not even subscribe to the image).

DDS setup is private to the run (a random ROS_DOMAIN_ID, localhost discovery, Fast DDS with
the package's shared-memory profile), so a bench never talks to a live robot graph.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from .. import topics
from ..dds import private_graph_env
from ..stats import summarize_ms

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
WIDTH, HEIGHT = 640, 480
IDLE_LABEL = "idle, camera at %g Hz"


# --------------------------------------------------------------------------- environment


def ros_env(domain_id: Optional[int] = None) -> Dict[str, str]:
    """Environment for the node and driver processes: a private graph (:mod:`fastdepth_ros.dds`)
    on a random domain in 101-199, so a bench next to a demo or a test run does not meet them."""
    return private_graph_env(domain_id if domain_id is not None else random.randint(101, 199))


#: Named node configurations for ``--e2e-whatif`` (depth_node parameters), measured at the
#: first publish rate next to the default configuration.
WHATIF: Dict[str, List[str]] = {
    "spin": ["ort_allow_spinning:=true"],  # ORT pool threads busy-wait (ORT's default)
    "nospin": ["ort_allow_spinning:=false"],  # ORT pool threads sleep between frames (the node's default)
    "1thread": ["intra_op_threads:=1"],  # ORT on one core, the other left to DDS/executor
    "eager": ["lazy:=false"],  # subscribe and infer even with no depth subscriber
}


def whatif_params(names: Sequence[str]) -> List[str]:
    """``-p`` values for the named WHATIF configurations (KeyError names the unknown one)."""
    out: List[str] = []
    for name in names:
        if name not in WHATIF:
            raise KeyError("unknown what-if %r (known: %s)" % (name, ", ".join(sorted(WHATIF))))
        out += WHATIF[name]
    return out


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (and its threads), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kib(pid: int, key: str) -> Optional[int]:
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------- driver process


def _driver(cfg: Dict[str, object]) -> Dict[str, object]:
    """Runs in its own process with ros_env(): publish, receive, measure; returns a dict."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from .. import camera_info
    from ..imaging import numpy_to_image

    mode = str(cfg["mode"])
    seconds = float(cfg["seconds"])  # type: ignore[arg-type]
    warmup_s = float(cfg["warmup_s"])  # type: ignore[arg-type]
    node_pid = int(cfg["node_pid"])  # type: ignore[arg-type]
    # camera_info timing (bench/info_wait.py): None = before the image (exact pairing at once);
    # >= 0 = that many ms after it (image_transport CameraPublisher's order); "none" = no
    # camera_info; "mismatch" = 3 ms after, its stamp 1 us off (an exact pair never comes)
    info_after = cfg.get("info_after_ms")
    idle = mode.startswith("idle")
    if idle:
        rate_hz = float(mode.partition("@")[2] or 30.0)
    else:
        rate_hz = float(mode) if mode not in ("max", "lockstep") else 0.0

    rclpy.init()
    node = rclpy.create_node("fastdepth_bench_driver")
    pub_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
    sub_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
    img_pub = node.create_publisher(Image, "image", pub_qos)
    info_pub = node.create_publisher(CameraInfo, "camera_info", pub_qos)

    lock = threading.Lock()
    arrived = threading.Event()
    depth_rx: Dict[int, float] = {}  # stamp ns -> receive time ns
    info_rx: Dict[int, float] = {}
    diag: Dict[str, str] = {}

    def on_depth(msg: Image) -> None:
        now = time.time_ns()
        key = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with lock:
            depth_rx[key] = now
        arrived.set()

    def on_info(msg: CameraInfo) -> None:
        now = time.time_ns()
        key = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with lock:
            info_rx[key] = now

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith(("latency", "input", "depth output", "camera_info")):
                for kv in status.values:
                    diag["%s/%s" % (status.name.split(": ")[-1], kv.key)] = kv.value

    if not idle:  # idle: the depth has no subscriber
        node.create_subscription(Image, topics.DEPTH_IMAGE, on_depth, sub_qos)
        node.create_subscription(CameraInfo, topics.DEPTH_CAMERA_INFO, on_info, sub_qos)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    img = numpy_to_image(frame, "rgb8")
    img.header.frame_id = "camera"
    info = camera_info.to_msg(camera_info.pinhole(525.0, 525.0, 319.5, 239.5, WIDTH, HEIGHT), "camera")

    def publish_one() -> int:
        ns = time.time_ns()
        sec, nsec = divmod(ns, 1_000_000_000)
        img.header.stamp.sec = info.header.stamp.sec = int(sec)
        img.header.stamp.nanosec = info.header.stamp.nanosec = int(nsec)
        if info_after is None:
            info_pub.publish(info)  # first, so the node can pair by exact stamp
            img_pub.publish(img)
            return ns
        img_pub.publish(img)
        if info_after == "none":
            return ns
        if info_after == "mismatch":
            info.header.stamp.sec, info.header.stamp.nanosec = divmod(ns - 1000, 1_000_000_000)
        time.sleep((3.0 if info_after == "mismatch" else float(info_after)) / 1e3)
        info_pub.publish(info)
        return ns

    # discovery: wait until the node subscribes our image topic and publishes depth (idle:
    # until it publishes depth; a lazy node never subscribes the image then)
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and (
        (img_pub.get_subscription_count() == 0 and not idle) or node.count_publishers(topics.DEPTH_IMAGE) == 0
    ):
        time.sleep(0.05)
    if node.count_publishers(topics.DEPTH_IMAGE) == 0 or (img_pub.get_subscription_count() == 0 and not idle):
        raise RuntimeError("depth_node did not subscribe to 'image' / publish depth within 30 s")

    def run_phase(duration: float) -> List[int]:
        return _publish_phase(publish_one, mode, rate_hz, duration, arrived)

    run_phase(warmup_s)
    time.sleep(0.5)
    with lock:
        depth_rx.clear()
        info_rx.clear()
    cpu0, wall0 = proc_cpu_s(node_pid), time.monotonic()
    own0 = time.process_time()
    sent = run_phase(seconds)
    image_subscribed = img_pub.get_subscription_count() > 0
    wall1 = time.monotonic()
    cpu1 = proc_cpu_s(node_pid)
    own1 = time.process_time()
    stop_ns = time.time_ns()
    time.sleep(max(1.0, 3.0 / rate_hz if rate_hz else 1.0))  # let in-flight outputs arrive
    time.sleep(1.2)  # and one more diagnostics update
    executor.shutdown(timeout_sec=1.0)
    with lock:
        d_rx, i_rx = dict(depth_rx), dict(info_rx)
    node.destroy_node()
    rclpy.try_shutdown()

    window = wall1 - wall0
    return dict(
        mode=mode if mode in ("max", "lockstep") else (IDLE_LABEL if idle else "%g Hz") % rate_hz,
        image_subscribed_by_node=image_subscribed,
        **_receipt(sent, d_rx, i_rx, stop_ns, rate_hz, window),
        node_cpu_percent=round(100.0 * (cpu1 - cpu0) / window, 1),
        driver_cpu_percent=round(100.0 * (own1 - own0) / window, 1),
        node_diagnostics=diag,
    )


def _publish_phase(publish_one, mode: str, rate_hz: float, duration_s: float,
                   arrived: threading.Event) -> List[int]:
    """Publish for ``duration_s``: paced at ``rate_hz``, back to back (``max``) or each frame
    after the previous depth arrived (``lockstep``); returns the stamps sent (ns)."""
    sent: List[int] = []
    period = 1.0 / rate_hz if rate_hz > 0 else 0.0
    t_end = time.monotonic() + duration_s
    next_t = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= t_end:
            break
        if period:
            if now < next_t:
                time.sleep(next_t - now)
            next_t += period
            if next_t < time.monotonic() - period:  # fell behind (descheduled): resync
                next_t = time.monotonic()
        elif mode == "lockstep":
            arrived.clear()
            sent.append(publish_one())
            arrived.wait(timeout=1.0)
            continue
        sent.append(publish_one())
    return sent


def _receipt(sent: Sequence[int], d_rx: Dict[int, float], i_rx: Dict[int, float], stop_ns: int,
             rate_hz: float, window_s: float) -> Dict[str, object]:
    """Counts, rates, latencies, drift and backlog of one measuring window (stamps in ns)."""
    sent_set = set(sent)
    lat = [(d_rx[s] - s) / 1e6 for s in sent if s in d_rx]
    info_lat = [(i_rx[s] - s) / 1e6 for s in sent if s in i_rx]
    period_ns = int(1e9 / rate_hz) if rate_hz else int(0.1e9)
    late = sum(1 for s in sent if s in d_rx and d_rx[s] > stop_ns + period_ns)
    q = max(1, len(lat) // 4)
    drift = float(np.median(lat[-q:]) - np.median(lat[:q])) if len(lat) >= 8 else None
    window = window_s
    received = sum(1 for s in d_rx if s in sent_set)
    return {
        "seconds": round(window, 2),
        "published": len(sent),
        "input_hz": round(len(sent) / window, 2),
        "received_depth": received,
        "received_camera_info": sum(1 for s in i_rx if s in sent_set),
        "output_hz": round(received / window, 2),
        "dropped": len(sent) - received,
        "latency_ms": summarize_ms(lat),
        "camera_info_latency_ms": summarize_ms(info_lat),
        "latency_drift_ms": round(drift, 3) if drift is not None else None,
        "backlog": late,
    }


def _relay() -> None:
    """Transport floor: a node with depth_node's name, topics, QoS depths and newest-frame
    slot (:class:`~fastdepth_ros.latest.LatestSlot`) that answers each image with a
    ready-made 224x224 32FC1 depth + camera_info carrying the image's stamp (no model, no
    processing), from a worker thread like depth_node's.  Driver latency against it is DDS
    in + out + rclpy message conversion + the slot's thread handoff."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, Image

    from ..imaging import image_msg_to_rgb8, numpy_to_image
    from ..latest import LatestSlot
    from ..node import NODE_NAME
    from ..qos import input_qos, output_qos
    from ..spinning import spin_until_shutdown

    rclpy.init()
    node = rclpy.create_node(NODE_NAME)
    # depth_node's default QoS (fastdepth_ros.qos)
    in_qos = input_qos()
    out_qos = output_qos()
    depth_pub = node.create_publisher(Image, topics.DEPTH_IMAGE, out_qos)
    info_pub = node.create_publisher(CameraInfo, topics.DEPTH_CAMERA_INFO, out_qos)
    depth = np.ones((224, 224), np.float32)
    slot: LatestSlot = LatestSlot()

    def work() -> None:
        while not slot.closed:
            msg = slot.take(timeout_s=0.5)
            if msg is None:
                continue
            image_msg_to_rgb8(msg)  # the node's zero-copy view, for parity
            out = numpy_to_image(depth, "32FC1", header=msg.header)
            info = CameraInfo()
            info.header = out.header
            depth_pub.publish(out)
            info_pub.publish(info)

    node.create_subscription(Image, "image", slot.put, in_qos)
    threading.Thread(target=work, daemon=True).start()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin_until_shutdown(executor)
    slot.close()
    os._exit(0)


# --------------------------------------------------------------------------- orchestration


def _stage_p50(diag: Dict[str, str]) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for k, v in diag.items():
        if k.startswith("latency/") and k.endswith(" p50 (ms)"):
            try:
                out[k[len("latency/"):-len(" p50 (ms)")]] = round(float(v), 3)
            except ValueError:
                pass
    return out


def run_e2e(
    model_path: str,
    modes: Sequence[str],
    seconds: float,
    warmup_s: float = 2.0,
    params_file: Optional[str] = None,
    extra_params: Sequence[str] = (),
    log=print,
    relay: bool = False,
    whatif: Sequence[str] = (),
    driver_options: Optional[Dict[str, object]] = None,
) -> List[Dict[str, object]]:
    """Start depth_node (or, with ``relay``, the transport-floor relay) once, run the driver
    per mode; one result dict per mode."""
    from ..resources import console_command, default_params_file, stop_process

    env = ros_env()
    if params_file is None:
        try:
            p = default_params_file()
            params_file = str(p) if p.is_file() else ""
        except FileNotFoundError:
            params_file = ""
    cmd = console_command("depth_node") + ["--ros-args"]
    if relay:
        cmd = [sys.executable, "-m", "fastdepth_ros.bench.e2e", "--relay"]
        params_file, extra_params = "", ()
    if params_file:
        cmd += ["--params-file", params_file]
    if not relay:
        cmd += ["-p", "model_path:=%s" % model_path]
    for extra in list(extra_params) + ([] if relay else whatif_params(whatif)):
        cmd += ["-p", extra]
    results: List[Dict[str, object]] = []
    with tempfile.TemporaryFile(mode="w+") as node_log:
        proc = subprocess.Popen(cmd, env=env, stdout=node_log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            for mode in modes:
                log("  e2e %s: %.0f s ..." % (mode, seconds))
                cfg = {"mode": mode, "seconds": seconds, "warmup_s": warmup_s, "node_pid": proc.pid}
                cfg.update(driver_options or {})
                if proc.poll() is not None:
                    raise RuntimeError("depth_node exited with %s" % proc.returncode)
                drv = subprocess.run(
                    [sys.executable, "-m", "fastdepth_ros.bench.e2e", json.dumps(cfg)],
                    env=env, capture_output=True, text=True, timeout=seconds + warmup_s + 90)
                lines = [ln for ln in drv.stdout.splitlines() if ln.startswith("{")]
                if drv.returncode != 0 or not lines:
                    results.append({"mode": mode, "error": "driver failed (rc %s): %s" % (
                        drv.returncode, (drv.stderr or drv.stdout).strip()[-600:])})
                    continue
                r = json.loads(lines[-1])
                r["node_stage_p50_ms"] = _stage_p50(r.get("node_diagnostics", {}))
                rss_kib = proc_status_kib(proc.pid, "VmRSS")  # now, after this window (soak: growth)
                r["node_rss_mib"] = round(rss_kib / 1024, 1) if rss_kib else None
                r["finished_monotonic_s"] = time.monotonic()
                r["node_pid"] = proc.pid
                if relay:
                    r["mode"] += " relay (transport floor, no model)"
                if whatif:
                    r["mode"] += " what-if: " + "+".join(whatif)
                    r["whatif"] = list(whatif)
                results.append(r)
        except Exception as exc:  # report, never hang the bench
            results.append({"mode": ",".join(modes), "error": "%s: %s" % (type(exc).__name__, exc)})
        finally:
            rss = proc_status_kib(proc.pid, "VmHWM")
            stop_process(proc)
            node_log.seek(0)
            tail = node_log.read()[-2000:]
        for r in results:
            r["node_peak_rss_mib"] = round(rss / 1024, 1) if rss else None
            r["node_command"] = " ".join(cmd)
            if "error" in r:
                r["node_log_tail"] = tail
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="bench driver (internal: run by fastdepth-ros bench)")
    parser.add_argument("config", nargs="?", help="JSON: mode, seconds, warmup_s, node_pid")
    parser.add_argument("--relay", action="store_true", help="run the transport-floor relay node")
    args = parser.parse_args(argv)
    if args.relay:
        _relay()
        return 0
    result = _driver(json.loads(args.config))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip slow DDS teardown of daemon threads


if __name__ == "__main__":
    sys.exit(main())
