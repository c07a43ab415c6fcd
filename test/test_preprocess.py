"""Preprocessor: the plan's pixels, scaled to [0, 1], in the model's 1x3xHxW layout."""

from __future__ import annotations

import numpy as np
import pytest

from fastdepth_ros.geometry import plan_sampling
from fastdepth_ros.preprocess import Preprocessor


@pytest.mark.parametrize("mode", ["crop", "full"])
def test_output_is_the_planned_pixels_scaled_to_unit_range(mode: str) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    plan = plan_sampling((480, 640), (224, 224), mode)
    x = Preprocessor(plan)(img)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    for r, c in [(0, 0), (223, 223), (17, 101), (200, 5)]:
        src = img[plan.row_indices[r], plan.col_indices[c]]
        assert np.array_equal(x[0, :, r, c], src.astype(np.float32) / np.float32(255.0))  # RGB order kept
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_padded_rows_give_the_same_input_as_a_tight_image() -> None:
    # A ROS image with step padding arrives as a strided view; no copy, same result.
    img = np.random.default_rng(2).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    padded = np.zeros((480, 700, 3), dtype=np.uint8)
    padded[:, :640] = img
    pre = Preprocessor(plan_sampling((480, 640), (224, 224), "crop"))
    tight = pre(img).copy()
    assert np.array_equal(pre(padded[:, :640]), tight)


def test_non_rgb_input_is_rejected_with_its_shape() -> None:
    pre = Preprocessor(plan_sampling((48, 64), (32, 32), "full"))
    with pytest.raises(ValueError, match=r"HxWx3.*\(48, 64\)"):
        pre(np.zeros((48, 64), dtype=np.uint8))
