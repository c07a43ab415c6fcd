"""The one builder of pinhole ``sensor_msgs/CameraInfo`` content (bags, bench, tests).

The depth node derives its output camera_info from the input one
(:meth:`fastdepth_ros.geometry.CameraIntrinsics.derive`); everything that has to *make*
a camera from ``fx, fy, cx, cy`` (a bag built from image files, the bench's camera, the
tests' cameras) starts here, so K, R and P are laid out in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .geometry import CameraIntrinsics, pinhole_projection


def pinhole(fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> CameraIntrinsics:
    """An undistorted pinhole camera: plumb_bob with zero D, identity R, P = [K | 0]."""
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)
    return CameraIntrinsics(
        width=int(width),
        height=int(height),
        k=k,
        p=pinhole_projection(k),
        d=(0.0,) * 5,
        r=np.eye(3),
        distortion_model="plumb_bob",
    )


def to_msg(intrinsics: CameraIntrinsics, frame_id: str = "", msg: Any = None) -> Any:
    """A ``sensor_msgs/CameraInfo`` (rclpy; imported lazily) holding ``intrinsics``; the
    stamp is left to the caller."""
    if msg is None:
        from sensor_msgs.msg import CameraInfo

        msg = CameraInfo()
    msg.header.frame_id = frame_id
    intrinsics.fill_msg(msg)
    return msg
