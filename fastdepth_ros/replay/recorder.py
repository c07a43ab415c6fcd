"""Record the depth node's outputs into a version-8 rosbag2 bag, as serialized CDR.

Subscriptions are created with ``raw=True``: rclpy hands over the serialized bytes, which
are exactly what a rosbag2 bag stores, so nothing is decoded or re-encoded on the hot
path.  Each subscription copies the *publisher's* reliability once it is discovered
(a reliable subscription cannot match a best-effort publisher; a best-effort one would
lose messages of a reliable publisher under load), like ``ros2 bag record`` does.

Besides writing the bag, the recorder keeps a small in-memory log of (topic, header
stamp, monotonic receive time) for the report's latency and rate figures.
"""

from __future__ import annotations

import queue
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from . import bagio


def cdr_stamp_ns(raw: bytes) -> Optional[int]:
    """``header.stamp`` of a serialized message whose first field is a std_msgs/Header.

    CDR: 4-byte encapsulation header (byte 1: 0 = big, 1 = little endian), then
    ``int32 sec`` and ``uint32 nanosec``.  None for anything too short or unknown.
    """
    if len(raw) < 12 or raw[1] not in (0, 1):
        return None
    sec, nsec = struct.unpack("<iI" if raw[1] == 1 else ">iI", raw[4:12])
    return sec * 1_000_000_000 + nsec


def cdr_with_stamp(raw: bytes, stamp_ns: int) -> bytes:
    """``raw`` with its leading header stamp replaced (used to shift looped replays)."""
    sec, nsec = bagio.ns_to_sec_nsec(stamp_ns)
    fmt = "<iI" if raw[1] == 1 else ">iI"
    return raw[:4] + struct.pack(fmt, sec, nsec) + raw[12:]


@dataclass(frozen=True)
class Received:
    topic: str
    stamp_ns: Optional[int]
    recv_s: float  # time.monotonic()


# topic role -> message type
OUTPUT_TYPES = {
    "depth": bagio.IMAGE,
    "depth_info": bagio.CAMERA_INFO,
    "diagnostics": bagio.DIAGNOSTIC_ARRAY,
}


def _msg_class(msgtype: str) -> Any:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image

    return {bagio.IMAGE: Image, bagio.CAMERA_INFO: CameraInfo, bagio.DIAGNOSTIC_ARRAY: DiagnosticArray}[
        msgtype
    ]


class Recorder:
    """Subscribe to ``topics`` (role -> topic name) on ``node``; write to ``out`` if given.

    ``log_time_ns()`` gives the bag log time of each received message (the replay's
    simulated clock, so the output bag lines up with the input bag's time line).
    """

    def __init__(
        self,
        node: Any,
        topics: Dict[str, str],
        out: Optional[Path],
        log_time_ns: Callable[[], int],
        storage: str = "sqlite3",
    ) -> None:
        self.node = node
        self.topics = dict(topics)
        self.log_time_ns = log_time_ns
        self.lock = threading.Lock()
        self.received: List[Received] = []
        self.depth_stamps: set = set()
        self.writer: Optional[_WriterThread] = _WriterThread(out, storage) if out is not None else None
        self._subs: Dict[str, Any] = {}
        self._stopped = False

    def subscribe(self, role: str, reliability: Any = None) -> None:
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

        if role in self._subs:
            return
        topic = self.topics[role]
        msgtype = OUTPUT_TYPES[role]
        if reliability is None:
            reliability = ReliabilityPolicy.RELIABLE
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=100,
            reliability=reliability,
            durability=DurabilityPolicy.VOLATILE,
        )
        self._subs[role] = self.node.create_subscription(
            _msg_class(msgtype), topic, self._callback(topic, msgtype), qos, raw=True
        )

    def subscribe_matching(self, timeout_s: float = 0.0) -> None:
        """Subscribe every role, copying the reliability of its discovered publishers."""
        from rclpy.qos import ReliabilityPolicy

        deadline = time.monotonic() + timeout_s
        for role, topic in self.topics.items():
            reliability = None
            while True:
                infos = self.node.get_publishers_info_by_topic(topic)
                if infos or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            if infos and any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos):
                reliability = ReliabilityPolicy.BEST_EFFORT
            self.subscribe(role, reliability)

    def _callback(self, topic: str, msgtype: str) -> Callable[[bytes], None]:
        def on_message(raw: bytes) -> None:
            now = time.monotonic()
            with self.lock:
                if self._stopped:
                    return
                stamp = cdr_stamp_ns(raw)
                self.received.append(Received(topic, stamp, now))
                if topic == self.topics.get("depth"):
                    self.depth_stamps.add(stamp)
                if self.writer is not None:
                    self.writer.put((topic, msgtype, self.log_time_ns(), bytes(raw)))

        return on_message

    def publisher_count(self, role: str) -> int:
        """Publishers matched to our subscription (graph count by topic on Humble, whose
        rclpy Subscription has no ``get_publisher_count``; that arrived in Iron)."""
        sub = self._subs.get(role)
        if sub is None:
            return 0
        if hasattr(sub, "get_publisher_count"):
            return sub.get_publisher_count()
        return self.node.count_publishers(self.topics[role])

    def stamps(self, role: str) -> List[Received]:
        topic = self.topics[role]
        with self.lock:
            return [r for r in self.received if r.topic == topic]

    def count(self, role: str) -> int:
        return len(self.stamps(role))

    def stop(self) -> None:
        """Stop accepting messages (call before closing or aborting the bag)."""
        with self.lock:
            self._stopped = True

    def close(self) -> Optional[Path]:
        """Finish the bag; it appears at its final path only now."""
        self.stop()
        return self.writer.finish(keep=True) if self.writer is not None else None

    def abort(self) -> None:
        self.stop()
        if self.writer is not None:
            self.writer.finish(keep=False)


class _WriterThread:
    """Owns the :class:`~.bagio.BagWriter` in one thread (sqlite3 objects are bound to the
    thread that made them) and keeps disk I/O out of the subscription callbacks."""

    def __init__(self, out: Path, storage: str) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self._result: Optional[Path] = None
        self._thread = threading.Thread(target=self._run, args=(out, storage), name="bag_writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def put(self, item: Any) -> None:
        self.queue.put(item)

    def _run(self, out: Path, storage: str) -> None:
        try:
            writer = bagio.BagWriter(out, storage=storage)
        except BaseException as exc:  # reported to the constructor
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                item = self.queue.get()
                if item is None or isinstance(item, bool):
                    break
                writer.write_raw(*item)
        except BaseException as exc:
            writer.abort()
            self._error = exc
            return
        if item is False:
            writer.abort()
        else:
            self._result = writer.close()

    def finish(self, keep: bool) -> Optional[Path]:
        if self._thread.is_alive():
            self.queue.put(None if keep else False)
            self._thread.join()
        if self._error is not None:
            raise bagio.BagError("writing the output bag failed: %s" % self._error) from self._error
        return self._result
