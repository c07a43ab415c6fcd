"""Publish a rosbag2 bag onto the live ROS graph at recorded timing, with ``/clock``.

What is published: the bag's colour topic (``sensor_msgs/Image``, or ``CompressedImage``
on ``<image topic>/compressed``) and its ``camera_info``, as the serialized bytes stored
in the bag (no decode/re-encode, header stamps untouched), plus ``rosgraph_msgs/Clock``
carrying the bag time of each message so a node started with ``use_sim_time:=true``
follows the bag's time line.  Metric anchors in the bag (Image or Range topics with
``anchor`` in their name, as ``make-bag --anchor-points/--anchor-range`` writes them) go to
the node's ``anchor/depth`` and ``anchor/range`` unless ``anchors`` is off.  Messages
sharing a log time are sent camera_info first and the image last, so the node can pair the
image with the camera_info (and anchors) of the same stamp.

Timing: ``rate`` > 0 replays at ``rate`` x the recorded pace (sleeping against a monotonic
clock; falling behind never accumulates a debt beyond the current message);
``rate == 0`` is lock-step, "as fast as the node keeps up": the next image is sent when
the depth for the previous one arrived (or after ``lockstep_timeout_s``: dropped).
``loop`` repeats the bag, shifting every stamp and the clock by the bag's length so time
keeps moving forward.

The bag is read once completely before anything is published, so a truncated or
damaged bag fails with :class:`~.bagio.BagError` before the output bag is created.
Ctrl-C (SIGINT) and SIGTERM stop the replay between messages; the recorder then closes
its bag normally (valid, just shorter).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..spinning import spin_until_shutdown
from . import bagio
from .recorder import Recorder, cdr_stamp_ns, cdr_with_stamp

DIAGNOSTICS_WAIT_S = 1.5  # longer than the node's 1 Hz diagnostics period


class ReplayError(RuntimeError):
    """The replay cannot start or run (no node listening, bad topics...)."""


@dataclass
class ReplayConfig:
    bag: Path
    rate: float = 1.0
    loop: bool = False
    loops: int = 0  # with loop: stop after this many passes (0 = until Ctrl-C)
    record: Optional[Path] = None
    storage: str = "sqlite3"
    # topics in the input bag (None: detected from the message types)
    bag_image_topic: Optional[str] = None
    bag_info_topic: Optional[str] = None
    anchors: bool = True  # publish the bag's anchor topics (see detect_anchor_topics)
    anchor_depth_topic: str = "/anchor/depth"
    anchor_range_topic: str = "/anchor/range"
    # live topics (defaults fit depth_node with no namespace/remapping)
    image_topic: str = "/image"
    info_topic: str = "/camera_info"
    depth_topic: str = "/depth/image"
    depth_info_topic: str = "/depth/camera_info"
    diagnostics_topic: str = "/diagnostics"
    clock: bool = True
    wait_node_s: float = 30.0
    settle_s: float = 0.5
    drain_s: float = 3.0
    lockstep_timeout_s: float = 5.0
    max_frames: int = 0
    progress: bool = True
    # called while waiting for the node: returns an error text when waiting is pointless
    # (e.g. the demo's node process exited)
    health: Optional[Callable[[], Optional[str]]] = None


@dataclass
class Published:
    index: int  # frame index within the bag (0-based), same for every loop pass
    stamp_ns: int  # stamp as published (shifted on loop passes > 0)
    bag_stamp_ns: int  # stamp as stored in the bag
    sent_s: float  # time.monotonic()


@dataclass
class ReplayResult:
    bag: Path
    image_topic: str
    image_msgtype: str
    info_topic: Optional[str]
    published: List[Published] = field(default_factory=list)
    recorder: Optional[Recorder] = None
    recorded_bag: Optional[Path] = None
    interrupted: bool = False
    started_s: float = 0.0
    finished_s: float = 0.0
    rate: float = 1.0


def detect_topics(
    bag: bagio.BagReader, image: Optional[str], info: Optional[str]
) -> Tuple[str, str, Optional[str]]:
    """(image topic, its msgtype, camera_info topic) from explicit names or message types.

    The colour topic is the Image/CompressedImage topic whose name does not mention depth;
    the camera_info is the one sharing the longest prefix with it, preferring non-depth.
    """
    topics = bag.topics
    if image is None:
        cands = [
            t
            for t in topics.values()
            if t.msgtype in (bagio.IMAGE, bagio.COMPRESSED_IMAGE) and "depth" not in t.name.lower()
            and "anchor" not in t.name.lower()
        ]
        if not cands:
            raise ReplayError(
                "%s: no colour image topic (Image or CompressedImage without 'depth' in its name); "
                "topics: %s; pass --bag-image-topic" % (bag.path, ", ".join(sorted(topics)) or "none")
            )
        cands.sort(key=lambda t: (t.msgtype != bagio.IMAGE, t.name))
        image = cands[0].name
    if image not in topics:
        raise ReplayError(
            "%s: no topic %s in the bag (it has %s)" % (bag.path, image, ", ".join(sorted(topics)))
        )
    msgtype = topics[image].msgtype
    if msgtype not in (bagio.IMAGE, bagio.COMPRESSED_IMAGE):
        raise ReplayError("%s: %s is a %s, not an image" % (bag.path, image, msgtype))
    if info is None:
        infos = [t.name for t in topics.values() if t.msgtype == bagio.CAMERA_INFO]

        def score(name: str) -> Tuple[int, int]:
            prefix = 0
            for a, b in zip(name, image):
                if a != b:
                    break
                prefix += 1
            return ("depth" in name.lower(), -prefix)

        info = sorted(infos, key=score)[0] if infos else None
    elif info not in topics:
        raise ReplayError("%s: no camera_info topic %s in the bag" % (bag.path, info))
    return image, msgtype, info


def detect_anchor_topics(bag: bagio.BagReader) -> Dict[str, str]:
    """{bag topic: msgtype} of metric anchors: Image or Range topics named ``*anchor*``."""
    return {t.name: t.msgtype for t in bag.topics.values()
            if "anchor" in t.name.lower() and t.msgtype in (bagio.IMAGE, bagio.RANGE)}


class _RangePublisher:
    """Range changed between distributions (Jazzy added ``variance``), so the bag's CDR bytes
    (rosbags' Humble definition) cannot be sent as they are: decoded and rebuilt as the
    running distribution's message (variance 0 = unknown where it exists)."""

    def __init__(self, pub: Any, cls: Any) -> None:
        self.pub, self.cls = pub, cls

    def publish(self, raw: bytes) -> None:
        m = bagio.typestore().deserialize_cdr(bytes(raw), bagio.RANGE)
        out = self.cls(radiation_type=int(m.radiation_type), field_of_view=float(m.field_of_view),
                       min_range=float(m.min_range), max_range=float(m.max_range), range=float(m.range))
        out.header.frame_id = m.header.frame_id
        out.header.stamp.sec, out.header.stamp.nanosec = int(m.header.stamp.sec), int(m.header.stamp.nanosec)
        self.pub.publish(out)


def _grouped(bag: bagio.BagReader, topics: List[str]) -> Iterator[List[bagio.BagMessage]]:
    """Messages grouped by log time; camera_info first and the image (``topics[0]``) last
    within a group, so the node has the frame's camera_info and anchors when it arrives."""
    group: List[bagio.BagMessage] = []

    def ordered(g: List[bagio.BagMessage]) -> List[bagio.BagMessage]:
        return sorted(g, key=lambda x: (x.topic == topics[0], x.msgtype != bagio.CAMERA_INFO))

    for m in bag.messages(topics):
        if group and m.t_ns != group[0].t_ns:
            yield ordered(group)
            group = []
        group.append(m)
    if group:
        yield ordered(group)


class _Stop:
    """SIGINT/SIGTERM -> a flag the replay loop polls; restores the old handlers on exit."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._old: Dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.event.is_set():  # second Ctrl-C: give up waiting, still close cleanly
            raise KeyboardInterrupt
        self.event.set()

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True when stopped."""
        return self.event.wait(max(0.0, seconds))


def replay(config: ReplayConfig, stop: Optional[_Stop] = None) -> ReplayResult:
    """Run one replay (see module docstring); returns what was sent and received."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Range

    if config.rate < 0:
        raise ReplayError("--rate must be >= 0 (0 = as fast as the node keeps up)")
    bag, image_topic, image_type, info_topic = _open_bag(config)
    anchor_topics = detect_anchor_topics(bag) if config.anchors else {}
    topics = [image_topic] + ([info_topic] if info_topic else []) + sorted(anchor_topics)
    n_images = bag.topics[image_topic].count
    t_first = bag.start_ns
    span_ns = max(bag.end_ns - bag.start_ns, 0)

    result = ReplayResult(config.bag, image_topic, image_type, info_topic, rate=config.rate)
    context = rclpy.context.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("fastdepth_replay", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    clock_ns = [t_first]
    recorder: Optional[Recorder] = None
    spin_thread: Optional[threading.Thread] = None
    own_stop = stop is None
    stop = stop or _Stop()
    ok = False
    try:
        with stop if own_stop else _NullContext():
            recorder = Recorder(
                node,
                {
                    "depth": config.depth_topic,
                    "depth_info": config.depth_info_topic,
                    "diagnostics": config.diagnostics_topic,
                },
                config.record,
                lambda: clock_ns[0],
                storage=config.storage,
            )
            result.recorder = recorder
            pub_qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
            )
            compressed = image_type == bagio.COMPRESSED_IMAGE
            live_image = config.image_topic.rstrip("/") + ("/compressed" if compressed else "")
            image_pub = node.create_publisher(CompressedImage if compressed else Image, live_image, pub_qos)
            info_pub = node.create_publisher(CameraInfo, config.info_topic, pub_qos)
            anchor_pubs = {
                name: _RangePublisher(node.create_publisher(Range, config.anchor_range_topic, pub_qos), Range)
                if msgtype == bagio.RANGE
                else node.create_publisher(Image, config.anchor_depth_topic, pub_qos)
                for name, msgtype in anchor_topics.items()}
            clock_pub = node.create_publisher(Clock, "/clock", pub_qos) if config.clock else None
            spin_thread = threading.Thread(
                target=spin_until_shutdown, args=(executor,), name="replay_spin", daemon=True
            )
            spin_thread.start()

            _wait_for_node(config, node, image_pub, recorder, stop, image_type)
            progress = _progress_bar(config, n_images) if config.progress else None
            result.started_s = time.monotonic()
            try:
                _run(
                    config,
                    bag,
                    topics,
                    image_topic,
                    image_pub,
                    anchor_pubs,
                    info_pub,
                    clock_pub,
                    Clock,
                    recorder,
                    result,
                    stop,
                    clock_ns,
                    t_first,
                    span_ns,
                    progress,
                )
            finally:
                if progress is not None:
                    progress.close()
            _drain(config, recorder, result, stop)
            result.finished_s = time.monotonic()
            result.interrupted = stop.event.is_set()
            ok = True
    except KeyboardInterrupt:
        result.interrupted = True
        ok = True
    finally:
        executor.shutdown(timeout_sec=1.0)
        if spin_thread is not None:
            spin_thread.join(2.0)
        if recorder is not None:
            if ok:
                result.recorded_bag = recorder.close()
            else:
                recorder.abort()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        bag.close()
        if not result.finished_s:
            result.finished_s = time.monotonic()
    return result


def _open_bag(config: ReplayConfig) -> Tuple[bagio.BagReader, str, str, Optional[str]]:
    """The open, validated input bag and its (image topic, image type, camera_info topic)."""
    bag = bagio.BagReader(config.bag).open()
    try:
        image_topic, image_type, info_topic = detect_topics(
            bag, config.bag_image_topic, config.bag_info_topic
        )
        if bag.topics[image_topic].count == 0:
            raise ReplayError("%s: %s has no messages" % (bag.path, image_topic))
        topics = [image_topic] + ([info_topic] if info_topic else [])
        bag.validate(topics, decode=False)  # fail on a damaged bag before creating any output
    except BaseException:
        bag.close()
        raise
    return bag, image_topic, image_type, info_topic


def _wait_for_node(config: ReplayConfig, node: Any, image_pub: Any, recorder: Recorder, stop: _Stop,
                   image_type: str) -> None:
    """Until the node publishes depth, then -- once the recorder subscribes it: a lazy node
    subscribes its input only while its outputs are subscribed -- until it subscribes our
    image topic (ReplayError after ``wait_node_s`` or when ``config.health`` reports a
    problem), then until the recorder is matched and ``settle_s`` has passed."""
    deadline = time.monotonic() + config.wait_node_s

    def wait(ready: Callable[[], bool]) -> None:
        while not ready():
            problem = config.health() if config.health is not None else None
            if problem:
                raise ReplayError(problem)
            if stop.sleep(0.05) or time.monotonic() > deadline:
                if stop.event.is_set():
                    return
                raise ReplayError(
                    "no depth node after %.0f s: nobody subscribes %s (%s) or publishes %s. Is depth_node"
                    " running on the same ROS_DOMAIN_ID/RMW%s?"
                    % (
                        config.wait_node_s,
                        image_pub.topic_name,
                        image_type,
                        config.depth_topic,
                        ", with image_transport:=compressed" if image_type == bagio.COMPRESSED_IMAGE else "",
                    )
                )

    wait(lambda: node.count_publishers(config.depth_topic) > 0)
    recorder.subscribe_matching(timeout_s=2.0)
    wait(lambda: image_pub.get_subscription_count() > 0)
    if not stop.event.is_set():
        waited = time.monotonic() + 5.0
        while recorder.publisher_count("depth") == 0 and time.monotonic() < waited:
            stop.sleep(0.05)
        stop.sleep(config.settle_s)


def _progress_bar(config: ReplayConfig, n_images: int) -> Any:
    from tqdm import tqdm

    total = n_images if not config.loop or config.loops <= 0 else n_images * config.loops
    if config.max_frames > 0:
        total = min(total, config.max_frames)
    return tqdm(
        total=total if not (config.loop and config.loops <= 0) else None,
        unit="frame",
        desc="replay",
        file=sys.stderr,
        dynamic_ncols=True,
    )


def _drain(config: ReplayConfig, recorder: Recorder, result: ReplayResult, stop: _Stop) -> None:
    """Wait for the outputs of frames still in flight, then for one diagnostics report."""
    deadline = time.monotonic() + config.drain_s
    sent = {p.stamp_ns for p in result.published}
    while not stop.event.is_set() and time.monotonic() < deadline:
        got = {r.stamp_ns for r in recorder.stamps("depth")}
        if sent <= got:
            break
        stop.sleep(0.05)
    stop.sleep(0.2)  # let trailing depth/camera_info land
    # The node reports at ~1 Hz on a steady timer, so a short replay can end between two
    # reports; wait for one issued after the last output so the recording holds the node's
    # state over the whole run (what a user inspects afterwards).
    if recorder.publisher_count("diagnostics") > 0:
        seen = recorder.count("diagnostics")
        deadline = time.monotonic() + DIAGNOSTICS_WAIT_S
        while not stop.event.is_set() and time.monotonic() < deadline:
            if recorder.count("diagnostics") > seen:
                break
            stop.sleep(0.05)


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _run(
    config: ReplayConfig,
    bag: bagio.BagReader,
    topics: List[str],
    image_topic: str,
    image_pub: Any,
    anchor_pubs: Dict[str, Any],
    info_pub: Any,
    clock_pub: Any,
    clock_cls: Any,
    recorder: Recorder,
    result: ReplayResult,
    stop: _Stop,
    clock_ns: List[int],
    t_first: int,
    span_ns: int,
    progress: Any,
) -> None:
    period_guess = 0
    passes = 0
    sent = 0
    while not stop.event.is_set():
        offset = passes * (span_ns + max(period_guess, 1))
        wall0 = time.monotonic()
        index = 0
        last_t = None
        for group in _grouped(bag, topics):
            if stop.event.is_set():
                return
            t_bag = group[0].t_ns
            if last_t is not None:
                period_guess = t_bag - last_t if period_guess == 0 else min(period_guess, t_bag - last_t)
            last_t = t_bag
            if config.rate > 0 and stop.sleep(
                wall0 + (t_bag - t_first) / 1e9 / config.rate - time.monotonic()
            ):
                return
            t_live = t_bag + offset
            clock_ns[0] = t_live
            if clock_pub is not None:
                msg = clock_cls()
                msg.clock.sec, msg.clock.nanosec = bagio.ns_to_sec_nsec(t_live)
                clock_pub.publish(msg)
            for m in group:
                raw = m.raw
                stamp = cdr_stamp_ns(raw)
                if offset and stamp is not None:
                    raw = cdr_with_stamp(raw, stamp + offset)
                if m.topic == image_topic:
                    entry = Published(index, (stamp or 0) + offset, stamp or 0, time.monotonic())
                    result.published.append(entry)
                    image_pub.publish(raw)
                    index += 1
                    sent += 1
                    if progress is not None:
                        progress.update(1)
                    if config.rate == 0:
                        _wait_output(recorder, entry.stamp_ns, config.lockstep_timeout_s, stop)
                    if config.max_frames > 0 and sent >= config.max_frames:
                        return
                else:
                    anchor_pubs.get(m.topic, info_pub).publish(raw)
        passes += 1
        if not config.loop or (config.loops > 0 and passes >= config.loops):
            return


def _wait_output(recorder: Recorder, stamp_ns: int, timeout_s: float, stop: _Stop) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stamp_ns in recorder.depth_stamps:
            return
        if stop.sleep(0.002):
            return
