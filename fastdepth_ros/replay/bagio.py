"""rosbag2 reading and writing with ``rosbags`` (no rclpy, no rosbag2 install needed).

Reading: bag directories (``metadata.yaml`` + sqlite3 ``.db3`` or ``.mcap`` files) and bare
``.db3`` / ``.mcap`` storage files.  Every failure of the underlying library (missing or
truncated files, a malformed ``metadata.yaml``, a damaged sqlite database or mcap chunk,
undecodable messages) is re-raised as :class:`BagError` naming the bag and the problem,
so command line tools can print one line and exit non-zero instead of a traceback.

Writing: rosbag2 format **version 8**, the newest that Humble's ``ros2 bag play`` reads;
messages are CDR with definitions and type hashes from rosbags' ROS 2 Humble typestore
(identical wire format for the sensor_msgs / diagnostic_msgs types we write on later
distributions).  :class:`BagWriter` writes into a hidden sibling directory and moves it
into place only when it is closed successfully; :meth:`BagWriter.abort` (or an exception
inside ``with``) removes it, so a failed run never leaves a half-written bag behind.  A
``KeyboardInterrupt`` inside ``with`` *closes* the bag (a valid, shorter bag): Ctrl-C
on a recording keeps what was recorded.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
RANGE = "sensor_msgs/msg/Range"
DIAGNOSTIC_ARRAY = "diagnostic_msgs/msg/DiagnosticArray"
CLOCK = "rosgraph_msgs/msg/Clock"

#: rosbag2 format version written by :class:`BagWriter`: Humble reads up to 8 (9 changed
#: the QoS serialisation, which Humble cannot parse).
BAG_VERSION = 8

_TYPESTORE = None


class BagError(RuntimeError):
    """A bag cannot be read or written; the message names the path and the problem."""


def typestore():
    """rosbags' ROS 2 Humble typestore (message classes, CDR (de)serialisation, hashes)."""
    global _TYPESTORE
    if _TYPESTORE is None:
        from rosbags.typesys import Stores, get_typestore

        _TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
    return _TYPESTORE


def ns_to_sec_nsec(t_ns: int) -> Tuple[int, int]:
    return int(t_ns // 1_000_000_000), int(t_ns % 1_000_000_000)


# --------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagMessage:
    """One stored message: ``raw`` is its CDR bytes, ``t_ns`` the bag's log (receive) time."""

    topic: str
    msgtype: str
    t_ns: int
    raw: bytes


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError) or type(exc).__module__ == "apsw":
        text = "sqlite3: %s: %s" % (type(exc).__name__, text)
    return text


# What rosbags (and the libraries under it) raise on damaged input.  struct.error and
# EOFError come from a truncated mcap record, KeyError/IndexError/AssertionError from
# inconsistent indices, UnicodeDecodeError from garbage strings, ValueError from the
# YAML parser and the zstd decompressor.
_READ_ERRORS: Tuple[type, ...] = (
    OSError,
    EOFError,
    sqlite3.Error,
    struct.error,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AssertionError,
    UnicodeDecodeError,
)


def _read_errors() -> Tuple[type, ...]:
    from rosbags.interfaces import ConnectionExtRosbag2  # noqa: F401  (import check)
    from rosbags.rosbag2 import ReaderError

    extra: List[type] = [ReaderError]
    try:  # rosbags reads sqlite3 bags through apsw, whose errors are not sqlite3.Error
        import apsw

        extra.append(apsw.Error)
    except ImportError:  # pragma: no cover
        pass
    try:
        from rosbags.serde import SerdeError

        extra.append(SerdeError)
    except ImportError:  # pragma: no cover - older rosbags
        pass
    try:
        from rosbags.typesys.base import TypesysError

        extra.append(TypesysError)
    except ImportError:  # pragma: no cover
        pass
    return _READ_ERRORS + tuple(extra)


class BagReader:
    """Read a rosbag2 bag (directory, ``.db3`` or ``.mcap``); use as a context manager.

    >>> with BagReader("my_bag") as bag:
    ...     for m in bag.messages(["/camera/image_raw"]):
    ...         img = bag.deserialize(m)
    """

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.path = Path(path)
        self._reader = None
        if not self.path.exists():
            raise BagError("%s: no such bag (file or directory does not exist)" % self.path)
        if self.path.is_dir() and not (self.path / "metadata.yaml").is_file():
            raise BagError(
                "%s: not a rosbag2 bag directory (no metadata.yaml); pass the bag directory "
                "or a .db3/.mcap file" % self.path
            )
        self._errors = _read_errors()

    # context management ---------------------------------------------------------
    def open(self) -> BagReader:
        from rosbags.rosbag2 import Reader

        try:
            reader = Reader(self.path)
            reader.open()
        except self._errors as exc:
            raise BagError("%s: cannot open bag: %s" % (self.path, _describe(exc))) from exc
        self._reader = reader
        return self

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except self._errors:  # closing a damaged bag must not mask the first error
                pass

    def __enter__(self) -> BagReader:
        return self.open() if self._reader is None else self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # metadata -------------------------------------------------------------------
    @property
    def reader(self):
        if self._reader is None:
            raise BagError("%s: bag is not open" % self.path)
        return self._reader

    @property
    def topics(self) -> Dict[str, TopicInfo]:
        out: Dict[str, TopicInfo] = {}
        for c in self.reader.connections:
            prev = out.get(c.topic)
            out[c.topic] = TopicInfo(c.topic, c.msgtype, (prev.count if prev else 0) + int(c.msgcount))
        return out

    @property
    def start_ns(self) -> int:
        return int(self.reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self.reader.end_time)

    @property
    def message_count(self) -> int:
        return int(self.reader.message_count)

    def msgtype(self, topic: str) -> Optional[str]:
        info = self.topics.get(topic)
        return info.msgtype if info else None

    # messages -------------------------------------------------------------------
    def messages(self, topics: Optional[Iterable[str]] = None) -> Iterator[BagMessage]:
        """Messages in log-time order (optionally only ``topics``), as raw CDR."""
        wanted = None if topics is None else set(topics)
        conns = [c for c in self.reader.connections if wanted is None or c.topic in wanted]
        if not conns:
            return
        it = self.reader.messages(connections=conns)
        while True:
            try:
                conn, t_ns, raw = next(it)
            except StopIteration:
                return
            except self._errors as exc:
                raise BagError(
                    "%s: damaged bag, cannot read messages: %s" % (self.path, _describe(exc))
                ) from exc
            yield BagMessage(conn.topic, conn.msgtype, int(t_ns), bytes(raw))

    def deserialize(self, message: BagMessage) -> Any:
        try:
            return typestore().deserialize_cdr(message.raw, message.msgtype)
        except self._errors as exc:
            raise BagError(
                "%s: cannot decode a %s message on %s at t=%d ns: %s"
                % (self.path, message.msgtype, message.topic, message.t_ns, _describe(exc))
            ) from exc

    def validate(self, topics: Optional[Iterable[str]] = None, decode: bool = True) -> int:
        """Read (and by default decode) every message; raise :class:`BagError` on damage.

        Run before a replay so a truncated bag fails up front, not half-way through with
        a half-written output bag.  Returns the number of messages read.
        """
        n = 0
        for m in self.messages(topics):
            if decode:
                self.deserialize(m)
            n += 1
        expected = sum(t.count for t in self.topics.values() if topics is None or t.name in set(topics))
        if expected and n < expected:
            raise BagError(
                "%s: truncated bag: metadata lists %d messages, only %d could be read"
                % (self.path, expected, n)
            )
        return n


# --------------------------------------------------------------------------- writing
class BagWriter:
    """Write a version-8 rosbag2 bag atomically (see module docstring).

    ``storage`` is ``"sqlite3"`` (default, what Humble's ``ros2 bag record`` writes) or
    ``"mcap"``; ``compress=True`` zstd-compresses mcap chunks (storage-level, which the
    Humble mcap plugin reads).  Topics are registered on first write.
    """

    def __init__(
        self, path: os.PathLike[str] | str, storage: str = "sqlite3", compress: bool = False
    ) -> None:
        from rosbags.rosbag2 import StoragePlugin

        self.path = Path(path)
        storage = storage.lower()
        plugins = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
        if storage not in plugins:
            raise BagError("%s: unknown storage %r (use sqlite3 or mcap)" % (self.path, storage))
        if compress and storage != "mcap":
            raise BagError("%s: compression is only supported with mcap storage" % self.path)
        if self.path.exists():
            raise BagError(
                "%s exists already; refusing to overwrite it (remove it or pick another name)" % self.path
            )
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self._tmpdir = self.path.parent / (".%s.partial-%d" % (self.path.name, os.getpid()))
        if self._tmpdir.exists():
            shutil.rmtree(self._tmpdir)
        self._tmpdir.mkdir()
        from rosbags.rosbag2 import CompressionFormat, CompressionMode, Writer

        self._writer = Writer(
            self._tmpdir / self.path.name, version=BAG_VERSION, storage_plugin=plugins[storage]
        )
        if compress:
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        try:
            self._writer.open()
        except Exception:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            raise
        self._connections: Dict[Tuple[str, str], Any] = {}
        self.counts: Dict[str, int] = {}
        self.closed = False

    def connection(self, topic: str, msgtype: str) -> Any:
        key = (topic, msgtype)
        conn = self._connections.get(key)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[key] = conn
        return conn

    def write_raw(self, topic: str, msgtype: str, t_ns: int, raw: bytes) -> None:
        if self.closed:
            raise BagError("%s: bag is closed" % self.path)
        self._writer.write(self.connection(topic, msgtype), int(t_ns), raw)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def write(self, topic: str, msgtype: str, t_ns: int, msg: Any) -> None:
        """Write a rosbags message object (see :func:`make_image` and friends)."""
        self.write_raw(topic, msgtype, t_ns, bytes(typestore().serialize_cdr(msg, msgtype)))

    def close(self) -> Path:
        """Finish the bag (metadata, indices) and move it to ``path``; returns ``path``."""
        if self.closed:
            return self.path
        self.closed = True
        try:
            self._writer.close()
            os.replace(self._tmpdir / self.path.name, self.path)
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        """Discard everything written; nothing is left at ``path``."""
        if self.closed:
            return
        self.closed = True
        try:
            self._writer.abort()
        except Exception:  # noqa: BLE001 - we are throwing it all away anyway
            pass
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None or (exc_type is not None and issubclass(exc_type, KeyboardInterrupt)):
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------- messages
def _header(t_ns: int, frame_id: str) -> Any:
    ts = typestore()
    sec, nsec = ns_to_sec_nsec(t_ns)
    return ts.types["std_msgs/msg/Header"](
        stamp=ts.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec), frame_id=frame_id
    )


def _image_fields(fill: Any, *args: Any, **kwargs: Any) -> SimpleNamespace:
    """Run one of :mod:`fastdepth_ros.imaging`'s message builders (the one owner of
    encodings, channel counts, byte order and ``step``) on a plain stand-in message."""
    msg = SimpleNamespace(header=None)
    fill(*args, msg=msg, **kwargs)
    msg.data = np.frombuffer(msg.data, dtype=np.uint8)  # rosbags wants uint8 arrays
    return msg


def make_image(array: np.ndarray, encoding: str, t_ns: int, frame_id: str) -> Any:
    """A rosbags ``sensor_msgs/Image`` holding ``array`` (tight rows), built by
    :func:`fastdepth_ros.imaging.numpy_to_image`."""
    from ..imaging import numpy_to_image

    f = _image_fields(numpy_to_image, array, encoding)
    return typestore().types[IMAGE](
        header=_header(t_ns, frame_id), height=f.height, width=f.width, encoding=f.encoding,
        is_bigendian=f.is_bigendian, step=f.step, data=f.data,
    )


def make_compressed(rgb8: np.ndarray, t_ns: int, frame_id: str, fmt: str = "jpeg", quality: int = 90) -> Any:
    """A rosbags ``sensor_msgs/CompressedImage`` (image_transport ``format`` string), built by
    :func:`fastdepth_ros.imaging.numpy_to_compressed`."""
    from ..imaging import numpy_to_compressed

    f = _image_fields(numpy_to_compressed, rgb8, "rgb8", fmt, jpeg_quality=quality)
    return typestore().types[COMPRESSED_IMAGE](header=_header(t_ns, frame_id), format=f.format, data=f.data)


def make_camera_info(k: Any, t_ns: int, frame_id: str) -> Any:
    """A rosbags ``CameraInfo`` for an undistorted pinhole camera
    (:func:`fastdepth_ros.camera_info.pinhole`).

    ``k`` has ``fx, fy, cx, cy, width, height`` attributes (e.g. :class:`Intrinsics`).
    """
    from ..camera_info import pinhole

    cam = pinhole(float(k.fx), float(k.fy), float(k.cx), float(k.cy), int(k.width), int(k.height))
    ts = typestore()
    x, y, w, h, rectify = cam.roi
    roi = ts.types["sensor_msgs/msg/RegionOfInterest"](
        x_offset=x, y_offset=y, height=h, width=w, do_rectify=rectify
    )
    return ts.types[CAMERA_INFO](
        header=_header(t_ns, frame_id),
        height=cam.height,
        width=cam.width,
        distortion_model=cam.distortion_model,
        d=np.asarray(cam.d, dtype=np.float64),
        k=cam.k.astype(np.float64).reshape(-1),
        r=cam.r.astype(np.float64).reshape(-1),
        p=cam.p.astype(np.float64).reshape(-1),
        binning_x=cam.binning_x,
        binning_y=cam.binning_y,
        roi=roi,
    )


def make_range(range_m: float, fov_rad: float, min_range_m: float, max_range_m: float, t_ns: int,
               frame_id: str) -> Any:
    """A rosbags ``sensor_msgs/Range`` (infrared) on the camera's optical axis."""
    return typestore().types[RANGE](
        header=_header(t_ns, frame_id), radiation_type=1, field_of_view=float(fov_rad),
        min_range=float(min_range_m), max_range=float(max_range_m), range=float(range_m),
    )


def decode_image(msg: Any, msgtype: str) -> Tuple[np.ndarray, str]:
    """(array, encoding) of a deserialised ``Image`` or ``CompressedImage``."""
    from ..imaging import compressed_to_numpy, image_to_numpy

    if msgtype == COMPRESSED_IMAGE:
        return compressed_to_numpy(msg)
    return image_to_numpy(msg), str(msg.encoding)
