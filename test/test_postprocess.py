"""REP 117 flags, 16UC1 conversion and resampling onto the output grid."""

from __future__ import annotations

import numpy as np
import pytest

from fastdepth_ros.geometry import plan_frame
from fastdepth_ros.postprocess import DepthPostprocessor, to_millimetres


def test_rep117_flags() -> None:
    post = DepthPostprocessor(0.5, 5.0)
    d = np.array([[0.2, 1.0, 7.0], [0.0, np.nan, -1.0]], dtype=np.float32)
    out = post(d)
    assert out[0, 0] == -np.inf and out[0, 1] == 1.0 and out[0, 2] == np.inf
    assert np.isnan(out[1]).all()
    assert d[0, 0] == pytest.approx(0.2)  # input untouched


def test_16uc1_millimetres_zero_for_every_flag() -> None:
    post = DepthPostprocessor(0.5, 5.0, "16UC1")
    out = post(np.array([[0.2, 1.2344, 7.0, np.nan, 4.9996]], dtype=np.float32))
    assert out.dtype == np.uint16
    assert out.tolist() == [[0, 1234, 0, 0, 5000]]
    assert to_millimetres(np.array([np.inf, 1.0], dtype=np.float32)).tolist() == [0, 1000]


@pytest.mark.parametrize("bad", [(-1.0, 5.0), (5.0, 5.0), (0.1, 70.0, "16UC1"), (0.1, 5.0, "8UC1")])
def test_bad_settings_rejected(bad) -> None:
    with pytest.raises(ValueError):
        DepthPostprocessor(*bad)


def test_input_sized_output_is_nan_outside_the_crop() -> None:
    geo = plan_frame((480, 640), (224, 224), "crop", "input")
    post = DepthPostprocessor(0.1, 10.0)
    model = np.full((224, 224), 2.0, dtype=np.float32)
    model[:, 112:] = 3.0
    out = post(model, geo)
    assert out.shape == (480, 640)
    inside_rows = slice(int(np.ceil(geo.sampling.rows.offset)), int(geo.sampling.rows.offset + 437))
    assert np.isnan(out[:20]).all() and np.isnan(out[-20:]).all()
    assert np.isnan(out[:, :25]).all() and np.isnan(out[:, -25:]).all()
    assert np.isfinite(out[inside_rows, 40:600]).all()
    # Left half of the model grid lands left of the image centre, right half right of it.
    assert out[240, 200] == 2.0 and out[240, 440] == 3.0


def test_resized_output_upsamples_model_grid() -> None:
    geo = plan_frame((480, 640), (224, 224), "full", "448x448")
    model = np.arange(224 * 224, dtype=np.float32).reshape(224, 224) / 10000 + 1.0
    out = DepthPostprocessor(0.1, 10.0)(model, geo)
    assert out.shape == (448, 448)
    assert np.array_equal(out[::2, ::2], model) and np.array_equal(out[1::2, 1::2], model)
