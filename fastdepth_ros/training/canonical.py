"""The canonical camera (Metric3D's idea, Yin et al. 2023) in which the model learns depth.

A monocular network can only learn metric depth for the focal length it is trained at: the
same room seen through a longer lens looks closer.  So every training target is expressed in
one canonical camera, ``d_canonical = d * f_canonical / f_frame`` with both focal lengths in
model-input pixels (after the crop/resize and any zoom augmentation), and at run time the
node converts back with ``d = d_canonical * f_camera / f_canonical`` using the camera_info.

The canonical focal length is NYU Depth v2's Kinect seen through the official val transform,
so a NYU-like camera needs no correction, and the official reference model (trained on NYU)
is already "canonical".  It is recorded in the exported ONNX metadata under
:data:`METADATA_KEY`; the node reads it from there (``Engine.canonical_focal_px``).
"""

from __future__ import annotations

from ..engine import CANONICAL_FOCAL_KEY as METADATA_KEY  # noqa: F401  (the node reads it)
from ..geometry import model_focal_px, plan_sampling
from . import render

MODEL_HW = (224, 224)


def frame_focal_px(fx: float, fy: float, frame_hw: tuple[int, int], mode: str = "crop") -> float:
    """Focal length in model-input pixels of a ``frame_hw`` camera with ``fx``, ``fy``."""
    plan = plan_sampling(frame_hw, MODEL_HW, mode)
    return model_focal_px(fx, fy, plan.rows, plan.cols)


#: NYU's Kinect (the renderer's camera too) through the official crop: ~230.1 px.
CANONICAL_FOCAL_PX = round(
    frame_focal_px(render.KINECT.fx, render.KINECT.fy, (render.KINECT.height, render.KINECT.width)), 3
)
