"""fastdepth_ros: FastDepth monocular depth for ROS 2.

Data flow, one module per step: ``imaging`` (ROS image <-> numpy) -> ``preprocess``
(official FastDepth crop/resize, geometry from ``geometry``) -> ``engine`` (ONNX Runtime) ->
``postprocess`` (REP 117/118 depth) -> ``node`` (rclpy).  ``pipeline`` chains the middle
three.  Torch code lives only in ``fastdepth_ros.training``.
"""

__version__ = "0.1.0"
