"""The node's topic names and image_transport's naming rules, in one place.

image_transport (and every ``CameraSubscriber`` built on it: depth_image_proc, rviz's
Camera/DepthCloud displays, image_view) pairs an image topic with the camera_info topic
that is its *sibling*: ``getCameraInfoTopic("/ns/depth/image") == "/ns/depth/camera_info"``.
So the depth image is published as ``depth/image`` next to ``depth/camera_info`` (the
RealSense layout: ``depth/image_rect_raw`` + ``depth/camera_info``); a consumer pointed at
the depth image finds the depth grid's own camera_info, never the colour camera's.

Pure Python (no rclpy): the replay tool, the benchmark and the tests use the same names.
"""

from __future__ import annotations

#: Inputs (relative: remap them, e.g. ``-r image:=/camera/image_raw``).
IMAGE = "image"
CAMERA_INFO = "camera_info"
#: Outputs, siblings under ``depth/``.
DEPTH_IMAGE = "depth/image"
DEPTH_CAMERA_INFO = "depth/camera_info"
DEPTH_COLORED = "depth/colored"
#: the depth back-projected through depth/camera_info (organised sensor_msgs/PointCloud2)
DEPTH_POINTS = "depth/points"
DIAGNOSTICS = "/diagnostics"
#: Optional metric anchors (fastdepth_ros.anchor): depth registered to the image, its
#: camera_info, and a rangefinder on the optical axis.
ANCHOR_DEPTH = "anchor/depth"
ANCHOR_CAMERA_INFO = "anchor/camera_info"
ANCHOR_RANGE = "anchor/range"


def camera_info_topic(image_topic: str) -> str:
    """image_transport's ``getCameraInfoTopic``: replace the last name token with
    ``camera_info`` (``/ns/depth/image`` -> ``/ns/depth/camera_info``, ``image`` ->
    ``camera_info``).  A trailing slash is ignored, as image_transport does."""
    base = image_topic.rstrip("/")
    head, sep, _ = base.rpartition("/")
    if not sep:
        return CAMERA_INFO
    return head + "/" + CAMERA_INFO


def compressed_topic(image_topic: str) -> str:
    """image_transport's name for the ``compressed`` transport of ``image_topic``."""
    return image_topic.rstrip("/") + "/compressed"


def under(namespace: str, relative: str) -> str:
    """A relative topic name resolved in ``namespace`` (``""`` or ``/`` = the root)."""
    ns = namespace.rstrip("/")
    return "%s/%s" % (ns, relative) if relative[:1] != "/" else relative
