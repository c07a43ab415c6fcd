"""Build a rosbag2 bag from image files or RGB-D pairs (``fastdepth-ros make-bag``).

Sources:

* ``--tum DIR``: a TUM RGB-D sequence (``rgb.txt`` / ``depth.txt`` lists of
  ``timestamp path``; colour PNGs and 16-bit depth PNGs, 5000 units per metre); each
  colour frame is paired with the nearest depth frame within ``--max-dt`` seconds, and
  the colour timestamp becomes the stamp of all three messages.
* ``--rgb DIR_OR_GLOB [--depth DIR_OR_GLOB]``: colour images (any format OpenCV reads),
  optionally with 16-bit depth PNGs (or 32-bit float ``.npy`` / ``.tiff`` in metres),
  paired by sorted order; stamps at ``--rate`` Hz from ``--start``.

Intrinsics (``--intrinsics FILE``): a ROS camera calibration YAML (``image_width``,
``image_height``, ``camera_matrix: {data: [...]}``, as written by camera_calibration),
a ``CameraInfo``-style YAML/JSON with ``width/height/k``, or a JSON/YAML with
``fx fy cx cy width height`` (also nested under ``intrinsics``, as in an RGB-D folder's
``meta.json``: ``--rgb F/rgb --depth F/depth --intrinsics F/meta.json``); or inline
``--intrinsics fx,fy,cx,cy``.

Output (rosbag2 v8): colour on ``/camera/image_raw`` (``rgb8``) or, with ``--compress
jpeg|png``, ``/camera/image_raw/compressed``; ``/camera/camera_info``; ground truth on
``/camera/depth/image_raw`` as 16UC1 millimetres (default) or 32FC1 metres.  With
``--anchor-points K`` and/or ``--anchor-range FOV``, metric anchors sampled from the ground
truth (:mod:`.anchor_sim`): ``/camera/anchor/depth`` (32FC1, K random valid pixels per frame,
NaN elsewhere) and ``/camera/anchor/range`` (``sensor_msgs/Range``), same stamps; ``replay``
feeds them to the node's ``anchor/depth`` and ``anchor/range``.  The bag is written to a
temporary directory and moved into place only when complete.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..geometry import PinholeIntrinsics
from ..postprocess import to_millimetres
from . import bagio

DEFAULT_IMAGE_TOPIC = "/camera/image_raw"
DEFAULT_INFO_TOPIC = "/camera/camera_info"
DEFAULT_DEPTH_TOPIC = "/camera/depth/image_raw"
ANCHOR_DEPTH_TOPIC = "/camera/anchor/depth"
ANCHOR_RANGE_TOPIC = "/camera/anchor/range"
RANGE_LIMITS_M = (0.05, 40.0)  # the synthetic rangefinder's min_range, max_range
TUM_DEPTH_SCALE = 5000.0


class MakeBagError(ValueError):
    """Bad input for make-bag; the message names the file and the problem."""


Intrinsics = PinholeIntrinsics  # the bag's camera (geometry owns the type)


@dataclass
class RGBDFrame:
    t_ns: int
    rgb8: np.ndarray
    depth_m: Optional[np.ndarray] = None  # float32 metres, 0 or NaN = invalid


# --------------------------------------------------------------------------- intrinsics
def _load_structured(path: Path) -> Dict[str, Any]:
    text = path.read_text()
    if path.suffix.lower() == ".json":
        return json.loads(text)
    try:
        import yaml

        data = yaml.safe_load(text)
    except ImportError:  # pragma: no cover - rosbags brings ruamel.yaml
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load(text)
    if not isinstance(data, dict):
        raise MakeBagError("%s: expected a mapping of intrinsics, got %s" % (path, type(data).__name__))
    return data


def parse_intrinsics(spec: str, image_hw: Optional[Tuple[int, int]] = None) -> Intrinsics:
    """``fx,fy,cx,cy`` inline, or a YAML/JSON file (see module docstring).

    ``image_hw`` (from the first image) fills in / checks the size.
    """
    parts = spec.split(",")
    if len(parts) == 4 and not Path(spec).exists():
        try:
            fx, fy, cx, cy = (float(p) for p in parts)
        except ValueError:
            raise MakeBagError("--intrinsics %r: expected fx,fy,cx,cy numbers or a file" % spec) from None
        if image_hw is None:
            raise MakeBagError("inline intrinsics need the image size (no images found)")
        return Intrinsics(fx, fy, cx, cy, image_hw[1], image_hw[0])
    path = Path(spec)
    if not path.is_file():
        raise MakeBagError("%s: intrinsics file does not exist" % path)
    try:
        d = _load_structured(path)
    except MakeBagError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser error: name the file
        raise MakeBagError("%s: cannot parse intrinsics: %s" % (path, exc)) from exc
    if isinstance(d.get("intrinsics"), dict):  # an RGB-D folder's meta.json (docs/model.md)
        d = d["intrinsics"]
    try:
        if "camera_matrix" in d:  # ROS camera_calibration YAML
            k = [float(x) for x in d["camera_matrix"]["data"]]
            w, h = d.get("image_width"), d.get("image_height")
        elif "k" in d or "K" in d:  # CameraInfo-like
            k = [float(x) for x in d.get("k", d.get("K"))]
            w, h = d.get("width"), d.get("height")
        else:
            k = [float(d["fx"]), 0.0, float(d["cx"]), 0.0, float(d["fy"]), float(d["cy"]), 0.0, 0.0, 1.0]
            w, h = d.get("width"), d.get("height")
        if len(k) != 9:
            raise MakeBagError("%s: camera matrix must have 9 entries, got %d" % (path, len(k)))
    except (KeyError, TypeError, ValueError) as exc:
        raise MakeBagError(
            "%s: cannot find intrinsics (need camera_matrix, k, or fx/fy/cx/cy): %s" % (path, exc)
        ) from exc
    if w is None or h is None:
        if image_hw is None:
            raise MakeBagError("%s: no image size in the file and no images to take it from" % path)
        h, w = image_hw
    intr = Intrinsics(k[0], k[4], k[2], k[5], int(w), int(h))
    if intr.fx <= 0 or intr.fy <= 0:
        raise MakeBagError("%s: focal lengths must be positive (fx=%g fy=%g)" % (path, intr.fx, intr.fy))
    if image_hw is not None and (intr.height, intr.width) != tuple(image_hw):
        raise MakeBagError(
            "%s: intrinsics are for %dx%d images but the images are %dx%d"
            % (path, intr.width, intr.height, image_hw[1], image_hw[0])
        )
    return intr


# --------------------------------------------------------------------------- image files
def read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MakeBagError("%s: not an image OpenCV can read" % path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_depth(path: Path, scale: float) -> np.ndarray:
    """A depth file as float32 metres: 16-bit PNG / TIFF of ``scale`` units per metre, or
    float ``.npy`` / float TIFF already in metres."""
    import cv2

    if path.suffix.lower() == ".npy":
        arr = np.load(path)
    else:
        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise MakeBagError("%s: not an image OpenCV can read" % path)
    if arr.ndim != 2:
        raise MakeBagError("%s: depth must be single-channel, got shape %s" % (path, arr.shape))
    if arr.dtype in (np.uint16, np.int32, np.uint32, np.int16):
        return (arr.astype(np.float64) / scale).astype(np.float32)
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    raise MakeBagError(
        "%s: %s depth is ambiguous; use 16-bit PNG (with --depth-scale) or float metres" % (path, arr.dtype)
    )


def _expand(spec: str) -> List[Path]:
    p = Path(spec)
    if p.is_dir():
        files = sorted(x for x in p.iterdir() if x.is_file() and not x.name.startswith("."))
    else:
        files = sorted(Path(x) for x in glob.glob(spec))
    if not files:
        raise MakeBagError("%s: no files found" % spec)
    return files


def _read_list(path: Path) -> List[Tuple[float, str]]:
    if not path.is_file():
        raise MakeBagError("%s: missing (a TUM sequence has rgb.txt and depth.txt)" % path)
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            out.append((float(parts[0]), parts[1]))
        except (IndexError, ValueError):
            raise MakeBagError("%s:%d: expected 'timestamp filename', got %r" % (path, n, line)) from None
    return out


def tum_pairs(root: Path, max_dt: float = 0.02) -> List[Tuple[int, Path, Optional[Path]]]:
    """(stamp_ns, rgb path, depth path or None) per colour frame, TUM's association rule."""
    rgb = _read_list(root / "rgb.txt")
    depth = _read_list(root / "depth.txt") if (root / "depth.txt").exists() else []
    dts = np.array([t for t, _ in depth]) if depth else np.zeros(0)
    out = []
    for t, name in rgb:
        dpath = None
        if dts.size:
            j = int(np.argmin(np.abs(dts - t)))
            if abs(dts[j] - t) <= max_dt:
                dpath = root / depth[j][1]
        out.append((int(round(t * 1e9)), root / name, dpath))
    return out


def folder_pairs(
    rgb_spec: str, depth_spec: Optional[str], rate: float, start: float
) -> List[Tuple[int, Path, Optional[Path]]]:
    rgbs = _expand(rgb_spec)
    depths: List[Optional[Path]] = [None] * len(rgbs)
    if depth_spec:
        ds = _expand(depth_spec)
        if len(ds) != len(rgbs):
            raise MakeBagError(
                "%d colour images but %d depth images (%s, %s)" % (len(rgbs), len(ds), rgb_spec, depth_spec)
            )
        depths = list(ds)
    if rate <= 0:
        raise MakeBagError("--rate must be positive")
    period = 1e9 / rate
    t0 = int(round(start * 1e9))
    return [(t0 + int(round(i * period)), r, d) for i, (r, d) in enumerate(zip(rgbs, depths))]


def load_frames(pairs: Sequence[Tuple[int, Path, Optional[Path]]], depth_scale: float) -> Iterator[RGBDFrame]:
    shape = None
    for t_ns, rpath, dpath in pairs:
        rgb = read_rgb(rpath)
        if shape is None:
            shape = rgb.shape[:2]
        elif rgb.shape[:2] != shape:
            raise MakeBagError(
                "%s: size %dx%d differs from the first image's %dx%d"
                % (rpath, rgb.shape[1], rgb.shape[0], shape[1], shape[0])
            )
        depth = read_depth(dpath, depth_scale) if dpath is not None else None
        if depth is not None and depth.shape != shape:
            raise MakeBagError(
                "%s: depth is %dx%d, colour is %dx%d (depth must be registered to colour)"
                % (dpath, depth.shape[1], depth.shape[0], shape[1], shape[0])
            )
        yield RGBDFrame(t_ns, rgb, depth)


# --------------------------------------------------------------------------- writing
def write_rgbd_bag(
    out: Path | str,
    frames: Iterable[RGBDFrame],
    intrinsics: Any,
    *,
    storage: str = "sqlite3",
    compress: bool = False,
    rgb_format: str = "raw",
    jpeg_quality: int = 90,
    depth_encoding: str = "16UC1",
    frame_id: str = "camera_optical_frame",
    image_topic: str = DEFAULT_IMAGE_TOPIC,
    info_topic: str = DEFAULT_INFO_TOPIC,
    depth_topic: str = DEFAULT_DEPTH_TOPIC,
    progress: bool = False,
    total: Optional[int] = None,
    anchor_points: int = 0,
    anchor_range_fov: float = 0.0,
    anchor_seed: int = 0,
) -> Dict[str, int]:
    """Write frames as a v8 bag; returns message counts per topic.

    ``rgb_format``: ``raw`` (rgb8 Image on ``image_topic``) or ``jpeg`` / ``png``
    (CompressedImage on ``image_topic + "/compressed"``).  Log time = stamp.
    """
    if rgb_format not in ("raw", "jpeg", "png"):
        raise MakeBagError("unknown colour format %r (raw, jpeg, png)" % rgb_format)
    if depth_encoding not in ("16UC1", "32FC1"):
        raise MakeBagError("unknown depth encoding %r (16UC1, 32FC1)" % depth_encoding)
    it: Iterable[RGBDFrame] = frames
    rng = np.random.default_rng(anchor_seed)
    if progress:
        from tqdm import tqdm

        it = tqdm(frames, total=total, unit="frame", desc="make-bag", file=sys.stderr)
    with bagio.BagWriter(out, storage=storage, compress=compress) as writer:
        for f in it:
            h, w = f.rgb8.shape[:2]
            if (h, w) != (int(intrinsics.height), int(intrinsics.width)):
                raise MakeBagError(
                    "frame at t=%d ns is %dx%d but the intrinsics are for %dx%d"
                    % (f.t_ns, w, h, intrinsics.width, intrinsics.height)
                )
            if rgb_format == "raw":
                writer.write(
                    image_topic, bagio.IMAGE, f.t_ns, bagio.make_image(f.rgb8, "rgb8", f.t_ns, frame_id)
                )
            else:
                writer.write(
                    image_topic.rstrip("/") + "/compressed",
                    bagio.COMPRESSED_IMAGE,
                    f.t_ns,
                    bagio.make_compressed(f.rgb8, f.t_ns, frame_id, rgb_format, jpeg_quality),
                )
            writer.write(
                info_topic, bagio.CAMERA_INFO, f.t_ns, bagio.make_camera_info(intrinsics, f.t_ns, frame_id)
            )
            if f.depth_m is not None:
                d = np.asarray(f.depth_m, dtype=np.float32)
                valid = np.isfinite(d) & (d > 0)
                if depth_encoding == "16UC1":
                    arr = to_millimetres(d.copy())  # rounds in place; d may be the frame's own array
                else:
                    arr = np.where(valid, d, np.nan).astype(np.float32)
                writer.write(
                    depth_topic, bagio.IMAGE, f.t_ns, bagio.make_image(arr, depth_encoding, f.t_ns, frame_id)
                )
                _write_anchors(writer, f, intrinsics, anchor_points, anchor_range_fov, rng, frame_id)
        counts = dict(writer.counts)
    if not counts:
        raise MakeBagError("no frames to write")
    return counts


def _write_anchors(writer: Any, f: RGBDFrame, intrinsics: Any, points: int, fov_rad: float,
                   rng: np.random.Generator, frame_id: str) -> None:
    """Metric anchors from this frame's ground truth (see the module docstring)."""
    from .anchor_sim import range_reading, sparse_anchor

    d = np.asarray(f.depth_m, dtype=np.float32)
    if points > 0:
        sparse = sparse_anchor(d, points, rng)
        writer.write(ANCHOR_DEPTH_TOPIC, bagio.IMAGE, f.t_ns,
                     bagio.make_image(sparse, "32FC1", f.t_ns, frame_id))
    if fov_rad > 0:
        k = [[intrinsics.fx, 0, intrinsics.cx], [0, intrinsics.fy, intrinsics.cy], [0, 0, 1]]
        reading = range_reading(d, k, fov_rad)
        lo, hi = RANGE_LIMITS_M
        writer.write(ANCHOR_RANGE_TOPIC, bagio.RANGE, f.t_ns,
                     bagio.make_range(reading if reading is not None else float("inf"), fov_rad, lo, hi,
                                      f.t_ns, frame_id))


# --------------------------------------------------------------------------- CLI
def add_args(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("input (one of --tum or --rgb)")
    src.add_argument("--tum", help="TUM RGB-D sequence folder (rgb.txt, depth.txt)")
    src.add_argument("--rgb", help="folder or glob of colour images")
    src.add_argument("--depth", help="folder or glob of depth images paired with --rgb by sorted order")
    p.add_argument("--intrinsics", required=True, help="calibration YAML/JSON file, or fx,fy,cx,cy")
    p.add_argument("--out", "-o", required=True, help="output bag directory (must not exist)")
    p.add_argument(
        "--depth-scale",
        type=float,
        default=None,
        help="depth units per metre in 16-bit files (default 5000 for --tum, else 1000)",
    )
    p.add_argument("--rate", type=float, default=10.0, help="Hz, for --rgb (default 10)")
    p.add_argument("--start", type=float, default=1.0e9, help="first stamp (s since epoch) for --rgb")
    p.add_argument("--max-dt", type=float, default=0.02, help="TUM colour/depth association tolerance, s")
    p.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")
    p.add_argument(
        "--compress",
        choices=("none", "jpeg", "png"),
        default="none",
        help="store colour as CompressedImage (default: raw rgb8 Image)",
    )
    p.add_argument("--jpeg-quality", type=int, default=90)
    p.add_argument(
        "--depth-encoding",
        choices=("16UC1", "32FC1"),
        default="16UC1",
        help="ground truth as millimetres (16UC1) or metres (32FC1)",
    )
    p.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    p.add_argument("--zstd", action="store_true", help="zstd-compress mcap chunks")
    p.add_argument("--frame-id", default="camera_optical_frame")
    p.add_argument("--image-topic", default=DEFAULT_IMAGE_TOPIC)
    p.add_argument("--info-topic", default=DEFAULT_INFO_TOPIC)
    p.add_argument("--depth-topic", default=DEFAULT_DEPTH_TOPIC)
    a = p.add_argument_group("metric anchors sampled from the ground truth (to try anchoring offline)")
    a.add_argument("--anchor-points", type=int, default=0,
                   help="K random valid ground-truth pixels per frame on %s (32FC1)" % ANCHOR_DEPTH_TOPIC)
    a.add_argument("--anchor-range", type=float, default=0.0, metavar="FOV_RAD",
                   help="a Range on %s: median ground-truth distance in a cone of this full angle"
                   % ANCHOR_RANGE_TOPIC)
    a.add_argument("--anchor-seed", type=int, default=0, help="seed of the random anchor pixels")


def cmd_make_bag(args: argparse.Namespace) -> int:
    try:
        if bool(args.tum) == bool(args.rgb):
            raise MakeBagError("give exactly one of --tum DIR or --rgb DIR_OR_GLOB")
        if (args.anchor_points or args.anchor_range) and not (args.tum or args.depth):
            raise MakeBagError("--anchor-points/--anchor-range sample the ground truth: give --depth")
        if args.anchor_points < 0 or not (0.0 <= args.anchor_range < 3.14159):
            raise MakeBagError("--anchor-points must be >= 0 and --anchor-range in [0, pi) rad")
        if args.tum:
            pairs = tum_pairs(Path(args.tum), args.max_dt)
            scale = args.depth_scale or TUM_DEPTH_SCALE
        else:
            pairs = folder_pairs(args.rgb, args.depth, args.rate, args.start)
            scale = args.depth_scale or 1000.0
        if args.max_frames > 0:
            pairs = pairs[: args.max_frames]
        if not pairs:
            raise MakeBagError("no frames found")
        first = read_rgb(pairs[0][1])
        intr = parse_intrinsics(args.intrinsics, first.shape[:2])
        counts = write_rgbd_bag(
            args.out,
            load_frames(pairs, scale),
            intr,
            storage=args.storage,
            compress=args.zstd,
            rgb_format="raw" if args.compress == "none" else args.compress,
            jpeg_quality=args.jpeg_quality,
            depth_encoding=args.depth_encoding,
            frame_id=args.frame_id,
            image_topic=args.image_topic,
            info_topic=args.info_topic,
            depth_topic=args.depth_topic,
            progress=sys.stderr.isatty(),
            total=len(pairs),
            anchor_points=args.anchor_points,
            anchor_range_fov=args.anchor_range,
            anchor_seed=args.anchor_seed,
        )
    except (MakeBagError, bagio.BagError, OSError) as exc:
        print("make-bag: error: %s" % exc, file=sys.stderr)
        return 2
    print(
        "wrote %s (rosbag2 v%d, %s): %s"
        % (args.out, bagio.BAG_VERSION, args.storage, ", ".join("%s x%d" % kv for kv in counts.items()))
    )
    return 0
