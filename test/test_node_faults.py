"""Issue 11: every fault a black-box probe found, against the real ``depth_node`` process.

One test (or parametrized group) per finding, numbered as in the issue, plus a seeded fuzz
test.  Two module-scoped nodes serve most of them: ``raw`` (sensor_msgs/Image in) and
``compressed`` (CompressedImage in); start-up faults need a process of their own.
Bad models are generated here with the ``onnx`` helper API (``fault_models``).
Figures (peak RSS, diagnostic gaps during a reload ...) are printed: run with ``-s``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import pytest
from deps import need
from ros_harness import (
    IMAGE,
    INFO,
    Client,
    NodeProcess,
    camera_info,
    get_parameter,
    image_msg,
    isolate_dds,
    node_and_client,
    scene_rgb8,
    status_values,
    wait_for,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")
need("onnx", reason="onnx not installed (scripts/venv.sh runtime,ros,test)")

import fault_models  # noqa: E402  (needs onnx)

OK, WARN, ERROR = 0, 1, 2
W, H = 640, 480
PID = os.getpid()


# ---------------------------------------------------------------------------- helpers


def proc_status_mb(pid: int, key: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident) of a process, in MB."""
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    raise KeyError(key)


class Node:
    """A depth_node process + its client, with the frames a test needs."""

    def __init__(self, ns: str, proc: NodeProcess, client: Client) -> None:
        self.ns, self.proc, self.client = ns, proc, client
        self.name = ns + "/fastdepth"
        self.rgb = scene_rgb8(W, H)
        self.info = camera_info(W, H, fx=518.9, fy=519.5, cx=325.6, cy=253.7, frame_id="cam")

    def now_ns(self) -> int:
        return self.client.node.get_clock().now().nanoseconds

    def frame(self, rgb: Optional[np.ndarray] = None, encoding: str = "rgb8") -> Any:
        return image_msg(self.rgb if rgb is None else rgb, self.now_ns(), frame_id="cam", encoding=encoding)

    def send(self, msg: Any, info: Any = "default") -> Any:
        info = self.info if info == "default" else info
        if info is not None:
            info.header = msg.header
        self.client.publish(msg, info)
        return msg

    def served(self, msg: Any = None, info: Any = "default", timeout_s: float = 5.0) -> Any:
        """Publish ``msg`` (a fresh good frame by default) and return its depth, or fail."""
        for _ in range(3):  # a best-effort frame may be lost: resend the same one
            msg = self.send(msg if msg is not None else self.frame(), info)
            depth = wait_for(lambda s=msg: self.client.depth_for(s.header.stamp), timeout_s)
            if depth is not None:
                return depth
        pytest.fail("no depth for a good frame; node output:\n" + self.proc.output()[-3000:])

    def status(self, suffix: str, since: float, level: Optional[int] = None, text: str = "",
               timeout_s: float = 5.0) -> Any:
        return wait_for(lambda: self.client.find_status(suffix, since, level, text), timeout_s)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fault_models")


def _start(ns: str, ros_args: List[str], compressed: bool = False,
           hold_loads: bool = False) -> Iterator[Node]:
    image = IMAGE + ("/compressed" if compressed else "")  # what the node subscribes
    with node_and_client(ns, ros_args, reliable=(image, INFO), compressed=compressed,
                         hold_loads=hold_loads) as (proc, client):
        node = Node(ns, proc, client)
        if compressed:
            node.frame = lambda rgb=None, encoding="rgb8": _compressed(node, rgb)  # type: ignore
        node.served(timeout_s=1.0)  # primes discovery (the first best-effort samples may be lost)
        yield node


def _compressed(node: Node, rgb: Optional[np.ndarray] = None, fmt: str = "png") -> Any:
    from fastdepth_ros.imaging import numpy_to_compressed

    raw = image_msg(node.rgb if rgb is None else rgb, node.now_ns(), frame_id="cam")
    return numpy_to_compressed(node.rgb if rgb is None else rgb, "rgb8", fmt, header=raw.header)


@pytest.fixture(scope="module")
def raw(shipped_model: Path) -> Iterator[Node]:
    yield from _start("/fdfault_raw_%d" % PID, ["-p", "model_path:=%s" % shipped_model], hold_loads=True)


@pytest.fixture(scope="module")
def compressed(shipped_model: Path) -> Iterator[Node]:
    yield from _start("/fdfault_comp_%d" % PID, ["-p", "model_path:=%s" % shipped_model,
                                                  "-p", "image_transport:=compressed"], compressed=True)


def _alive(node: Node) -> None:
    assert node.proc.alive(), "the node died; its output:\n" + node.proc.output()[-5000:]


# ------------------------------------------------- 1 + 3: runtime reload of a bad model

BAD_MODELS = {
    # name: (builder, text the reason must contain)
    "uint8_input": (fault_models.uint8_input, "input must be float32"),
    "runtime_reshape_failure": (fault_models.runtime_reshape_failure, "fails on a test run"),
    "three_channel_output": (fault_models.three_channel_output, "output 1x3x224x224"),
    "three_channel_output_hidden": (lambda p: fault_models.three_channel_output(p, declared=False),
                                    "returns output 1x3x224x224"),
}


@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_1_3_runtime_reload_of_a_bad_model_is_reported_and_the_old_model_keeps_serving(
        raw: Node, model_dir: Path, shipped_model: Path, name: str) -> None:
    build, why = BAD_MODELS[name]
    path = str(build(model_dir / (name + ".onnx")))
    raw.served()
    since = time.perf_counter()
    results = raw.client.set_parameters(raw.name, model_path=path)  # answered (TimeoutError if not)
    assert len(results) == 1
    status = raw.status("engine", since, ERROR, "model reload failed", timeout_s=20.0)
    _alive(raw)
    assert status is not None, "no engine ERROR for %s; output:\n%s" % (name, raw.proc.output()[-3000:])
    assert path in status.message and why in status.message, status.message
    assert "\n" not in status.message
    log = [line for line in raw.proc.output().splitlines() if path in line and "model reload failed" in line]
    assert log and why in log[-1], raw.proc.output()[-3000:]
    # model_path names the model that runs again, and it does run
    assert wait_for(lambda: get_parameter(raw.client, raw.name, "model_path") == str(shipped_model), 10.0)
    values = status_values(raw.status("engine", time.perf_counter(), timeout_s=5.0))
    assert values["Model path"] == str(shipped_model)
    depth = raw.served()
    assert depth.encoding == "32FC1" and (depth.width, depth.height) == (224, 224)


# ------------------------------------------------ 2 + 3: the same models at start-up


@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_2_3_bad_model_at_start_up_is_one_fatal_line_naming_the_path(model_dir: Path, name: str) -> None:
    build, why = BAD_MODELS[name]
    path = str(build(model_dir / ("start_" + name + ".onnx")))
    proc = NodeProcess(["-p", "model_path:=%s" % path, "-r", "__ns:=/fdbadstart_%d" % PID], isolate_dds())
    try:
        rc = proc.wait(60.0)
        out = proc.output()
        assert rc == 1, out
        assert "Traceback" not in out, out
        fatal = [line for line in out.splitlines() if "FATAL" in line]
        assert len(fatal) == 1 and path in fatal[0] and why in fatal[0], out
        assert len(out.strip().splitlines()) == 1, out  # the fatal line and nothing else
    finally:
        proc.close()


# --------------------------------------------------------------- 4: decompression bombs


def grey_png(width: int, height: int) -> bytes:
    """A valid all-black 8-bit grey PNG, compressed row by row (never held in memory whole):
    20000x20000 is ~400 MB of pixels in ~390 KB of file."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0 + pixels
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_4_decompression_bombs_are_refused_before_decoding(compressed: Node) -> None:
    from sensor_msgs.msg import CompressedImage

    node = compressed
    node.served()
    pid = node.proc.proc.pid
    peak_before = proc_status_mb(pid, "VmHWM")
    figures: Dict[str, Any] = {"peak_rss_before_mb": round(peak_before, 1)}
    found = []
    for width, height, text in [(20000, 20000, "absurd image size 20000x20000"),
                                (16000, 16000, "exceeds the pixel budget of 16777216")]:
        bomb = CompressedImage(format="png", data=grey_png(width, height))
        bomb.header = node.frame().header
        since = time.perf_counter()
        node.send(bomb, info=None)
        # the node answers the bomb with an input ERROR, or (unguarded) decodes it
        done = wait_for(lambda b=bomb, s=since: node.client.find_status("input", s, ERROR)
                        or node.client.depth_for(b.header.stamp), 20.0)
        _alive(node)
        assert done, node.proc.output()[-3000:]
        found.append(node.client.find_status("input", since, ERROR, text))
        figures["%dx%d_png_kb" % (width, height)] = round(len(bomb.data) / 1024.0)
    node.served()
    peak_after = proc_status_mb(pid, "VmHWM")
    figures["peak_rss_after_mb"] = round(peak_after, 1)
    print("\nBOMB " + json.dumps(figures))
    # 20000x20000 grey decoded is 400 MB, 16000x16000 256 MB: neither may be allocated
    assert peak_after - peak_before < 100.0, figures
    assert all(found), "no input ERROR naming the size or the pixel budget"


# ----------------------------------------------------------- 5: signals during start-up


def _mapped(pid: int, name: str) -> bool:
    try:
        return name in Path("/proc/%d/maps" % pid).read_text()
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", ["importing", "loading_model"])
def test_5_signal_during_start_up_is_a_quiet_exit(model_dir: Path, sig: int, phase: str) -> None:
    """The signal is sent at a known point: while the node module is imported (rclpy's
    extension mapped), or while the model loads: the load is held by the test
    (``<model>.hold``, test/hooks/sitecustomize.py) and the signal sent once the node is
    waiting inside the session build, then the load is released."""
    model = model_dir / ("held_start_%s_%d.onnx" % (phase, sig))
    if not model.exists():
        fault_models.mean_depth(model)
    hold, waiting = Path(str(model) + ".hold"), Path(str(model) + ".waiting")
    hold.touch()
    waiting.unlink(missing_ok=True)
    proc = NodeProcess(["-p", "model_path:=%s" % model, "-r", "__ns:=/fdsig_%d" % PID], isolate_dds(),
                       hold_loads=True)
    try:
        pid = proc.proc.pid
        if phase == "importing":
            assert wait_for(lambda: _mapped(pid, "_rclpy_pybind11") or not proc.alive(), 30.0,
                            interval_s=0.002)
        else:
            assert wait_for(lambda: waiting.exists() or not proc.alive(), 30.0), proc.output()
        assert proc.alive() and "subscribed to" not in proc.output(), proc.output()
        proc.proc.send_signal(sig)
        hold.unlink()
        rc = proc.wait(30.0)
        out = proc.output()
        assert "Traceback" not in out and "RCLError" not in out, out
        assert rc == 0, (rc, out)
    finally:
        hold.unlink(missing_ok=True)
        proc.close()


# ------------------------------------------------------------------- 6: camera_info


def _info(**changes: Any) -> Any:
    info = camera_info(W, H, fx=518.9, fy=519.5, cx=325.6, cy=253.7, frame_id="cam")
    for key, (index, value) in changes.items():
        values = list(getattr(info, key))
        values[index] = value
        setattr(info, key, values)
    return info


@pytest.mark.parametrize(
    "label,info,text",
    [
        ("K[8] = 0", _info(k=(8, 0.0)), "K's last row must be [0, 0, 1]"),
        ("P[10] = 2", _info(p=(10, 2.0)), "P's last row must be [0, 0, 1, 0]"),
        ("NaN in D", _info(d=(1, math.nan)), "D or R contains NaN/Inf"),
        ("Inf in D", _info(d=(0, math.inf)), "D or R contains NaN/Inf"),
    ],
)
def test_6_camera_info_edge_cases_are_refused(raw: Node, label: str, info: Any, text: str) -> None:
    since = time.perf_counter()
    depth = raw.served(info=info)  # depth is still published for that frame
    status = raw.status("camera_info", since, ERROR, text)
    assert status is not None, label
    good = raw.served()
    # depth/camera_info is one reliable, ordered stream: once the next frame's has arrived,
    # one for the bad frame would have arrived before it
    assert wait_for(lambda: raw.client.info_for(good.header.stamp), 5.0) is not None
    assert raw.client.info_for(depth.header.stamp) is None, "a lying camera_info was published: " + label


# -------------------------------------------------------------------- 7: encodings


def test_7_encodings_uyvy_8uc3_case_and_the_supported_list(raw: Node) -> None:
    import cv2

    from fastdepth_ros.imaging import image_to_numpy

    reference = image_to_numpy(raw.served(raw.frame()))
    # uyvy: the current ROS name of yuv422; depth close to the rgb8 frame's (chroma 4:2:2)
    packed = cv2.cvtColor(raw.rgb, cv2.COLOR_RGB2YUV_UYVY)
    uyvy = image_to_numpy(raw.served(raw.frame(packed, "uyvy")))
    finite = np.isfinite(uyvy) & np.isfinite(reference)
    assert finite.mean() > 0.9 and np.median(np.abs(uyvy[finite] - reference[finite])) < 0.05
    # a bare 8UC3 is BGR (cv_bridge, OpenCV): the BGR bytes of the scene give the same depth
    bgr = np.ascontiguousarray(raw.rgb[:, :, ::-1])
    np.testing.assert_array_equal(image_to_numpy(raw.served(raw.frame(bgr, "8UC3"))), reference)
    # "RGB8" is read, but not silently: WARN in the input diagnostic and a log line
    since = time.perf_counter()
    upper = raw.frame()
    upper.encoding = "RGB8"
    np.testing.assert_array_equal(image_to_numpy(raw.served(upper)), reference)
    assert raw.status("input", since, WARN, "'RGB8' is not a ROS spelling; read as rgb8"), raw.proc.output()
    assert "'RGB8' is not a ROS spelling" in raw.proc.output()
    # the unsupported-encoding message lists only what a colour input can be
    since = time.perf_counter()
    bad = raw.frame()
    bad.encoding = "xyz123"
    raw.send(bad, info=None)
    status = raw.status("input", since, ERROR, "unsupported encoding 'xyz123'")
    assert status is not None
    listed = status.message.split("supported: ")[1]
    assert "uyvy" in listed and "16UC1" not in listed and "32FC1" not in listed, status.message
    raw.served()


# ------------------------------------------------- 8: reload off the executor thread


def test_8_reload_keeps_serving_and_diagnostics_while_the_new_model_loads(
        raw: Node, model_dir: Path, shipped_model: Path) -> None:
    """While a new model loads (held by the test: ``<model>.hold``, so the load lasts until
    the checks are done, on any machine), the SetParameters call has answered, /diagnostics
    keep coming and say "loading", and the old model keeps publishing depth (bit-identical
    to before); once released, the new model serves."""
    held = model_dir / "held_reload.onnx"
    if not held.exists():
        fault_models.mean_depth(held)
    hold, waiting = Path(str(held) + ".hold"), Path(str(held) + ".waiting")
    hold.touch()
    waiting.unlink(missing_ok=True)
    client = raw.client
    frame = raw.frame()
    old_depth = bytes(raw.served(frame).data)
    try:
        results = client.set_parameters(raw.name, model_path=str(held))  # answered while held
        assert results[0].successful, results[0].reason
        assert wait_for(waiting.exists, 30.0), "the reload never started; " + raw.proc.output()[-3000:]
        since = time.perf_counter()
        for i in range(5):  # the old model serves: the same frame (new stamp), the same depth
            frame.header.stamp.nanosec = (frame.header.stamp.nanosec + 1) % 1_000_000_000
            assert bytes(raw.served(frame).data) == old_depth, "frame %d during the reload" % i

        def loading_updates() -> List[Any]:
            return [s for s in client.statuses(since) if s.name.endswith("engine")
                    and status_values(s)["Model reload"].startswith("loading %s" % held)]

        assert wait_for(lambda: len(loading_updates()) >= 3, 30.0), "diagnostics stalled during the reload"
        assert hold.exists()  # all of the above happened while the load was held
        assert "Loading a new model" in loading_updates()[-1].message
    finally:
        hold.unlink(missing_ok=True)
    try:
        def loaded() -> Any:
            for s in client.statuses(since):
                if s.name.endswith("engine") and status_values(s).get("Model path") == str(held):
                    return s
            return None

        status = wait_for(loaded, 60.0)
        assert status is not None, raw.proc.output()[-3000:]
        assert "loaded %s" % held in status_values(status).get("Model reload", ""), status_values(status)
        frame.header.stamp.nanosec = (frame.header.stamp.nanosec + 1) % 1_000_000_000
        assert bytes(raw.served(frame).data) != old_depth  # the new model serves
    finally:
        client.set_parameters(raw.name, model_path=str(shipped_model))
        wait_for(lambda: any(status_values(s).get("Model path") == str(shipped_model)
                             for s in client.statuses(time.perf_counter() - 0.5)
                             if s.name.endswith("engine")), 30.0)
    _alive(raw)


# ---------------------------------------------- 9: destroy_node() stops the threads

EMBED = r"""
import json, sys, threading
import rclpy
from rclpy.parameter import Parameter
from fastdepth_ros.node import DepthNode
rclpy.init()
node = DepthNode(parameter_overrides=[Parameter("model_path", value=sys.argv[1]),
                                      Parameter("warmup_runs", value=0)])
names = lambda: sorted(t.name for t in threading.enumerate() if t.name.startswith("fastdepth"))
before = names()
node.destroy_node()   # no stop(): an embedding application may not know about it
after = names()
rclpy.shutdown()
print(json.dumps({"before": before, "after": after}))
"""


def test_9_destroy_node_without_stop_leaves_no_thread(shipped_model: Path, tmp_path: Path) -> None:
    env = isolate_dds()
    # cwd outside the checkout: the process embeds the installed package, as an application would
    out = subprocess.run([sys.executable, "-c", EMBED, str(shipped_model)], env=env, capture_output=True,
                         text=True, timeout=120, cwd=str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    threads = json.loads(out.stdout.strip().splitlines()[-1])
    assert "fastdepth_worker" in threads["before"], threads
    assert threads["after"] == [], threads


# ------------------------------------------------------ 10: silent configuration errors


@pytest.mark.parametrize(
    "args,text",
    [
        (["-p", "provider_options:=cpu:foo=bar"], "CPUExecutionProvider takes no provider options"),
        (["-p", "providers:=['', 'cpu']"], "empty execution provider name"),
        (["-p", "provider_options:=:foo=bar"], "empty execution provider name"),
        (["-p", "providers:=[cdua, cpu]"], "unknown execution provider 'cdua'"),
    ],
    ids=["cpu_option", "empty_provider", "empty_provider_option", "typo"],
)
def test_10_junk_provider_configuration_is_a_fatal_start_error(shipped_model: Path, args: List[str],
                                                               text: str) -> None:
    proc = NodeProcess(["-p", "model_path:=%s" % shipped_model, "-r", "__ns:=/fdcfg_%d" % PID] + args,
                       isolate_dds())
    try:
        rc = proc.wait(60.0)
        out = proc.output()
        assert rc == 1, out
        fatal = [line for line in out.splitlines() if "FATAL" in line]
        assert len(fatal) == 1 and text in fatal[0], out
        assert "Traceback" not in out
    finally:
        proc.close()


# ----------------------------------------------------------------------------- fuzz

FUZZ_SEED = 11
ENCODINGS = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "8UC1", "8UC3", "16UC1", "32FC1",
             "uyvy", "yuv422", "yuyv", "yuv422_yuy2", "RGB8", "bayer_rggb8", "", "rgb8\x00", "64FC1"]


def fuzz_images(rng: np.random.Generator, good: Any, n: int) -> Iterator[Any]:
    from sensor_msgs.msg import Image

    for _ in range(n):
        m = Image()
        m.header = good.header
        m.encoding = str(rng.choice(ENCODINGS))
        choice = rng.integers(0, 4)
        if choice == 0:  # plausible size, wrong data length
            m.width, m.height = int(rng.integers(1, 700)), int(rng.integers(1, 500))
        elif choice == 1:  # absurd or zero sizes
            m.width, m.height = int(rng.choice([0, 1, 2**31 - 1, 2**32 - 1, 16385, 100000])), \
                int(rng.choice([0, 1, 3, 2**32 - 1, 70000]))
        else:
            m.width, m.height = good.width, good.height
        m.step = int(rng.choice([0, m.width, m.width * 3, good.step, 2**32 - 1, int(rng.integers(0, 5000))]))
        m.is_bigendian = int(rng.integers(0, 2))
        size = int(rng.choice([0, 1, 100, len(good.data) // 2, len(good.data), int(rng.integers(0, 400000))]))
        m.data = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes() if size else b""
        yield m


def fuzz_infos(rng: np.random.Generator, n: int) -> Iterator[Any]:
    specials = [math.nan, math.inf, -math.inf, 0.0, -1.0, 1e308, 1e-308]
    for _ in range(n):
        info = camera_info(W, H, frame_id="cam")
        for field in ("k", "p", "d", "r"):
            values = list(getattr(info, field)) or [0.0] * 5
            for _ in range(int(rng.integers(0, 3))):
                values[int(rng.integers(0, len(values)))] = float(rng.choice(specials))
            setattr(info, field, values)
        if rng.random() < 0.3:
            info.d = [float(v) for v in rng.standard_normal(int(rng.integers(0, 15)))]
        if rng.random() < 0.3:
            info.width, info.height = int(rng.integers(0, 5000)), int(rng.integers(0, 5000))
        if rng.random() < 0.3:
            info.binning_x, info.binning_y = int(rng.integers(0, 2**32)), int(rng.integers(0, 5))
        if rng.random() < 0.3:
            info.roi.x_offset, info.roi.width = int(rng.integers(0, 2**32)), int(rng.integers(0, 2000))
            info.roi.height = int(rng.integers(0, 2000))
        info.distortion_model = str(rng.choice(["plumb_bob", "rational_polynomial", "equidistant", "", "x"]))
        yield info


def fuzz_compressed(rng: np.random.Generator, good_png: bytes, good_jpeg: bytes, n: int) -> Iterator[bytes]:
    for _ in range(n):
        choice = rng.integers(0, 5)
        if choice == 0:  # noise
            yield rng.integers(0, 256, size=int(rng.integers(0, 5000)), dtype=np.uint8).tobytes()
        elif choice == 1:  # truncated
            src = good_png if rng.random() < 0.5 else good_jpeg
            yield src[: int(rng.integers(0, len(src)))]
        elif choice == 2:  # bit flips
            data = bytearray(good_png if rng.random() < 0.5 else good_jpeg)
            for _ in range(int(rng.integers(1, 20))):
                data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
            yield bytes(data)
        elif choice == 3:  # a header that lies about the size
            data = bytearray(good_png)
            data[16:24] = struct.pack(">II", int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)))
            yield bytes(data)
        else:  # other formats' magic numbers
            yield bytes(rng.choice([b"GIF89a", b"BM", b"II*\x00", b"RIFF", b"\x00\x00\x00\x0cjP"])) + \
                rng.integers(0, 256, size=200, dtype=np.uint8).tobytes()


BOOKS = {"received": ("input", "Frames received"),
         "dropped": ("input", "Frames dropped (replaced before processing)"),
         "input_errors": ("input", "Errors since startup"),
         "published": ("depth output", "Depth images published"),
         "engine_errors": ("engine", "Errors since startup"),
         "camera_info_errors": ("camera_info", "Errors since startup")}


def _books(node: Node) -> Dict[str, int]:
    """The node's own frame counts once it is idle (two consecutive updates agree), so
    every frame it took in has been accounted for."""
    previous: Optional[Dict[str, int]] = None
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        since = time.perf_counter()

        def update(since: float = since) -> Optional[Dict[str, int]]:
            first: Dict[str, Any] = {}
            for s in node.client.statuses(since):
                first.setdefault(s.name.rsplit(": ", 1)[-1], s)
            if not all(task in first for task, _ in BOOKS.values()):
                return None
            return {k: int(status_values(first[task])[key]) for k, (task, key) in BOOKS.items()}

        counts = wait_for(update, 10.0)
        assert counts is not None, "no diagnostics update"
        if counts == previous:
            return counts
        previous = counts
    pytest.fail("the node never went idle: %s" % previous)


def test_fuzz_malformed_messages_leave_the_node_alive_lean_and_exact(raw: Node, compressed: Node) -> None:
    from sensor_msgs.msg import CompressedImage

    from fastdepth_ros.imaging import numpy_to_compressed

    rng = np.random.default_rng(FUZZ_SEED)
    good_raw = raw.frame()
    good_comp = compressed.frame()
    before = {n: (image_bytes(n.served(good)), proc_status_mb(n.proc.proc.pid, "VmRSS"), _books(n))
              for n, good in ((raw, good_raw), (compressed, good_comp))}
    t_fuzz = time.perf_counter()
    sent = 0
    for msg in fuzz_images(rng, good_raw, 200):
        raw.send(msg, info=None)
        sent += 1
        time.sleep(0.004)
    for info in fuzz_infos(rng, 100):  # each with a good frame, paced by its depth: each info is used
        raw.served(raw.frame(), info=info)
        sent += 1
    png = bytes(good_comp.data)
    jpeg = bytes(numpy_to_compressed(compressed.rgb, "rgb8", "jpeg").data)
    for data in fuzz_compressed(rng, png, jpeg, 200):
        msg = CompressedImage(format=str(rng.choice(["png", "jpeg", "", "rgb8; jpeg compressed bgr8"])),
                              data=data)
        msg.header = compressed.frame().header
        compressed.send(msg, info=None)
        sent += 1
        time.sleep(0.004)
    figures: Dict[str, Any] = {"messages": sent}
    for label, node, good in (("raw", raw, good_raw), ("compressed", compressed, good_comp)):
        _alive(node)
        good.header.stamp.nanosec = (good.header.stamp.nanosec + 1) % 1_000_000_000  # a new stamp
        after = image_bytes(node.served(good))
        assert after == before[node][0], "the same good frame gave a different depth after the fuzz"
        rss = proc_status_mb(node.proc.proc.pid, "VmRSS")
        books = _books(node)
        delta = {k: books[k] - before[node][2][k] for k in books}
        figures[label] = dict(delta, rss_before_mb=round(before[node][1], 1), rss_after_mb=round(rss, 1))
        assert rss - before[node][1] < 50.0, figures
        # every frame the node took in was replaced in the slot, refused with an error, or
        # published: none vanished.  How many were replaced depends on this machine's speed.
        assert delta["received"] == (delta["dropped"] + delta["input_errors"] + delta["engine_errors"]
                                     + delta["published"]), figures
        assert delta["input_errors"] >= 1, figures  # the first of the burst found the worker idle
    # every depth/camera_info that went out during the fuzz is a usable pinhole description
    with raw.client.lock:
        infos = [m for t, m in raw.client.depth_info if t >= t_fuzz]
    lying = [m for m in infos if not _plausible(m)]
    figures["depth_camera_info_published"] = len(infos)
    figures["implausible_camera_info"] = len(lying)
    print("\nFUZZ " + json.dumps(figures))
    assert not lying, "published depth/camera_info that no consumer can use: %s" % lying[0]
    assert figures["raw"]["camera_info_errors"] >= 10, figures  # every fuzzed info was used


def _plausible(info: Any) -> bool:
    k, p = np.array(info.k).reshape(3, 3), np.array(info.p).reshape(3, 4)
    return bool(np.all(np.isfinite(k)) and np.all(np.isfinite(p)) and np.all(np.isfinite(np.array(info.d)))
                and np.all(np.isfinite(np.array(info.r))) and k[0, 0] > 0 and k[1, 1] > 0
                and np.array_equal(k[2], [0.0, 0.0, 1.0]) and np.array_equal(p[2], [0.0, 0.0, 1.0, 0.0]))


def image_bytes(msg: Any) -> bytes:
    return bytes(msg.data)

