"""Camera RGB frame -> model input tensor, exactly as the official FastDepth evaluation.

The official code feeds RGB scaled to [0, 1] with no mean/std normalisation, after the
nearest-neighbour crop/resize chain planned in :mod:`fastdepth_ros.geometry`.  Sampling is
one numpy gather with precomputed indices (no per-frame planning, no intermediate images),
so it also works on strided views of padded ROS image rows without a copy.
"""

from __future__ import annotations

import numpy as np

from .geometry import SamplingPlan


class Preprocessor:
    """Builds the 1x3xHxW float32 input for one sampling plan, reusing its output buffer."""

    def __init__(self, plan: SamplingPlan) -> None:
        self.plan = plan
        self._rows = plan.row_indices[:, None]
        self._cols = plan.col_indices[None, :]
        self._buffer = np.empty((1, 3, plan.rows.size, plan.cols.size), dtype=np.float32)

    def __call__(self, rgb8: np.ndarray) -> np.ndarray:
        """``rgb8``: HxWx3 uint8 RGB (any strides).  Returns a buffer reused on the next call."""
        if rgb8.ndim != 3 or rgb8.shape[2] != 3:
            raise ValueError("expected an HxWx3 RGB image, got shape %s" % (rgb8.shape,))
        sampled = rgb8[self._rows, self._cols]  # model_h x model_w x 3, one gather
        np.divide(sampled.transpose(2, 0, 1), np.float32(255.0), out=self._buffer[0])
        return self._buffer
