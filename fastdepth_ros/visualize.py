"""Colour-mapped depth for people (rviz/rqt_image_view, PNG reports), never for machines."""

from __future__ import annotations

import cv2
import numpy as np


def colorize_depth(depth: np.ndarray, min_m: float, max_m: float, encoding: str = "32FC1") -> np.ndarray:
    """HxW depth (metres, or 16UC1 millimetres) -> HxWx3 uint8 RGB; invalid pixels black.

    Near is warm, far is cool (OpenCV's TURBO map, reversed), on a fixed metric scale so
    colours mean the same distance in every frame.
    """
    d = depth.astype(np.float32) / 1000.0 if encoding == "16UC1" else depth.astype(np.float32)
    valid = np.isfinite(d) & (d > 0) if encoding != "16UC1" else depth > 0
    scaled = (1.0 - (np.clip(d, min_m, max_m) - min_m) / max(max_m - min_m, 1e-6)) * 255.0
    scaled = np.where(valid, scaled, 0).astype(np.uint8)
    bgr = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rgb[~valid] = 0
    return rgb
