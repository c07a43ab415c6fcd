"""bag-to-folder: small bags written by make-bag's writer from real 7-Scenes frames (shrunk to
160x120 to stay fast) read back as RGB-D folders; topic detection; each refused input."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fastdepth_ros.cli import main as cli_main
from fastdepth_ros.geometry import PinholeIntrinsics
from fastdepth_ros.replay import bagio
from fastdepth_ros.replay.bag_folder import BagFolderError, bag_to_folder, pair_stamps
from fastdepth_ros.replay.make_bag import RGBDFrame, write_rgbd_bag
from fastdepth_ros.training.folders import RGBDFolder

W, H = 160, 120
T0 = 1_700_000_000 * 10**9
PERIOD = 100_000_000  # 10 Hz


def real_frames(realdata: Path, n: int, every: int = 8) -> tuple[list, PinholeIntrinsics]:
    """``n`` kitchen frames (every ``every``-th) at 160x120: colour area-averaged, depth sampled
    nearest; the intrinsics scaled with them (f/4, (c + 0.5)/4 - 0.5)."""
    root = realdata / "7scenes_redkitchen"
    meta = json.loads((root / "meta.json").read_text())
    stems = [f["id"] for f in meta["frames"]][: n * every : every]
    frames = []
    for i, stem in enumerate(stems):
        bgr = cv2.imread(str(root / "rgb" / (stem + ".jpg")), cv2.IMREAD_COLOR)
        mm = cv2.imread(str(root / "depth" / (stem + ".png")), cv2.IMREAD_UNCHANGED)
        rgb = cv2.resize(bgr, (W, H), interpolation=cv2.INTER_AREA)[:, :, ::-1].copy()
        depth_m = cv2.resize(mm, (W, H), interpolation=cv2.INTER_NEAREST).astype(np.float32) / 1000.0
        frames.append(RGBDFrame(T0 + i * PERIOD, rgb, depth_m))
    k = meta["intrinsics"]
    s = W / k["width"]
    intr = PinholeIntrinsics(
        k["fx"] * s, k["fy"] * s, (k["cx"] + 0.5) * s - 0.5, (k["cy"] + 0.5) * s - 0.5, W, H
    )
    return frames, intr


@pytest.fixture(scope="module")
def kitchen(realdata):
    return real_frames(realdata, 12)


@pytest.mark.parametrize(
    "storage,rgb_format,depth_encoding",
    [
        ("sqlite3", "raw", "16UC1"),
        ("mcap", "jpeg", "32FC1"),
        ("mcap", "raw", "32FC1"),
        ("sqlite3", "png", "16UC1"),
    ],
)
def test_bag_becomes_the_rgbd_folder(tmp_path, kitchen, storage, rgb_format, depth_encoding):
    frames, intr = kitchen
    bag = tmp_path / "bag"
    write_rgbd_bag(bag, frames, intr, storage=storage, rgb_format=rgb_format, depth_encoding=depth_encoding)
    r = bag_to_folder(bag, tmp_path / "folder")
    assert r.frames == len(frames) and (r.unpaired_colour, r.unpaired_depth) == (0, 0)
    assert r.topics.colour == "/camera/image_raw" + ("" if rgb_format == "raw" else "/compressed")
    assert (r.topics.depth, r.topics.info) == ("/camera/depth/image_raw", "/camera/camera_info")
    folder = RGBDFolder(tmp_path / "folder")  # what train/eval read
    assert len(folder) == len(frames)
    assert (folder.fx, folder.fy, folder.cx, folder.cy) == pytest.approx((intr.fx, intr.fy, intr.cx, intr.cy))
    meta = json.loads((tmp_path / "folder" / "meta.json").read_text())
    assert [f["stamp_ns"] for f in meta["frames"]] == [f.t_ns for f in frames]
    for i in (0, len(frames) - 1):
        rgb, depth_m = folder.load(i)
        # depth survives both encodings to the millimetre; 0 stays invalid
        np.testing.assert_array_equal(np.rint(depth_m * 1000), np.rint(frames[i].depth_m * 1000))
        if rgb_format == "jpeg":
            assert np.abs(rgb.astype(int) - frames[i].rgb8).mean() < 4.0
        else:
            np.testing.assert_array_equal(rgb, frames[i].rgb8)
    if rgb_format == "jpeg":  # the JPEG bytes are kept, not re-encoded
        assert sorted(p.suffix for p in (tmp_path / "folder" / "rgb").iterdir()) == [".jpg"] * len(frames)


@pytest.mark.parametrize("encoding", ["bgr8", "mono8"])
def test_bgr8_and_mono8_colour(tmp_path, kitchen, encoding):
    frames, intr = kitchen
    bag = tmp_path / "bag"
    with bagio.BagWriter(bag) as w:
        for f in frames:
            img = f.rgb8[:, :, ::-1] if encoding == "bgr8" else cv2.cvtColor(f.rgb8, cv2.COLOR_RGB2GRAY)
            w.write(
                "/cam/image",
                bagio.IMAGE,
                f.t_ns,
                bagio.make_image(np.ascontiguousarray(img), encoding, f.t_ns, "c"),
            )
            w.write("/cam/camera_info", bagio.CAMERA_INFO, f.t_ns, bagio.make_camera_info(intr, f.t_ns, "c"))
            mm = np.rint(f.depth_m * 1000).astype(np.uint16)
            w.write("/cam/depth", bagio.IMAGE, f.t_ns, bagio.make_image(mm, "16UC1", f.t_ns, "c"))
    bag_to_folder(bag, tmp_path / "folder")
    rgb, _ = RGBDFolder(tmp_path / "folder").load(3)
    if encoding == "bgr8":
        np.testing.assert_array_equal(rgb, frames[3].rgb8)  # channels put back in RGB order
    else:
        gray = cv2.cvtColor(frames[3].rgb8, cv2.COLOR_RGB2GRAY)
        for c in range(3):
            np.testing.assert_array_equal(rgb[:, :, c], gray)


def test_pairing_within_tolerance_counts_unpaired(tmp_path, kitchen):
    frames, intr = kitchen
    bag = tmp_path / "bag"
    offsets_ms = [5, -8, 0, 50, 3, None, 12, -15, 0, 30, 1, 2]  # None: no depth frame; 50, 30: too far
    with bagio.BagWriter(bag, storage="mcap") as w:
        for f, off in zip(frames, offsets_ms):
            w.write("/rgb", bagio.IMAGE, f.t_ns, bagio.make_image(f.rgb8, "rgb8", f.t_ns, "c"))
            w.write("/rgb_info", bagio.CAMERA_INFO, f.t_ns, bagio.make_camera_info(intr, f.t_ns, "c"))
            if off is not None:
                t = f.t_ns + off * 1_000_000
                w.write("/d", bagio.IMAGE, t, bagio.make_image(f.depth_m, "32FC1", t, "c"))
    r = bag_to_folder(bag, tmp_path / "folder", tolerance_s=0.02)
    assert r.frames == 9 and r.unpaired_colour == 3 and r.unpaired_depth == 2
    folder = RGBDFolder(tmp_path / "folder")
    kept = [i for i, off in enumerate(offsets_ms) if off is not None and abs(off) <= 20]
    for stem_i, src_i in enumerate(kept):  # each colour frame carries its own depth
        _, depth_m = folder.load(stem_i)
        np.testing.assert_array_equal(np.rint(depth_m * 1000), np.rint(frames[src_i].depth_m * 1000))


def test_pair_stamps_is_one_to_one():
    assert pair_stamps([0, 10, 20], [9, 11, 40], tolerance_ns=5) == [(1, 0)]  # 0 and 20: none near
    assert pair_stamps([10, 12], [11], tolerance_ns=5) == [(0, 0)]  # a depth frame pairs once
    assert sorted(pair_stamps([0, 10], [1, 2], 5)) == [(0, 0)]  # 10 is 8 from 2: unpaired
    assert sorted(pair_stamps([0, 3], [1, 2], 5)) == [(0, 0), (1, 1)]


def _realsense_like(bag: Path, frames, intr, depth_info_intr=None) -> None:
    """A RealSense-style bag: colour, its camera_info, the aligned depth and its camera_info, and
    the unregistered depth stream beside them."""
    small = PinholeIntrinsics(intr.fx * 0.9, intr.fy * 0.9, intr.cx, intr.cy, W, H)
    with bagio.BagWriter(bag) as w:
        for f in frames:
            t = f.t_ns
            mm = np.rint(f.depth_m * 1000).astype(np.uint16)
            w.write("/camera/color/image_raw", bagio.IMAGE, t, bagio.make_image(f.rgb8, "rgb8", t, "c"))
            w.write("/camera/color/camera_info", bagio.CAMERA_INFO, t, bagio.make_camera_info(intr, t, "c"))
            w.write(
                "/camera/aligned_depth_to_color/image_raw",
                bagio.IMAGE,
                t,
                bagio.make_image(mm, "16UC1", t, "c"),
            )
            w.write(
                "/camera/aligned_depth_to_color/camera_info",
                bagio.CAMERA_INFO,
                t,
                bagio.make_camera_info(depth_info_intr or intr, t, "c"),
            )
            w.write("/camera/depth/image_rect_raw", bagio.IMAGE, t, bagio.make_image(mm, "16UC1", t, "d"))
            w.write("/camera/depth/camera_info", bagio.CAMERA_INFO, t, bagio.make_camera_info(small, t, "d"))


def test_detects_realsense_topics(tmp_path, kitchen):
    frames, intr = kitchen
    _realsense_like(tmp_path / "bag", frames, intr)
    r = bag_to_folder(tmp_path / "bag", tmp_path / "folder")
    assert (r.topics.colour, r.topics.depth, r.topics.info) == (
        "/camera/color/image_raw",
        "/camera/aligned_depth_to_color/image_raw",
        "/camera/color/camera_info",
    )
    assert r.frames == len(frames)


def test_ambiguous_colour_topics_listed_then_chosen(tmp_path, kitchen, capsys):
    frames, intr = kitchen
    bag = tmp_path / "bag"
    with bagio.BagWriter(bag) as w:
        for f in frames:
            t = f.t_ns
            w.write("/left/image", bagio.IMAGE, t, bagio.make_image(f.rgb8, "rgb8", t, "l"))
            w.write(
                "/right/image/compressed", bagio.COMPRESSED_IMAGE, t, bagio.make_compressed(f.rgb8, t, "r")
            )
            w.write("/left/camera_info", bagio.CAMERA_INFO, t, bagio.make_camera_info(intr, t, "l"))
            w.write("/left/depth", bagio.IMAGE, t, bagio.make_image(f.depth_m, "32FC1", t, "l"))
    out = tmp_path / "folder"
    assert cli_main(["bag-to-folder", str(bag), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "/left/image" in err and "/right/image/compressed" in err and "--image-topic" in err
    assert not out.exists()
    assert cli_main(["bag-to-folder", str(bag), str(out), "--image-topic", "/left/image"]) == 0
    assert len(RGBDFolder(out)) == len(frames)


# --------------------------------------------------------------------------- refused input
def _refused(capsys, argv: list, out: Path, *words: str) -> str:
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    assert not out.exists() and not list(out.parent.glob(".%s.partial*" % out.name))
    return err


def test_refuses_depth_of_another_size(tmp_path, kitchen, capsys):
    frames, intr = kitchen
    big = [
        RGBDFrame(f.t_ns, f.rgb8, cv2.resize(f.depth_m, (2 * W, 2 * H), interpolation=cv2.INTER_NEAREST))
        for f in frames
    ]
    write_rgbd_bag(tmp_path / "bag", big, intr)
    out = tmp_path / "folder"
    _refused(capsys, ["bag-to-folder", str(tmp_path / "bag"), str(out)], out, "not registered", "320x240")


def test_refuses_depth_with_other_intrinsics(tmp_path, kitchen, capsys):
    frames, intr = kitchen
    other = PinholeIntrinsics(intr.fx * 1.1, intr.fy * 1.1, intr.cx, intr.cy, W, H)
    _realsense_like(tmp_path / "bag", frames, intr, depth_info_intr=other)
    out = tmp_path / "folder"
    _refused(
        capsys,
        ["bag-to-folder", str(tmp_path / "bag"), str(out)],
        out,
        "not registered",
        "/camera/aligned_depth_to_color/camera_info",
    )


def test_refuses_a_bag_without_camera_info(tmp_path, kitchen, capsys):
    frames, _ = kitchen
    with bagio.BagWriter(tmp_path / "bag") as w:
        for f in frames:
            w.write("/rgb", bagio.IMAGE, f.t_ns, bagio.make_image(f.rgb8, "rgb8", f.t_ns, "c"))
            w.write("/depth", bagio.IMAGE, f.t_ns, bagio.make_image(f.depth_m, "32FC1", f.t_ns, "c"))
    out = tmp_path / "folder"
    _refused(capsys, ["bag-to-folder", str(tmp_path / "bag"), str(out)], out, "no camera_info")


def test_refuses_an_empty_bag(tmp_path, capsys):
    with bagio.BagWriter(tmp_path / "bag", storage="mcap"):
        pass
    out = tmp_path / "folder"
    _refused(capsys, ["bag-to-folder", str(tmp_path / "bag"), str(out)], out, "empty")


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_refuses_a_corrupt_bag(tmp_path, kitchen, capsys, storage):
    frames, intr = kitchen
    write_rgbd_bag(tmp_path / "bag", frames, intr, storage=storage)
    data = next(p for p in (tmp_path / "bag").iterdir() if p.suffix in (".db3", ".mcap"))
    raw = data.read_bytes()
    data.write_bytes(raw[: len(raw) // 2])  # cut off half-way, as by a full disk or a crash
    out = tmp_path / "folder"
    _refused(capsys, ["bag-to-folder", str(tmp_path / "bag"), str(out)], out, str(tmp_path / "bag"))


def test_disk_full_leaves_nothing(tmp_path, kitchen):
    """A file-size limit (what a full disk looks like to the writer: EFBIG/ENOSPC) half-way."""
    frames, intr = kitchen
    write_rgbd_bag(tmp_path / "bag", frames, intr)
    out = tmp_path / "folder"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run(
        [sys.executable, "-m", "fastdepth_ros.cli", "bag-to-folder", str(tmp_path / "bag"), str(out)],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "disk full" in err and "Traceback" not in err, err
    assert not out.exists() and not list(tmp_path.glob(".folder.partial*"))


def test_bag_folder_error_names_the_bag(tmp_path):
    with pytest.raises(bagio.BagError, match="no such bag"):
        bag_to_folder(tmp_path / "missing", tmp_path / "folder")
    with pytest.raises(BagFolderError, match="exists already"):
        (tmp_path / "folder").mkdir()
        bag_to_folder(tmp_path / "missing", tmp_path / "folder")
