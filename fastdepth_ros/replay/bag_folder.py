"""A recorded rosbag2 bag (colour + registered depth + camera_info) as an RGB-D folder
(``fastdepth-ros bag-to-folder``; the first step of ``fastdepth-ros adapt``).

Why: what a user has is a bag from a data-collection run with a depth camera (RealSense,
ZED, Kinect, a LiDAR projected into the image); training and evaluation read RGB-D folders
(docs/model.md: ``rgb/``, ``depth/`` uint16 mm, ``meta.json`` with the intrinsics).

* Colour: ``sensor_msgs/Image`` (any colour encoding :mod:`fastdepth_ros.imaging` knows:
  rgb8, bgr8, mono8, ...) or ``CompressedImage`` (jpeg/png; JPEG bytes are kept as they are,
  not re-encoded).  Raw images are written as PNG (lossless).
* Depth: ``Image`` 16UC1 (mm) or 32FC1 (m), registered to the colour image (same size, and
  the same intrinsics where the bag has a camera_info beside the depth topic).
* Pairing by header stamp: each colour frame takes the nearest unused depth frame within
  ``tolerance_s``; what stays unpaired is counted and reported.
* Topics are detected from message types (and, for ``Image``, the first message's encoding)
  when there is one obvious candidate each; otherwise :class:`BagFolderError` lists them.
* The folder is written into a hidden sibling and renamed when complete, so a failure
  (damaged bag, disk full) leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..imaging import depth_to_metres
from ..postprocess import to_millimetres
from . import bagio

DEPTH_ENCODINGS = ("16UC1", "32FC1", "mono16")
#: the relative intrinsics difference above which depth counts as not registered to colour
REGISTRATION_TOLERANCE = 0.01


class BagFolderError(ValueError):
    """Bad input for bag-to-folder / adapt; the message says what and how to fix it."""


@dataclass
class Topics:
    colour: str
    colour_type: str
    depth: str
    info: str
    depth_info: Optional[str] = None


@dataclass
class FolderResult:
    """What was written (``meta.json`` holds the same)."""

    path: Path
    frames: int
    unpaired_colour: int
    unpaired_depth: int
    topics: Topics
    intrinsics: Dict[str, float]
    stamps_ns: List[int] = field(default_factory=list)


# --------------------------------------------------------------------------- topics
def _first_encoding(bag: bagio.BagReader, topic: str) -> Optional[str]:
    for m in bag.messages([topic]):
        return str(bag.deserialize(m).encoding)
    return None


def _namespace(topic: str) -> str:
    return topic.rstrip("/").rsplit("/", 1)[0]


def _info_beside(infos: Sequence[str], image_topic: str) -> List[str]:
    """camera_info topics in ``image_topic``'s namespace (or its parent, for .../compressed)."""
    ns = _namespace(image_topic)
    near = [t for t in infos if _namespace(t) == ns]
    if not near and image_topic.rstrip("/").endswith("/compressed"):
        near = [t for t in infos if _namespace(t) == _namespace(ns)]
    return near


def _pick(kind: str, cands: List[str], flag: str, bag: Path, prefer=None) -> str:
    if len(cands) == 1:
        return cands[0]
    if prefer is not None:
        preferred = [c for c in cands if prefer(c)]
        if len(preferred) == 1:
            return preferred[0]
    if not cands:
        raise BagFolderError("%s: no %s topic in the bag; pass %s" % (bag, kind, flag))
    raise BagFolderError(
        "%s: %d candidate %s topics, pick one with %s: %s" % (bag, len(cands), kind, flag, ", ".join(cands))
    )


def detect_topics(
    bag: bagio.BagReader,
    colour: Optional[str] = None,
    depth: Optional[str] = None,
    info: Optional[str] = None,
) -> Topics:
    """The colour, depth and camera_info topics: given ones are checked, missing ones detected."""
    topics = bag.topics
    for name, flag in ((colour, "--image-topic"), (depth, "--depth-topic"), (info, "--camera-info-topic")):
        if name is not None and name not in topics:
            raise BagFolderError(
                "%s: no topic %s (%s); the bag has: %s"
                % (bag.path, name, flag, ", ".join(sorted(topics)) or "none")
            )
    colours, depths = [], []
    for t in topics.values():
        if t.msgtype == bagio.COMPRESSED_IMAGE and "depth" not in t.name.lower():
            colours.append(t.name)  # compressedDepth streams carry depth in their names
        elif t.msgtype == bagio.IMAGE and t.count > 0:
            (depths if _first_encoding(bag, t.name) in DEPTH_ENCODINGS else colours).append(t.name)
    infos = sorted(t.name for t in topics.values() if t.msgtype == bagio.CAMERA_INFO)
    colour = colour or _pick("colour image", sorted(colours), "--image-topic", bag.path)
    depth = depth or _pick(
        "depth image (16UC1/32FC1)",
        sorted(depths),
        "--depth-topic",
        bag.path,
        prefer=lambda n: any(w in n.lower() for w in ("aligned", "registered")),
    )
    if info is None:
        if not infos:
            raise BagFolderError(
                "%s: no camera_info (sensor_msgs/CameraInfo) topic: the intrinsics are needed to "
                "learn metric depth; record the colour camera's camera_info too" % bag.path
            )
        near = _info_beside(infos, colour)
        info = near[0] if len(near) == 1 else _pick("camera_info", infos, "--camera-info-topic", bag.path)
    if topics[colour].msgtype not in (bagio.IMAGE, bagio.COMPRESSED_IMAGE):
        raise BagFolderError("%s: %s is a %s, not an image" % (bag.path, colour, topics[colour].msgtype))
    if topics[depth].msgtype != bagio.IMAGE:
        raise BagFolderError("%s: %s is a %s, not a depth Image" % (bag.path, depth, topics[depth].msgtype))
    if topics[info].msgtype != bagio.CAMERA_INFO:
        raise BagFolderError("%s: %s is a %s, not a CameraInfo" % (bag.path, info, topics[info].msgtype))
    depth_infos = [t for t in _info_beside(infos, depth) if t != info]
    return Topics(
        colour, topics[colour].msgtype, depth, info, depth_infos[0] if len(depth_infos) == 1 else None
    )


# --------------------------------------------------------------------------- pairing
def _stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def pair_stamps(
    colour_ns: Sequence[int], depth_ns: Sequence[int], tolerance_ns: int
) -> List[Tuple[int, int]]:
    """(colour index, depth index) pairs: each colour frame, in time order, takes the nearest
    still unused depth frame within ``tolerance_ns`` (one-to-one)."""
    order = np.argsort(np.asarray(depth_ns, dtype=np.int64), kind="stable")
    d_sorted = np.asarray(depth_ns, dtype=np.int64)[order]
    used = np.zeros(len(d_sorted), dtype=bool)
    pairs = []
    for ci in np.argsort(np.asarray(colour_ns, dtype=np.int64), kind="stable"):
        t = int(colour_ns[ci])
        j = int(np.searchsorted(d_sorted, t))
        best = None
        for k in (j - 2, j - 1, j, j + 1):  # the nearest unused neighbours on either side
            if 0 <= k < len(d_sorted) and not used[k] and abs(int(d_sorted[k]) - t) <= tolerance_ns:
                if best is None or abs(int(d_sorted[k]) - t) < abs(int(d_sorted[best]) - t):
                    best = k
        if best is not None:
            used[best] = True
            pairs.append((int(ci), int(order[best])))
    return pairs


# --------------------------------------------------------------------------- intrinsics
def _intrinsics(msg: Any) -> Dict[str, float]:
    k = [float(x) for x in msg.k]
    if len(k) != 9 or k[0] <= 0 or k[4] <= 0:
        raise BagFolderError(
            "camera_info has no valid camera matrix k (fx=%s fy=%s)"
            % (k[0] if k else "?", k[4] if len(k) > 4 else "?")
        )
    return {
        "fx": k[0],
        "fy": k[4],
        "cx": k[2],
        "cy": k[5],
        "width": int(msg.width),
        "height": int(msg.height),
    }


def _differs(a: Dict[str, float], b: Dict[str, float]) -> bool:
    scale = max(a["fx"], a["fy"], 1.0)
    return any(abs(a[k] - b[k]) > REGISTRATION_TOLERANCE * scale for k in ("fx", "fy", "cx", "cy")) or (
        (a["width"], a["height"]) != (b["width"], b["height"])
    )


def _fmt(k: Dict[str, float]) -> str:
    return "fx %.1f fy %.1f cx %.1f cy %.1f %dx%d" % (
        k["fx"],
        k["fy"],
        k["cx"],
        k["cy"],
        k["width"],
        k["height"],
    )


# --------------------------------------------------------------------------- writing
def _write(path: Path, data: bytes) -> None:
    """Write bytes (an OSError, e.g. a full disk, propagates: cv2.imwrite would only say False)."""
    with open(path, "wb") as f:
        f.write(data)


def _encode(ext: str, array: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(ext, array)
    if not ok:
        raise BagFolderError("cannot encode a %s image of shape %s" % (ext, array.shape))
    return buf.tobytes()


def _depth_mm(array: np.ndarray, encoding: str) -> np.ndarray:
    return to_millimetres(depth_to_metres(array, encoding))  # a new array: rounded in place


def _colour(bag: bagio.BagReader, m: bagio.BagMessage) -> Tuple[np.ndarray, Optional[bytes], str]:
    """(rgb8 HxWx3, original JPEG bytes or None, encoding) of a colour message."""
    from ..imaging import ImageDecodeError, to_rgb8

    msg = bag.deserialize(m)
    try:
        array, encoding = bagio.decode_image(msg, m.msgtype)
        rgb = to_rgb8(array, encoding)
    except (ImageDecodeError, ValueError) as exc:
        raise BagFolderError(
            "%s: colour frame on %s at t=%d ns: %s" % (bag.path, m.topic, m.t_ns, exc)
        ) from exc
    jpeg = None
    if m.msgtype == bagio.COMPRESSED_IMAGE and "jpeg" in str(msg.format).lower() and rgb.ndim == 3:
        jpeg = bytes(np.asarray(msg.data, dtype=np.uint8).tobytes())
    return rgb, jpeg, encoding


def bag_to_folder(
    bag_path: os.PathLike[str] | str,
    out: os.PathLike[str] | str,
    image_topic: Optional[str] = None,
    depth_topic: Optional[str] = None,
    info_topic: Optional[str] = None,
    tolerance_s: float = 0.02,
    min_frames: int = 1,
    progress: bool = False,
) -> FolderResult:
    """Write the bag's paired colour/depth frames as an RGB-D folder at ``out`` (must not
    exist).  Raises :class:`BagFolderError` / :class:`bagio.BagError` / ``OSError`` with
    nothing left at ``out``."""
    out = Path(out)
    if out.exists():
        raise BagFolderError("%s exists already; refusing to overwrite it" % out)
    with bagio.BagReader(bag_path) as bag:
        if bag.message_count == 0:
            raise BagFolderError("%s: the bag is empty (no messages)" % bag.path)
        topics = detect_topics(bag, image_topic, depth_topic, info_topic)
        # pass 1: stamps, encodings and camera_infos (decoding headers only costs little)
        colour_ns: List[int] = []
        depth_ns: List[int] = []
        infos: Dict[str, Dict[str, float]] = {}
        depth_shape = None
        for m in bag.messages(
            [t for t in (topics.colour, topics.depth, topics.info, topics.depth_info) if t]
        ):
            msg = bag.deserialize(m)
            if m.topic == topics.colour:
                colour_ns.append(_stamp_ns(msg))
            elif m.topic == topics.depth:
                enc = str(msg.encoding)
                if enc not in DEPTH_ENCODINGS:
                    raise BagFolderError(
                        "%s: %s has encoding %s; depth must be 16UC1 (mm) or 32FC1 (m)"
                        % (bag.path, m.topic, enc)
                    )
                depth_ns.append(_stamp_ns(msg))
                depth_shape = depth_shape or (int(msg.height), int(msg.width))
            elif m.topic not in infos:
                infos[m.topic] = _intrinsics(msg)
        if topics.info not in infos:
            raise BagFolderError("%s: %s holds no camera_info message" % (bag.path, topics.info))
        k = infos[topics.info]
        if topics.depth_info in infos and _differs(k, infos[topics.depth_info]):
            raise BagFolderError(
                "%s: depth is not registered to the colour image: %s has %s, %s has %s; record the "
                "depth aligned to colour (e.g. RealSense align_depth, ZED depth in the left camera frame)"
                % (bag.path, topics.info, _fmt(k), topics.depth_info, _fmt(infos[topics.depth_info]))
            )
        if depth_shape is not None and depth_shape != (k["height"], k["width"]):
            raise BagFolderError(
                "%s: depth is not registered to the colour image: depth frames are %dx%d, the colour "
                "camera_info %s is %dx%d; record the depth aligned to colour"
                % (bag.path, depth_shape[1], depth_shape[0], topics.info, k["width"], k["height"])
            )
        pairs = pair_stamps(colour_ns, depth_ns, int(round(tolerance_s * 1e9)))
        if len(pairs) < max(1, min_frames):
            raise BagFolderError(
                "%s: only %d colour/depth pairs within %.3f s (need at least %d; %d colour frames on %s, "
                "%d depth frames on %s)"
                % (
                    bag.path,
                    len(pairs),
                    tolerance_s,
                    max(1, min_frames),
                    len(colour_ns),
                    topics.colour,
                    len(depth_ns),
                    topics.depth,
                )
            )
        return _write_folder(bag, out, topics, k, colour_ns, depth_ns, pairs, tolerance_s, progress)


def _write_folder(
    bag, out: Path, topics: Topics, k: dict, colour_ns, depth_ns, pairs, tolerance_s: float, progress: bool
) -> FolderResult:
    pairs = sorted(pairs, key=lambda p: colour_ns[p[0]])
    stem_of_colour = {ci: "%05d" % i for i, (ci, _) in enumerate(pairs)}
    stem_of_depth = {di: "%05d" % i for i, (_, di) in enumerate(pairs)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / (".%s.partial-%d" % (out.name, os.getpid()))
    shutil.rmtree(tmp, ignore_errors=True)
    bar = None
    try:
        (tmp / "rgb").mkdir(parents=True)
        (tmp / "depth").mkdir()
        if progress:
            from ..training.progress import Progress  # the project's dependency-free bar (no torch)

            bar = Progress(len(pairs), "bag-to-folder")
        ci = di = 0
        written = 0
        for m in bag.messages([topics.colour, topics.depth]):
            if m.topic == topics.colour:
                stem, ci = stem_of_colour.get(ci), ci + 1
                if stem is None:
                    continue
                rgb, jpeg, _ = _colour(bag, m)
                if rgb.shape[:2] != (k["height"], k["width"]):
                    raise BagFolderError(
                        "%s: colour frame at t=%d ns is %dx%d but camera_info %s is %dx%d"
                        % (bag.path, m.t_ns, rgb.shape[1], rgb.shape[0], topics.info, k["width"], k["height"])
                    )
                if jpeg is not None:
                    _write(tmp / "rgb" / (stem + ".jpg"), jpeg)
                else:
                    _write(
                        tmp / "rgb" / (stem + ".png"), _encode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
                    )
            else:
                stem, di = stem_of_depth.get(di), di + 1
                if stem is None:
                    continue
                msg = bag.deserialize(m)
                from ..imaging import image_to_numpy

                mm = _depth_mm(image_to_numpy(msg), str(msg.encoding))
                if mm.shape != (k["height"], k["width"]):
                    raise BagFolderError(
                        "%s: depth is not registered to the colour image: a depth frame is %dx%d, "
                        "camera_info %s is %dx%d"
                        % (bag.path, mm.shape[1], mm.shape[0], topics.info, k["width"], k["height"])
                    )
                _write(tmp / "depth" / (stem + ".png"), _encode(".png", mm))
                written += 1
                if bar is not None:
                    bar.update(1)
        stamps = [int(colour_ns[c]) for c, _ in pairs]
        meta = {
            "source": "rosbag2 %s" % Path(str(bag.path)).resolve(),
            "license": "the recording's owner's",
            "intrinsics": k,
            "topics": {"colour": topics.colour, "depth": topics.depth, "camera_info": topics.info},
            "pairing": {
                "tolerance_s": tolerance_s,
                "pairs": len(pairs),
                "unpaired_colour": len(colour_ns) - len(pairs),
                "unpaired_depth": len(depth_ns) - len(pairs),
            },
            "frames": [{"id": "%05d" % i, "stamp_ns": t} for i, t in enumerate(stamps)],
        }
        _write(tmp / "meta.json", (json.dumps(meta, indent=1) + "\n").encode())
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.__exit__()
    return FolderResult(
        out, len(pairs), len(colour_ns) - len(pairs), len(depth_ns) - len(pairs), topics, k, stamps
    )


def describe_error(exc: BaseException) -> str:
    """One line for a refused input or a failed write (a full disk named as such)."""
    if isinstance(exc, OSError) and not isinstance(exc, bagio.BagError):
        import errno

        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return "cannot write %s: %s (disk full or file size limit); nothing was kept" % (
                exc.filename or "the output",
                os.strerror(exc.errno),
            )
        return "%s: %s" % (exc.filename or "I/O error", exc.strerror or exc)
    return str(exc)


# --------------------------------------------------------------------------- CLI
def add_topic_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("topics (default: detected when there is one obvious candidate)")
    g.add_argument("--image-topic", help="colour Image (rgb8/bgr8/mono8...) or CompressedImage topic")
    g.add_argument("--depth-topic", help="depth Image registered to colour: 16UC1 mm or 32FC1 m")
    g.add_argument("--camera-info-topic", help="the colour camera's CameraInfo")
    g.add_argument("--max-dt", type=float, default=0.02, help="colour/depth stamp pairing tolerance, s")


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("bag", help="rosbag2 bag directory (sqlite3 or mcap), or a .db3/.mcap file")
    p.add_argument("out", help="RGB-D folder to write (must not exist)")
    p.add_argument("--min-frames", type=int, default=1, help="refuse bags with fewer paired frames")
    add_topic_args(p)


def cmd_bag_to_folder(args: argparse.Namespace) -> int:
    signal_safe_sigxfsz()
    try:
        r = bag_to_folder(
            args.bag,
            args.out,
            args.image_topic,
            args.depth_topic,
            args.camera_info_topic,
            args.max_dt,
            args.min_frames,
            progress=sys.stderr.isatty(),
        )
    except (BagFolderError, bagio.BagError, OSError) as exc:
        print("bag-to-folder: error: %s" % describe_error(exc), file=sys.stderr)
        return 2
    print(
        "wrote %s: %d frames from %s + %s (camera_info %s; %s); unpaired: %d colour, %d depth"
        % (
            r.path,
            r.frames,
            r.topics.colour,
            r.topics.depth,
            r.topics.info,
            _fmt(r.intrinsics),
            r.unpaired_colour,
            r.unpaired_depth,
        )
    )
    return 0


def signal_safe_sigxfsz() -> None:
    """Turn an exceeded file-size limit into an OSError (EFBIG) instead of a silent kill."""
    import signal

    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
