"""Tests for fastdepth_ros.imaging: ROS Image/CompressedImage <-> numpy.

Only message classes are used (no rclpy.init, no ROS graph).  Messages with padded rows
or foreign byte order are built by hand, byte by byte, so the decoder is checked against
the wire format rather than against its own encoder.
"""

from __future__ import annotations

import array
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "fastdepth_ros" / "imaging.py"


def _load_imaging():
    """The working-tree module, even where an installed copy shadows it.

    A non-editable ``pip install .`` leaves a snapshot in site-packages, and pytest
    (rootdir-relative imports) finds that before the source tree, so edits here would go
    untested.  imaging.py imports nothing from its package, so it can be loaded from
    its path on its own.
    """
    try:
        from fastdepth_ros import imaging as mod
    except ImportError:
        mod = None
    if mod is not None and Path(mod.__file__).resolve() == SOURCE:
        return mod
    if mod is not None:
        warnings.warn(
            f"fastdepth_ros is imported from {Path(mod.__file__).parent}, not the working "
            f"tree; testing {SOURCE} directly (reinstall with `pip install -e .`)",
            stacklevel=1,
        )
    spec = importlib.util.spec_from_file_location("fastdepth_ros_imaging_under_test", SOURCE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


imaging = _load_imaging()

# the public API, under the names other modules import
ImageDecodeError = imaging.ImageDecodeError
bytes_per_pixel = imaging.bytes_per_pixel
channels = imaging.channels
compressed_to_numpy = imaging.compressed_to_numpy
image_msg_to_rgb8 = imaging.image_msg_to_rgb8
image_to_numpy = imaging.image_to_numpy
numpy_to_compressed = imaging.numpy_to_compressed
numpy_to_image = imaging.numpy_to_image
to_rgb8 = imaging.to_rgb8

H, W = 6, 8
RNG = np.random.default_rng(1234)

# encoding -> (dtype, trailing shape) of the array numpy_to_image takes
LAYOUT = {
    "rgb8": (np.uint8, (3,)),
    "bgr8": (np.uint8, (3,)),
    "rgba8": (np.uint8, (4,)),
    "bgra8": (np.uint8, (4,)),
    "mono8": (np.uint8, ()),
    "mono16": (np.uint16, ()),
    "8UC1": (np.uint8, ()),
    "8UC3": (np.uint8, (3,)),
    "16UC1": (np.uint16, ()),
    "32FC1": (np.float32, ()),
}
YUV = {
    "uyvy": cv2.COLOR_YUV2RGB_UYVY,
    "yuv422": cv2.COLOR_YUV2RGB_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2RGB_YUYV,
    "yuyv": cv2.COLOR_YUV2RGB_YUYV,
}


def random_image(dtype, tail, h=H, w=W):
    shape = (h, w) + tail
    if np.dtype(dtype).kind == "f":
        return (RNG.standard_normal(shape) * 1000).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True, dtype=dtype)


def fake_msg(encoding, height, width, step, data, is_bigendian=0):
    """A duck-typed Image: the decoder must not care that it is not a ROS message."""
    return SimpleNamespace(
        encoding=encoding,
        height=height,
        width=width,
        step=step,
        is_bigendian=is_bigendian,
        data=data,
    )


def padded_msg(arr, encoding, pad, wire_dtype=None):
    """Hand-build an Image whose rows carry ``pad`` garbage bytes after the pixels."""
    h, w = arr.shape[:2]
    wire = np.asarray(arr, dtype=wire_dtype or arr.dtype)
    rows = wire.reshape(h, -1).view(np.uint8).reshape(h, -1)
    row_bytes = rows.shape[1]
    buf = np.full((h, row_bytes + pad), 0xAB, dtype=np.uint8)
    buf[:, :row_bytes] = rows
    msg = Image()
    msg.height, msg.width, msg.encoding = h, w, encoding
    msg.step = row_bytes + pad
    msg.is_bigendian = 1 if np.dtype(wire.dtype).byteorder == ">" else 0
    msg.data = array.array("B", buf.tobytes())
    return msg


def data_view(msg):
    return np.frombuffer(msg.data, dtype=np.uint8)


# --------------------------------------------------------------------------- tables


def test_bytes_per_pixel_and_channels():
    expected = {
        "rgb8": (3, 3),
        "bgr8": (3, 3),
        "rgba8": (4, 4),
        "bgra8": (4, 4),
        "mono8": (1, 1),
        "mono16": (2, 1),
        "8UC1": (1, 1),
        "8UC3": (3, 3),
        "16UC1": (2, 1),
        "32FC1": (4, 1),
        "yuv422": (2, 2),
        "yuv422_yuy2": (2, 2),
        "yuyv": (2, 2),
        "uyvy": (2, 2),
    }
    for enc, (bpp, nch) in expected.items():
        assert bytes_per_pixel(enc) == bpp, enc
        assert channels(enc) == nch, enc
    with pytest.raises(ImageDecodeError, match="unsupported encoding 'rgb16'"):
        bytes_per_pixel("rgb16")
    with pytest.raises(ImageDecodeError, match="unsupported encoding"):
        channels("bayer_rggb8")


def test_module_does_not_import_ros_at_import_time():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('imaging_probe', {str(SOURCE)!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs'))\n"
        "assert not bad, bad\n"
        "msg = type('M', (), dict(encoding='mono8', height=1, width=2, step=2,\n"
        "                         is_bigendian=0, data=b'\\x01\\x02'))()\n"
        "assert mod.image_to_numpy(msg).tolist() == [[1, 2]]\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- raw round trips


@pytest.mark.parametrize("encoding", sorted(LAYOUT))
def test_round_trip_every_encoding(encoding):
    dtype, tail = LAYOUT[encoding]
    arr = random_image(dtype, tail)
    msg = numpy_to_image(arr, encoding)
    assert isinstance(msg, Image)
    assert isinstance(msg.data, array.array) and msg.data.typecode == "B"
    assert (msg.height, msg.width, msg.encoding) == (H, W, encoding)
    assert msg.step == W * bytes_per_pixel(encoding)
    assert len(msg.data) == msg.step * H
    assert msg.is_bigendian == (1 if sys.byteorder == "big" else 0)
    out = image_to_numpy(msg)
    assert out.dtype == np.dtype(dtype)
    assert out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)
    # Tight rows, native order: the decode is a view over the message bytes.
    assert np.shares_memory(out, data_view(msg))


@pytest.mark.parametrize("encoding", sorted(YUV))
def test_yuv_round_trip_through_message(encoding):
    packed = RNG.integers(16, 240, size=(H, W, 2), dtype=np.uint8)
    msg = numpy_to_image(packed, encoding)
    assert msg.step == 2 * W
    assert bytes(msg.data) == packed.tobytes()
    out = image_to_numpy(msg)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, cv2.cvtColor(packed, YUV[encoding]))
    # already RGB: the convenience path must not convert a second time
    np.testing.assert_array_equal(image_msg_to_rgb8(msg), out)


def test_round_trip_through_serialization():
    """What a subscriber really receives: a deserialized message, data as array.array."""
    from rclpy.serialization import deserialize_message, serialize_message

    arr = random_image(np.float32, ())
    received = deserialize_message(serialize_message(numpy_to_image(arr, "32FC1")), Image)
    assert isinstance(received.data, array.array)
    np.testing.assert_array_equal(image_to_numpy(received), arr)


def test_round_trip_noncontiguous_and_byteswapped_input():
    base = random_image(np.uint16, (), h=H, w=2 * W)
    strided = base[:, ::2]  # not contiguous
    msg = numpy_to_image(strided, "16UC1")
    np.testing.assert_array_equal(image_to_numpy(msg), strided)
    swapped = strided.astype(">u2")  # foreign byte order in: host order on the wire
    msg = numpy_to_image(swapped, "16UC1")
    assert msg.is_bigendian == (1 if sys.byteorder == "big" else 0)
    out = image_to_numpy(msg)
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, strided)


def test_numpy_to_image_header_copied_and_msg_filled():
    header = Header(frame_id="camera_optical", stamp=Time(sec=12, nanosec=345))
    target = Image()
    arr = random_image(np.uint8, (3,))
    msg = numpy_to_image(arr, "rgb8", header=header, msg=target)
    assert msg is target
    assert msg.header.frame_id == "camera_optical"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 345)
    assert msg.header is not header
    header.frame_id = "changed"
    assert msg.header.frame_id == "camera_optical"
    # HxWx1 is accepted for a 1-channel encoding
    mono = random_image(np.uint8, (1,))
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(mono, "mono8")), mono[:, :, 0])


def test_encoding_lookup_is_case_insensitive():
    arr = random_image(np.uint16, ())
    msg = numpy_to_image(arr, "16uc1")
    assert msg.encoding == "16UC1"
    msg.encoding = "16uc1"
    np.testing.assert_array_equal(image_to_numpy(msg), arr)


# ------------------------------------------------------------------- step padding


@pytest.mark.parametrize(
    "encoding,pad",
    [
        ("rgb8", 5),
        ("mono8", 3),
        ("bgra8", 4),
        ("16UC1", 6),
        ("32FC1", 12),
        ("mono16", 2),
    ],
)
def test_step_padding_is_a_strided_view(encoding, pad):
    dtype, tail = LAYOUT[encoding]
    arr = random_image(dtype, tail)
    msg = padded_msg(arr, encoding, pad)
    out = image_to_numpy(msg)
    np.testing.assert_array_equal(out, arr)
    assert out.strides[0] == msg.step
    assert not out.flags.c_contiguous
    assert np.shares_memory(out, data_view(msg))  # no copy was made
    # and it really is the message memory: writing to it is visible in the array
    msg.data[0] = (msg.data[0] + 1) % 256
    assert not np.array_equal(out, arr)


def test_step_padding_known_pixels():
    # 2x2 rgb8, step 8 (6 pixel bytes + 2 padding): values chosen by hand
    data = bytes([1, 2, 3, 4, 5, 6, 99, 99, 7, 8, 9, 10, 11, 12, 99, 99])
    out = image_to_numpy(fake_msg("rgb8", 2, 2, 8, bytearray(data)))
    assert out.tolist() == [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]
    # 2x3 mono16 little-endian, step 8 (6 + 2 padding)
    words = np.array([[1, 2, 513, 0], [65535, 256, 3, 0]], dtype="<u2")
    out = image_to_numpy(fake_msg("mono16", 2, 3, 8, words.tobytes()))
    assert out.tolist() == [[1, 2, 513], [65535, 256, 3]]


def test_yuv_with_padding():
    packed = RNG.integers(16, 240, size=(4, 6, 2), dtype=np.uint8)
    msg = padded_msg(packed, "yuv422", 4)
    np.testing.assert_array_equal(
        image_to_numpy(msg),
        cv2.cvtColor(np.ascontiguousarray(packed), cv2.COLOR_YUV2RGB_UYVY),
    )


# -------------------------------------------------------------------- byte order


def test_big_endian_16uc1_by_hand():
    values = np.array([[0, 1, 258, 4660], [65535, 32768, 1000, 7]], dtype=np.uint16)
    be_bytes = values.astype(">u2").tobytes()
    assert be_bytes[:8] == bytes([0, 0, 0, 1, 1, 2, 0x12, 0x34])  # really big-endian
    msg = Image(
        height=2,
        width=4,
        encoding="16UC1",
        is_bigendian=1,
        step=8,
        data=array.array("B", be_bytes),
    )
    out = image_to_numpy(msg)
    assert out.dtype == np.uint16 and out.dtype.isnative
    assert out.tolist() == values.tolist()


def test_big_endian_32fc1_by_hand_with_padding():
    values = np.array([[0.0, 1.5, -2.25], [3.0e4, np.nan, 0.125]], dtype=np.float32)
    msg = padded_msg(values, "32FC1", 4, wire_dtype=">f4")
    assert msg.is_bigendian == 1 and msg.step == 16
    out = image_to_numpy(msg)
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, values)  # NaN == NaN for assert_array_equal


def test_little_endian_flag_is_honoured_too():
    values = np.array([[1, 256]], dtype=np.uint16)
    le = image_to_numpy(fake_msg("16UC1", 1, 2, 4, values.astype("<u2").tobytes(), 0))
    be = image_to_numpy(fake_msg("16UC1", 1, 2, 4, values.astype("<u2").tobytes(), 1))
    assert le.tolist() == [[1, 256]]
    assert be.tolist() == [[256, 1]]  # same bytes read big-endian


def test_host_order_message_is_not_copied():
    values = random_image(np.float32, ())
    host_is_big = sys.byteorder == "big"
    msg = fake_msg("32FC1", H, W, 4 * W, bytearray(values.tobytes()), int(host_is_big))
    out = image_to_numpy(msg)
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))
    foreign = fake_msg(
        "32FC1",
        H,
        W,
        4 * W,
        bytearray(values.byteswap().tobytes()),
        int(not host_is_big),
    )
    out = image_to_numpy(foreign)
    np.testing.assert_array_equal(out, values)
    assert not np.shares_memory(out, np.frombuffer(foreign.data, np.uint8))


# --------------------------------------------------------------------------- YUV


def _pairs(y0, u, y1, v, order):
    return [u, y0, v, y1] if order == "uyvy" else [y0, u, y1, v]


@pytest.mark.parametrize("encoding,order", [("yuv422", "uyvy"), ("uyvy", "uyvy"), ("yuv422_yuy2", "yuyv"),
                                            ("yuyv", "yuyv")])
def test_yuv_hand_built_constant_colours(encoding, order):
    # Left half neutral grey (U=V=128), right half strong red (V high, U low).
    h, w = 2, 4
    row = _pairs(128, 128, 128, 128, order) + _pairs(82, 90, 82, 240, order)
    msg = fake_msg(encoding, h, w, 2 * w, bytes(row * h))
    out = image_to_numpy(msg).astype(int)
    assert out.shape == (h, w, 3)
    grey = out[:, :2].reshape(-1, 3)
    assert np.all(np.abs(grey - grey[:, :1]) <= 2)  # R == G == B
    assert np.all(np.abs(grey - 128) <= 25)
    red = out[:, 2:].reshape(-1, 3)
    # Y=82, U=90, V=240 is BT.601 red: R high, G and B low.  A U/V or Y/chroma
    # order mix-up gives a visibly different colour.
    assert np.all(red[:, 0] >= 200), red
    assert np.all(red[:, 1] <= 40) and np.all(red[:, 2] <= 40), red


@pytest.mark.parametrize(
    "encoding,to_yuv",
    [
        ("yuv422", cv2.COLOR_RGB2YUV_UYVY),
        ("uyvy", cv2.COLOR_RGB2YUV_UYVY),
        ("yuv422_yuy2", cv2.COLOR_RGB2YUV_YUYV),
        ("yuyv", cv2.COLOR_RGB2YUV_YUYV),
    ],
)
def test_yuv_from_known_rgb(encoding, to_yuv):
    # constant colour per 2-pixel pair, so 4:2:2 chroma subsampling loses nothing
    pairs = RNG.integers(30, 220, size=(4, 3, 3), dtype=np.uint8)
    rgb = np.repeat(pairs, 2, axis=1)
    packed = cv2.cvtColor(rgb, to_yuv)
    assert packed.shape == (4, 6, 2)
    out = image_to_numpy(fake_msg(encoding, 4, 6, 12, packed.tobytes()))
    assert np.max(np.abs(out.astype(int) - rgb.astype(int))) <= 6


# ------------------------------------------------------------------------ to_rgb8


def test_to_rgb8_conversions():
    rgb = random_image(np.uint8, (3,))
    assert to_rgb8(rgb, "rgb8") is rgb
    np.testing.assert_array_equal(to_rgb8(rgb[:, :, ::-1], "bgr8"), rgb)
    # a bare 8UC3 has no colour order: BGR, as cv_bridge and OpenCV read it
    np.testing.assert_array_equal(to_rgb8(rgb[:, :, ::-1], "8UC3"), rgb)
    alpha = random_image(np.uint8, (1,))
    np.testing.assert_array_equal(to_rgb8(np.concatenate([rgb, alpha], 2), "rgba8"), rgb)
    bgra = np.concatenate([rgb[:, :, ::-1], alpha], 2)
    np.testing.assert_array_equal(to_rgb8(bgra, "bgra8"), rgb)
    gray = random_image(np.uint8, ())
    for enc in ("mono8", "8UC1"):
        out = to_rgb8(gray, enc)
        assert out.shape == (H, W, 3) and out.dtype == np.uint8
        for c in range(3):
            np.testing.assert_array_equal(out[:, :, c], gray)
    g16 = np.array([[0, 255, 256, 65535], [4660, 511, 512, 32768]], dtype=np.uint16)
    out = to_rgb8(g16, "mono16")
    assert out.dtype == np.uint8
    assert out[:, :, 1].tolist() == [[0, 0, 1, 255], [0x12, 1, 2, 128]]


def test_to_rgb8_accepts_strided_views():
    rgb = random_image(np.uint8, (3,), w=2 * W)
    view = rgb[:, ::2]
    assert to_rgb8(view, "rgb8") is view
    np.testing.assert_array_equal(to_rgb8(view[:, :, ::-1], "bgr8"), view)


def test_to_rgb8_yuv_inputs():
    packed = RNG.integers(16, 240, size=(H, W, 2), dtype=np.uint8)
    expected = cv2.cvtColor(packed, cv2.COLOR_YUV2RGB_UYVY)
    np.testing.assert_array_equal(to_rgb8(packed, "yuv422"), expected)
    assert to_rgb8(expected, "yuv422") is expected  # already RGB, as image_to_numpy gives


@pytest.mark.parametrize("encoding,dtype", [("16UC1", np.uint16), ("32FC1", np.float32)])
def test_to_rgb8_rejects_depth(encoding, dtype):
    with pytest.raises(ImageDecodeError, match=f"{encoding} is a depth encoding, not a colour image"):
        to_rgb8(np.zeros((2, 2), dtype), encoding)
    msg = numpy_to_image(np.zeros((2, 2), dtype), encoding)
    with pytest.raises(ImageDecodeError, match="depth encoding"):
        image_msg_to_rgb8(msg)


def test_to_rgb8_rejects_wrong_shape_or_dtype():
    with pytest.raises(ImageDecodeError, match=r"rgb8 array must be HxWx3, got shape \(2, 2\)"):
        to_rgb8(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ImageDecodeError, match="mono16 array must have dtype uint16, got uint8"):
        to_rgb8(np.zeros((2, 2), np.uint8), "mono16")


def test_image_msg_to_rgb8():
    rgb = random_image(np.uint8, (3,))
    np.testing.assert_array_equal(image_msg_to_rgb8(numpy_to_image(rgb[:, :, ::-1], "bgr8")), rgb)
    np.testing.assert_array_equal(image_msg_to_rgb8(numpy_to_image(rgb, "rgb8")), rgb)


# ------------------------------------------------------------------ data types


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "array", "ndarray", "list"])
def test_data_container_types(kind):
    values = random_image(np.uint16, ())
    raw = values.astype("<u2").tobytes()
    data = {
        "bytes": lambda: raw,
        "bytearray": lambda: bytearray(raw),
        "memoryview": lambda: memoryview(bytearray(raw)),
        "array": lambda: array.array("B", raw),
        "ndarray": lambda: np.frombuffer(raw, np.uint8).copy(),
        "list": lambda: list(raw),
    }[kind]()
    out = image_to_numpy(fake_msg("16UC1", H, W, 2 * W, data, 0))
    np.testing.assert_array_equal(out, values)
    if kind in ("bytearray", "array", "ndarray", "memoryview") and sys.byteorder == "little":
        assert np.shares_memory(out, np.frombuffer(data, np.uint8))


# ------------------------------------------------------------------------ errors


def _rgb_msg(**override):
    fields = {
        "encoding": "rgb8",
        "height": 4,
        "width": 5,
        "step": 15,
        "data": bytes(60),
        "is_bigendian": 0,
    }
    fields.update(override)
    return SimpleNamespace(**fields)


@pytest.mark.parametrize(
    "override,pattern",
    [
        ({"encoding": "bayer_rggb8"}, r"unsupported encoding 'bayer_rggb8'"),
        ({"encoding": ""}, r"unsupported encoding ''"),
        ({"width": 0, "step": 0}, r"zero-size image: width=0 height=4"),
        ({"height": 0, "data": b""}, r"zero-size image: width=5 height=0"),
        (
            {"width": 20000, "step": 60000},
            r"absurd image size 20000x4 .*16384 per side",
        ),
        ({"height": 100000}, r"absurd image size 5x100000"),
        ({"step": 14}, r"step 14 is smaller than width\*bytes_per_pixel = 5\*3 = 15"),
        (
            {"data": bytes(59)},
            r"short buffer: got 59 bytes, need 60 \(step 15 \* height 4\)",
        ),
        ({"step": 16, "data": bytes(60)}, r"short buffer: got 60 bytes, need 64"),
        (
            {"encoding": "16UC1", "step": 11, "width": 5, "data": bytes(44)},
            r"step 11 is not a multiple of the 2-byte element size of 16UC1",
        ),
        (
            {"encoding": "32FC1", "step": 22, "width": 5, "data": bytes(88)},
            r"step 22 is not a multiple of the 4-byte element size of 32FC1",
        ),
        (
            {"encoding": "yuv422", "step": 10, "width": 5, "data": bytes(40)},
            r"yuv422 packs pixels in pairs, so width must be even; got width=5",
        ),
    ],
)
def test_decode_errors(override, pattern):
    with pytest.raises(ImageDecodeError, match=pattern):
        image_to_numpy(_rgb_msg(**override))


def test_decode_error_is_a_value_error():
    assert issubclass(ImageDecodeError, ValueError)
    with pytest.raises(ValueError, match="short buffer"):
        image_to_numpy(_rgb_msg(data=b""))


def test_real_message_short_buffer():
    msg = numpy_to_image(random_image(np.uint16, ()), "16UC1")
    msg.data = msg.data[:-3]
    need = 2 * W * H
    with pytest.raises(ImageDecodeError, match=f"short buffer: got {need - 3} bytes, need {need}"):
        image_to_numpy(msg)


@pytest.mark.parametrize(
    "arr,encoding,pattern",
    [
        (
            np.zeros((2, 2), np.float64),
            "32FC1",
            "32FC1 needs dtype float32, got float64",
        ),
        (np.zeros((2, 2), np.uint8), "16UC1", "16UC1 needs dtype uint16, got uint8"),
        (
            np.zeros((2, 2, 3), np.uint8),
            "mono8",
            r"mono8 needs a HxW array, got shape \(2, 2, 3\)",
        ),
        (
            np.zeros((2, 2), np.uint8),
            "rgba8",
            r"rgba8 needs a HxWx4 array, got shape \(2, 2\)",
        ),
        (np.zeros((0, 3, 3), np.uint8), "rgb8", "zero-size image: width=3 height=0"),
        (np.zeros((2, 3, 2), np.uint8), "yuyv", "width must be even; got width=3"),
        (np.zeros((2, 2), np.uint8), "jpeg", "unsupported encoding 'jpeg'"),
    ],
)
def test_encode_errors(arr, encoding, pattern):
    with pytest.raises(ImageDecodeError, match=pattern):
        numpy_to_image(arr, encoding)


# -------------------------------------------------------------------- compressed


def smooth_rgb(h=48, w=64):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], axis=2).astype(
        np.uint8
    )


def test_png_round_trip_rgb8_exact():
    rgb = random_image(np.uint8, (3,))
    header = Header(frame_id="cam", stamp=Time(sec=1, nanosec=2))
    msg = numpy_to_compressed(rgb, "rgb8", fmt="png", header=header)
    assert isinstance(msg, CompressedImage)
    assert isinstance(msg.data, array.array)
    assert msg.format == "rgb8; png compressed bgr8"
    assert msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 2
    out, enc = compressed_to_numpy(msg)
    assert enc == "rgb8"
    np.testing.assert_array_equal(out, rgb)
    # the file stores BGR, as image_transport's "compressed bgr8" says
    raw = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(raw, rgb[:, :, ::-1])


def test_png_round_trip_bgr8_and_rgba8():
    rgb = random_image(np.uint8, (3,))
    out, enc = compressed_to_numpy(numpy_to_compressed(rgb[:, :, ::-1], "bgr8", fmt="png"))
    assert enc == "rgb8"
    np.testing.assert_array_equal(out, rgb)
    rgba = np.concatenate([rgb, np.full((H, W, 1), 7, np.uint8)], axis=2)
    msg = numpy_to_compressed(rgba, "rgba8", fmt="png")
    assert msg.format == "rgba8; png compressed bgr8"
    np.testing.assert_array_equal(compressed_to_numpy(msg)[0], rgb)


def test_jpeg_round_trip_within_tolerance():
    rgb = smooth_rgb()
    msg = numpy_to_compressed(rgb, "rgb8")
    assert msg.format == "rgb8; jpeg compressed bgr8"
    assert bytes(msg.data[:2]) == b"\xff\xd8"  # JPEG SOI marker
    out, enc = compressed_to_numpy(msg)
    assert enc == "rgb8" and out.shape == rgb.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - rgb.astype(int))
    assert diff.mean() < 2.0 and diff.max() < 30
    # a channel swap would be far outside that tolerance
    assert np.abs(out[:, :, ::-1].astype(int) - rgb.astype(int)).mean() > 20


def test_plain_format_strings_decode():
    rgb = smooth_rgb()
    for fmt in ("jpeg", "png", "bgr8; png compressed bgr8"):
        msg = numpy_to_compressed(rgb, "rgb8", fmt="png")
        msg.format = fmt
        out, enc = compressed_to_numpy(msg)
        assert enc == "rgb8"
        np.testing.assert_array_equal(out, rgb)


def test_mono8_png_and_jpeg():
    gray = smooth_rgb()[:, :, 0]
    msg = numpy_to_compressed(gray, "mono8", fmt="png")
    assert msg.format == "mono8; png compressed mono8"
    out, enc = compressed_to_numpy(msg)
    assert enc == "mono8" and out.shape == gray.shape
    np.testing.assert_array_equal(out, gray)
    out, enc = compressed_to_numpy(numpy_to_compressed(gray, "mono8", fmt="jpeg"))
    assert enc == "mono8"
    assert np.abs(out.astype(int) - gray.astype(int)).max() < 10


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_mono16_png_round_trip_exact(encoding):
    values = random_image(np.uint16, (), h=17, w=23)
    values[0, :3] = [0, 65535, 256]
    msg = numpy_to_compressed(values, encoding, fmt="png")
    assert msg.format == f"{encoding}; png compressed {encoding}"
    out, enc = compressed_to_numpy(msg)
    assert enc == "mono16" and out.dtype == np.uint16
    np.testing.assert_array_equal(out, values)


def test_compressed_errors():
    with pytest.raises(
        ImageDecodeError,
        match=r"cannot decode compressed image \(format "
        r"'jpeg', 5 bytes\)",
    ):
        compressed_to_numpy(SimpleNamespace(format="jpeg", data=b"hello"))
    with pytest.raises(ImageDecodeError, match="data is empty"):
        compressed_to_numpy(CompressedImage(format="png"))
    truncated = numpy_to_compressed(smooth_rgb(), "rgb8", fmt="png")
    truncated.data = truncated.data[:40]
    with pytest.raises(ImageDecodeError, match="cannot decode compressed image"):
        compressed_to_numpy(truncated)
    with pytest.raises(ImageDecodeError, match="compressedDepth is not supported"):
        compressed_to_numpy(SimpleNamespace(format="16UC1; compressedDepth png", data=bytes(12) + b"\x89PNG"))
    with pytest.raises(ImageDecodeError, match="jpeg is 8-bit only, use png"):
        numpy_to_compressed(np.zeros((4, 4), np.uint16), "mono16", fmt="jpeg")
    with pytest.raises(ImageDecodeError, match="32FC1 cannot be stored as png"):
        numpy_to_compressed(np.zeros((4, 4), np.float32), "32FC1", fmt="png")
    with pytest.raises(ImageDecodeError, match="unsupported compressed format 'webp'"):
        numpy_to_compressed(np.zeros((4, 4, 3), np.uint8), "rgb8", fmt="webp")


def test_compressed_fills_given_message():
    target = CompressedImage()
    msg = numpy_to_compressed(smooth_rgb(), "rgb8", fmt="jpg", msg=target)
    assert msg is target and msg.format == "rgb8; jpeg compressed bgr8"


# ------------------------------------------------------- issue 11: encodings, pixel budget


def test_colour_path_lists_colour_encodings_and_refuses_depth_first():
    msg = fake_msg("xyz123", 2, 2, 6, bytes(12))
    with pytest.raises(ImageDecodeError, match="unsupported encoding 'xyz123'") as info:
        image_msg_to_rgb8(msg)
    listed = str(info.value).split("supported: ")[1]
    assert "rgb8" in listed and "uyvy" in listed
    assert "16UC1" not in listed and "32FC1" not in listed  # refused below: not listed as usable
    for enc in ("16UC1", "32FC1", "32fc1"):
        with pytest.raises(ImageDecodeError, match="depth encoding, not a colour image"):
            image_msg_to_rgb8(fake_msg(enc, 2, 2, 2, b""))  # refused before the (short) data


def test_canonical_encoding():
    assert imaging.canonical_encoding("RGB8") == "rgb8"
    assert imaging.canonical_encoding("8uc3") == "8UC3"
    assert imaging.canonical_encoding("uyvy") == "uyvy"
    with pytest.raises(ImageDecodeError, match="unsupported encoding"):
        imaging.canonical_encoding("rgb16")


def test_pixel_budget_on_raw_images():
    rgb = random_image(np.uint8, (3,))
    msg = numpy_to_image(rgb, "rgb8")
    np.testing.assert_array_equal(image_msg_to_rgb8(msg, max_pixels=H * W), rgb)
    with pytest.raises(ImageDecodeError, match="exceeds the pixel budget of %d" % (H * W - 1)):
        image_msg_to_rgb8(msg, max_pixels=H * W - 1)


def _png_header(width, height, bit_depth=8, colour_type=0):
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_compressed_size_reads_the_header(fmt):
    img = smooth_rgb()
    data = bytes(numpy_to_compressed(img, "rgb8", fmt=fmt).data)
    assert imaging.compressed_size(data) == (img.shape[1], img.shape[0], fmt)


def test_compressed_size_walks_jpeg_segments_to_the_frame_header():
    ok, enc = cv2.imencode(".jpg", np.zeros((37, 53, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    data = enc.tobytes()
    # an APP segment and fill bytes before the frame header must be skipped
    app = b"\xff\xe1" + (2 + 20).to_bytes(2, "big") + bytes(20)
    data = data[:2] + b"\xff" + app + data[2:]
    assert imaging.compressed_size(data) == (53, 37, "jpeg")


@pytest.mark.parametrize(
    "data,pattern",
    [
        (b"GIF89a" + bytes(20), "not PNG or JPEG data"),
        (b"BM" + bytes(60), "not PNG or JPEG data"),
        (b"\x89PNG\r\n\x1a\n" + bytes(4), "without an IHDR"),
        (b"\xff\xd8\xff\xe0\x00\x10" + bytes(14), "truncated JPEG header"),
        (b"\xff\xd8\xff\xda\x00\x08" + bytes(8), "no frame header before the scan"),
        (b"\xff\xd8\x00\x00\x00\x00", "no marker"),
        (b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x10" + bytes(8), "DNL"),
    ],
)
def test_compressed_size_rejects(data, pattern):
    with pytest.raises(ImageDecodeError, match=pattern):
        imaging.compressed_size(data)


def test_compressed_bomb_is_refused_before_decoding():
    """A PNG header declaring 20000x20000 (the body need not even exist): refused by size."""
    msg = SimpleNamespace(format="png", data=_png_header(20000, 20000) + bytes(100))
    with pytest.raises(ImageDecodeError, match="absurd image size 20000x20000"):
        compressed_to_numpy(msg)
    msg = SimpleNamespace(format="png", data=_png_header(16000, 16000) + bytes(100))
    with pytest.raises(ImageDecodeError, match="exceeds the pixel budget of 16777216"):
        compressed_to_numpy(msg, max_pixels=16777216)
    ok = numpy_to_compressed(smooth_rgb(), "rgb8", fmt="png")
    h, w = smooth_rgb().shape[:2]
    assert compressed_to_numpy(ok, max_pixels=h * w)[0].shape == (h, w, 3)
    with pytest.raises(ImageDecodeError, match="pixel budget"):
        compressed_to_numpy(ok, max_pixels=h * w - 1)
