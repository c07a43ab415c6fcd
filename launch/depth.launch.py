"""Launch the fastdepth depth node with the package's parameter file.

    ros2 launch fastdepth_ros depth.launch.py image:=/camera/image_raw \
        camera_info:=/camera/camera_info namespace:=drone1 model:=/path/to/model.onnx

Arguments: model (ONNX path; empty = the package's model), namespace, image, camera_info,
params_file (default: share/fastdepth_ros/config/fastdepth.yaml), use_sim_time.  Topics
are remapped, so the node's relative names (image, camera_info, depth, ...) stay intact.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory("fastdepth_ros")
    model = LaunchConfiguration("model")
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    common = dict(
        package="fastdepth_ros",
        executable="depth_node",
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
            # The YAML's model_path: "" would override nothing useful, so the model argument is
            # applied on top of it only when given.
            Node(
                parameters=[LaunchConfiguration("params_file"), {"use_sim_time": use_sim_time,
                                                                 "model_path": model}],
                condition=IfCondition(has_model),
                **common,
            ),
            Node(
                parameters=[LaunchConfiguration("params_file"), {"use_sim_time": use_sim_time}],
                condition=UnlessCondition(has_model),
                **common,
            ),
        ]
    )
