"""Model depth grid -> the published depth image (REP 117 flags, REP 118 encodings).

REP 118: ``32FC1`` metres along the optical axis, or ``16UC1`` millimetres with 0 meaning
no measurement.  REP 117 (32FC1 only): NaN = no valid measurement, -Inf = closer than the
sensor's minimum range, +Inf = beyond its maximum range.  The model always produces a
number, so NaN comes from non-positive/non-finite outputs and from output pixels that lie
outside the area the model saw (input-sized output with the paper's crop).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .geometry import FrameGeometry

ENCODINGS = ("32FC1", "16UC1")
MAX_16UC1_M = 65.535


class DepthPostprocessor:
    """Range-flags the model's depth and resamples it onto the output grid."""

    def __init__(self, min_range_m: float, max_range_m: float, encoding: str = "32FC1") -> None:
        if not (0.0 <= min_range_m < max_range_m):
            raise ValueError(
                "need 0 <= min_range_m < max_range_m, got %g, %g" % (min_range_m, max_range_m)
            )
        if encoding not in ENCODINGS:
            raise ValueError("output encoding must be one of %s, got %r" % (ENCODINGS, encoding))
        if encoding == "16UC1" and max_range_m > MAX_16UC1_M:
            raise ValueError("16UC1 cannot hold ranges beyond %.3f m" % MAX_16UC1_M)
        self.min_range_m = float(min_range_m)
        self.max_range_m = float(max_range_m)
        self.encoding = encoding

    def flag(self, depth_m: np.ndarray) -> np.ndarray:
        """REP 117 flags in place on a float32 array (returned for chaining)."""
        with np.errstate(invalid="ignore"):
            invalid = ~np.isfinite(depth_m) | (depth_m <= 0)
            too_close = depth_m < self.min_range_m
            too_far = depth_m > self.max_range_m
        depth_m[too_close] = -np.inf
        depth_m[too_far] = np.inf
        depth_m[invalid] = np.nan
        return depth_m

    def __call__(self, model_depth_m: np.ndarray, geometry: Optional[FrameGeometry] = None) -> np.ndarray:
        """``model_depth_m``: HxW float32 at the model grid.  Returns a new array."""
        depth = np.array(model_depth_m, dtype=np.float32, copy=True)
        self.flag(depth)
        if geometry is not None and geometry.rectify_map is not None:
            depth[~geometry.rectify_map.valid] = np.nan  # rays outside the raw image: unseen
        if geometry is not None and not geometry.is_identity_output:
            depth = depth[geometry.out_row_indices[:, None], geometry.out_col_indices[None, :]]
            if not geometry.out_row_valid.all():
                depth[~geometry.out_row_valid, :] = np.nan
            if not geometry.out_col_valid.all():
                depth[:, ~geometry.out_col_valid] = np.nan
        if self.encoding == "16UC1":
            return to_millimetres(depth)
        return depth


def to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """32FC1 metres -> 16UC1 millimetres; every REP 117 flag becomes 0 (no measurement)."""
    finite = np.isfinite(depth_m)
    mm = np.zeros(depth_m.shape, dtype=np.uint16)
    np.rint(depth_m * 1000.0, out=depth_m, where=finite)
    mm[finite] = np.clip(depth_m[finite], 0, 65535).astype(np.uint16)
    return mm
