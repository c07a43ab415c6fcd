"""rosbag2 IO: round trips in both storages, version 8 metadata, atomic writes, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from ros_harness import stamp_ns

from fastdepth_ros.replay import bagio
from fastdepth_ros.replay.make_bag import Intrinsics

K = Intrinsics(500.0, 501.0, 31.5, 23.5, 64, 48)


def _write(path, storage, n=5, compress=False):
    with bagio.BagWriter(path, storage=storage, compress=compress) as w:
        for i in range(n):
            t = 10**18 + i * 50_000_000
            w.write(
                "/cam/image",
                bagio.IMAGE,
                t,
                bagio.make_image(np.full((48, 64, 3), i, np.uint8), "rgb8", t, "c"),
            )
            w.write("/cam/info", bagio.CAMERA_INFO, t, bagio.make_camera_info(K, t, "c"))
            d = np.full((48, 64), 1.5 + i, np.float32)
            w.write("/cam/depth", bagio.IMAGE, t, bagio.make_image(d, "32FC1", t, "c"))
    return path


@pytest.mark.parametrize("storage,compress", [("sqlite3", False), ("mcap", False), ("mcap", True)])
def test_roundtrip(tmp_path, storage, compress):
    path = _write(tmp_path / "b", storage, compress=compress)
    meta = (path / "metadata.yaml").read_text()
    assert "version: 8" in meta and ("storage_identifier: %s" % storage) in meta
    with bagio.BagReader(path) as bag:
        assert {t: i.count for t, i in bag.topics.items()} == {
            "/cam/image": 5,
            "/cam/info": 5,
            "/cam/depth": 5,
        }
        assert bag.validate() == 15
        for m in bag.messages(["/cam/image", "/cam/depth"]):
            msg = bag.deserialize(m)
            assert stamp_ns(msg.header.stamp) == m.t_ns
            i = (m.t_ns - 10**18) // 50_000_000
            arr, enc = bagio.decode_image(msg, m.msgtype)
            if m.topic == "/cam/image":
                assert enc == "rgb8" and arr.shape == (48, 64, 3) and np.all(arr == i)
            else:
                assert enc == "32FC1" and np.allclose(arr, 1.5 + i)
        info = bag.deserialize(next(bag.messages(["/cam/info"])))
        assert list(info.k) == [500.0, 0, 31.5, 0, 501.0, 23.5, 0, 0, 1] and info.width == 64


def test_single_file_mcap_readable(tmp_path):
    path = _write(tmp_path / "b", "mcap")
    with bagio.BagReader(path / "b.mcap") as bag:
        assert bag.validate() == 15


def test_writer_is_atomic(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with bagio.BagWriter(target) as w:
            w.write("/x", bagio.IMAGE, 1, bagio.make_image(np.zeros((2, 2), np.float32), "32FC1", 1, "c"))
            assert not target.exists()  # only the hidden temp dir exists while writing
            raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(bagio.BagError, match="exists already"):
        _write(tmp_path / "dup", "sqlite3")
        bagio.BagWriter(tmp_path / "dup")


def test_keyboard_interrupt_closes_bag(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        with bagio.BagWriter(target) as w:
            w.write("/x", bagio.IMAGE, 1, bagio.make_image(np.zeros((2, 2), np.float32), "32FC1", 1, "c"))
            raise KeyboardInterrupt
    with bagio.BagReader(target) as bag:
        assert bag.validate() == 1


@pytest.mark.parametrize("storage,ext", [("sqlite3", ".db3"), ("mcap", ".mcap")])
@pytest.mark.parametrize("frac", [0.5, 0.97])
def test_truncated_bag_is_a_clear_error(tmp_path, storage, ext, frac):
    path = _write(tmp_path / "b", storage, n=20)
    f = path / ("b" + ext)
    data = f.read_bytes()
    f.write_bytes(data[: int(len(data) * frac)])
    with pytest.raises(bagio.BagError) as info:
        with bagio.BagReader(path) as bag:
            bag.validate()
    assert str(path) in str(info.value)


def test_missing_and_non_bag_paths(tmp_path):
    with pytest.raises(bagio.BagError, match="does not exist"):
        bagio.BagReader(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(bagio.BagError, match="metadata.yaml"):
        bagio.BagReader(tmp_path / "empty")
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"not an mcap file at all")
    with pytest.raises(bagio.BagError, match="junk.mcap"):
        bagio.BagReader(junk).open()
