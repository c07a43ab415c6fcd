"""make-bag from TUM-style folders and image globs; the shipped sample bag's content."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from ros_harness import stamp_ns

from fastdepth_ros.cli import main as cli_main
from fastdepth_ros.replay import bagio
from fastdepth_ros.replay.make_bag import MakeBagError, parse_intrinsics

REPO = Path(__file__).resolve().parent.parent


def _tum(root: Path, n: int = 4) -> None:
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rgb_lines, depth_lines = ["# timestamp filename"], ["# timestamp filename"]
    for i in range(n):
        t = 1305031102.175304 + i * 0.033
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[..., 0] = 10 * i  # red channel (cv2 writes BGR: convert)
        rgb[..., 1] = 200
        cv2.imwrite(str(root / "rgb" / ("%.6f.png" % t)), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        depth = np.full((48, 64), 5000 * (1 + i), np.uint16)  # TUM: 5000 units per metre
        depth[0, 0] = 0
        td = t + 0.004
        cv2.imwrite(str(root / "depth" / ("%.6f.png" % td)), depth)
        rgb_lines.append("%.6f rgb/%.6f.png" % (t, t))
        depth_lines.append("%.6f depth/%.6f.png" % (td, td))
    (root / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    (root / "depth.txt").write_text("\n".join(depth_lines) + "\n")


def test_tum_folder_to_bag(tmp_path, capsys):
    _tum(tmp_path / "seq")
    calib = tmp_path / "calib.yaml"
    calib.write_text(
        "image_width: 64\nimage_height: 48\ncamera_name: cam\n"
        "camera_matrix:\n  rows: 3\n  cols: 3\n  data: [52.5, 0, 31.5, 0, 52.6, 23.5, 0, 0, 1]\n"
        "distortion_model: plumb_bob\n"
    )
    out = tmp_path / "bag"
    assert (
        cli_main(["make-bag", "--tum", str(tmp_path / "seq"), "--intrinsics", str(calib), "--out", str(out)])
        == 0
    )
    assert "version: 8" in (out / "metadata.yaml").read_text()
    with bagio.BagReader(out) as bag:
        assert {t: i.count for t, i in bag.topics.items()} == {
            "/camera/image_raw": 4,
            "/camera/camera_info": 4,
            "/camera/depth/image_raw": 4,
        }
        by_topic = {}
        for m in bag.messages():
            by_topic.setdefault(m.topic, []).append(bag.deserialize(m))
    stamps = [[stamp_ns(x.header.stamp) for x in v] for v in by_topic.values()]
    assert stamps[0] == stamps[1] == stamps[2]  # same stamp on colour, info and GT
    assert stamps[0][0] == int(round(1305031102.175304 * 1e9))
    for i, img in enumerate(by_topic["/camera/image_raw"]):
        arr, enc = bagio.decode_image(img, bagio.IMAGE)
        assert enc == "rgb8" and arr[0, 0, 0] == 10 * i and arr[0, 0, 1] == 200
    for i, d in enumerate(by_topic["/camera/depth/image_raw"]):
        arr, enc = bagio.decode_image(d, bagio.IMAGE)
        assert (
            enc == "16UC1" and arr[5, 5] == 1000 * (1 + i) and arr[0, 0] == 0
        )  # millimetres, 0 kept invalid
    info = by_topic["/camera/camera_info"][0]
    assert list(info.k) == [52.5, 0, 31.5, 0, 52.6, 23.5, 0, 0, 1] and (info.width, info.height) == (64, 48)


def test_folders_compressed_32fc1_mcap(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "d").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "c" / ("%03d.jpg" % i)), np.full((40, 60, 3), 100, np.uint8))
        np.save(tmp_path / "d" / ("%03d.npy" % i), np.full((40, 60), 2.5, np.float32))
    intr = tmp_path / "k.json"
    intr.write_text(json.dumps({"fx": 50.0, "fy": 50.0, "cx": 29.5, "cy": 19.5}))
    out = tmp_path / "bag"
    assert (
        cli_main(
            [
                "make-bag",
                "--rgb",
                str(tmp_path / "c"),
                "--depth",
                str(tmp_path / "d" / "*.npy"),
                "--intrinsics",
                str(intr),
                "--out",
                str(out),
                "--compress",
                "jpeg",
                "--storage",
                "mcap",
                "--depth-encoding",
                "32FC1",
                "--rate",
                "5",
                "--start",
                "100",
            ]
        )
        == 0
    )
    with bagio.BagReader(out) as bag:
        t = bag.topics
        assert t["/camera/image_raw/compressed"].msgtype == bagio.COMPRESSED_IMAGE
        ms = list(bag.messages(["/camera/depth/image_raw"]))
        assert [m.t_ns for m in ms] == [100 * 10**9, 100 * 10**9 + 200_000_000, 100 * 10**9 + 400_000_000]
        arr, enc = bagio.decode_image(bag.deserialize(ms[0]), bagio.IMAGE)
        assert enc == "32FC1" and np.allclose(arr, 2.5)


def test_bad_inputs_give_clear_errors(tmp_path, capsys):
    (tmp_path / "c").mkdir()
    cv2.imwrite(str(tmp_path / "c" / "a.png"), np.zeros((40, 60, 3), np.uint8))
    rc = cli_main(
        [
            "make-bag",
            "--rgb",
            str(tmp_path / "c"),
            "--intrinsics",
            str(tmp_path / "missing.yaml"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2 and "missing.yaml" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    with pytest.raises(MakeBagError, match="80x40"):
        (tmp_path / "k.json").write_text(
            json.dumps({"fx": 1, "fy": 1, "cx": 1, "cy": 1, "width": 80, "height": 40})
        )
        parse_intrinsics(str(tmp_path / "k.json"), (40, 60))
    rc = cli_main(
        [
            "make-bag",
            "--tum",
            str(tmp_path / "nothing"),
            "--intrinsics",
            "1,1,1,1",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2 and "rgb.txt" in capsys.readouterr().err


def test_shipped_sample_bag():
    path = REPO / "data" / "sample_bag"
    assert (path / "metadata.yaml").is_file(), "the sample bag must be a rosbag2 folder in the repository"
    assert sum(f.stat().st_size for f in path.iterdir()) < 5 * 1024 * 1024
    with bagio.BagReader(path) as bag:
        topics = bag.topics
        assert topics["/camera/image_raw/compressed"].msgtype == bagio.COMPRESSED_IMAGE
        n = topics["/camera/image_raw/compressed"].count
        assert n >= 60
        assert topics["/camera/camera_info"].count == n and topics["/camera/depth/image_raw"].count == n
        stamps = {}
        for m in bag.messages():
            stamps.setdefault(m.topic, []).append(m.t_ns)
        assert len(set(map(tuple, stamps.values()))) == 1  # identical stamps on all three topics
        gt = bag.deserialize(next(bag.messages(["/camera/depth/image_raw"])))
        arr, enc = bagio.decode_image(gt, bagio.IMAGE)
        assert enc == "16UC1" and arr.shape == (240, 320)
        valid = arr[arr > 0] / 1000.0
        assert valid.size > 0.9 * arr.size and 0.25 <= valid.min() and valid.max() <= 10.0


def test_rgbd_folder_with_meta_json_to_bag(tmp_path):
    """The project's RGB-D folder format (rgb/, depth/ mm, meta.json) replays as a bag."""
    root = tmp_path / "room"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for i in range(2):
        cv2.imwrite(str(root / "rgb" / ("%05d.png" % i)), np.full((40, 60, 3), 90, np.uint8))
        cv2.imwrite(str(root / "depth" / ("%05d.png" % i)), np.full((40, 60), 1500 + i, np.uint16))
    meta = {"intrinsics": {"fx": 55.0, "fy": 56.0, "cx": 29.5, "cy": 19.5, "width": 60, "height": 40}}
    (root / "meta.json").write_text(json.dumps(meta))
    out = tmp_path / "bag"
    assert cli_main(["make-bag", "--rgb", str(root / "rgb"), "--depth", str(root / "depth"),
                     "--intrinsics", str(root / "meta.json"), "--out", str(out)]) == 0
    with bagio.BagReader(out) as bag:
        info = bag.deserialize(next(iter(bag.messages(["/camera/camera_info"]))))
        assert list(info.k)[:5] == [55.0, 0.0, 29.5, 0.0, 56.0]
        depth = [bagio.decode_image(bag.deserialize(m), bagio.IMAGE)[0]
                 for m in bag.messages(["/camera/depth/image_raw"])]
        assert [int(d[0, 0]) for d in depth] == [1500, 1501]  # millimetres kept
