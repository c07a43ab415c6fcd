"""Procedural renderer: deterministic by seed, physically sane depth and colour."""

from __future__ import annotations

import numpy as np
import pytest

from fastdepth_ros.training import render

SCALE = 0.25  # 120x160 keeps the test fast; geometry is resolution independent


def test_same_seed_same_frame() -> None:
    a, b = render.render(7, SCALE), render.render(7, SCALE)
    assert np.array_equal(a.rgb, b.rgb)
    assert np.array_equal(a.depth_m, b.depth_m)
    c = render.render(8, SCALE)
    assert not np.array_equal(a.depth_m, c.depth_m)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_frame_is_plausible(seed: int) -> None:
    f = render.render(seed, SCALE)
    assert f.rgb.shape == (120, 160, 3) and f.rgb.dtype == np.uint8
    assert f.depth_m.shape == (120, 160) and f.depth_m.dtype == np.float32
    valid = f.depth_m > 0
    assert valid.mean() > 0.9
    d = f.depth_m[valid]
    assert d.min() >= render.MIN_DEPTH_M and d.max() <= render.MAX_DEPTH_M
    assert 0.5 <= np.median(d) <= 10.0
    assert 10 < f.rgb.mean() < 245 and f.rgb.std() > 5  # neither black, blown out nor flat
    assert 0.3 <= f.camera_height_m <= 2.0


def test_intrinsics_scale_keeps_field_of_view() -> None:
    k = render.KINECT.scaled(0.5)
    assert (k.width, k.height) == (320, 240)
    assert k.width / k.fx == pytest.approx(render.KINECT.width / render.KINECT.fx)


def test_flat_floor_depth_is_exact() -> None:
    """A camera looking straight down at an empty floor sees z-depth == its height."""
    import numpy as np

    scene = render.Scene(
        size=np.array([6.0, 6.0, 3.0]),
        materials=[render.Material("plain", np.ones(3) * 0.5, np.ones(3) * 0.5)],
        room_materials=[0] * 6,
    )
    o = np.array([3.0, 3.0, 1.25])
    d = np.array([[0.0, 0.0, -1.0], [0.1, -0.05, -1.0]])  # camera z axis = world -z
    hits, face = render.cast(scene, o, d)
    assert np.allclose(hits.t, 1.25)
    assert list(face) == [4, 4]
