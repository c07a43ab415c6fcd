"""Launch the fastdepth depth node with the package's parameter file.

    ros2 launch fastdepth_ros depth.launch.py image:=/camera/image_raw \
        camera_info:=/camera/camera_info namespace:=drone1 model:=/path/to/model.onnx

Arguments: model (ONNX path; empty = the package's model), namespace, image, camera_info,
params_file (default: share/fastdepth_ros/config/fastdepth.yaml), use_sim_time, lifecycle
(true: the managed ``depth_lifecycle_node``, started unconfigured for a lifecycle manager
or ``ros2 lifecycle set``).  Inputs are remapped, so the node's relative names (image,
camera_info, depth/image, depth/camera_info, ...) stay intact.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory("fastdepth_ros")
    model = LaunchConfiguration("model")
    lifecycle = LaunchConfiguration("lifecycle")
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    common = dict(
        package="fastdepth_ros",
        name="fastdepth",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
        ],
    )
    has_model = PythonExpression(["'", model, "' != ''"])
    managed_node = PythonExpression(["'", lifecycle, "'.lower() in ('true', '1')"])
    params = LaunchConfiguration("params_file")
    # The YAML's model_path: "" would override nothing useful, so the model argument is
    # applied on top of it only when given.
    variants = []
    for model_given in (True, False):
        extra = {"use_sim_time": use_sim_time}
        if model_given:
            extra["model_path"] = model
        given = has_model if model_given else PythonExpression(["not ", has_model])
        plain = PythonExpression([given, " and not ", managed_node])
        managed = PythonExpression([given, " and ", managed_node])
        variants.append(Node(executable="depth_node", parameters=[params, extra],
                             condition=IfCondition(plain), **common))
        variants.append(LifecycleNode(executable="depth_lifecycle_node", parameters=[params, extra],
                                      condition=IfCondition(managed), **common))
    return LaunchDescription(
        [
            DeclareLaunchArgument("model", default_value="", description="ONNX model; empty = the package's"),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
            DeclareLaunchArgument("image", default_value="image", description="input image topic"),
            DeclareLaunchArgument("camera_info", default_value="camera_info", description="info topic"),
            DeclareLaunchArgument(
                "params_file",
                default_value=os.path.join(share, "config", "fastdepth.yaml"),
                description="parameter YAML (/** wildcard)",
            ),
            DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bags)"),
            DeclareLaunchArgument("lifecycle", default_value="false",
                                  description="true: managed depth_lifecycle_node (configure/activate)"),
        ]
        + variants
    )
