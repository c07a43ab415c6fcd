"""ament_python package that also installs with plain pip into a venv.

colcon: ``colcon build`` uses setup.cfg's script dirs so ``ros2 run fastdepth_ros depth_node``
works.  pip: ``pip install .[runtime,ros]`` pulls onnxruntime/OpenCV and the PyPI ROS 2
wheels.  Runtime libraries are extras, not install_requires: on a robot they come from apt
(python3-opencv) or vendor wheels (onnxruntime-gpu on Jetson), whose distribution names
differ, and setuptools' entry-point scripts refuse to start when a declared requirement is
"missing" under another name.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "fastdepth_ros"

ROS_WHEELS = [  # ROS 2 Kilted from PyPI; the RMW must be listed explicitly
    "ros-rclpy==9.1.2",
    "ros-sensor-msgs==5.5.1",
    "ros-diagnostic-msgs==5.5.1",
    "ros-rmw-fastrtps-cpp==9.3.3",
]
# ROS 2 Jazzy (the LTS most robots run) from PyPI.  Its wheels share distribution names with
# Kilted's (ros-jazzy-rclpy pulls ros-rclpy 7.1.x), so it lives in its own venv
# (.venv-jazzy, scripts/test.sh).
ROS_JAZZY_WHEELS = [
    "ros-jazzy-rclpy==7.1.6",
    "ros-jazzy-sensor-msgs==5.3.6",
    "ros-jazzy-diagnostic-msgs==5.3.6",
    "ros-jazzy-rmw-fastrtps-cpp==8.4.3",
]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.py")),
        ("share/" + PACKAGE + "/config", glob("config/*.yaml") + glob("config/*.xml")),
        ("share/" + PACKAGE + "/models", glob("models/*.onnx") + glob("models/*.json")),
        ("share/" + PACKAGE + "/data/sample_bag", glob("data/sample_bag/*")),
    ],
    python_requires=">=3.8",
    install_requires=["setuptools", "numpy"],
    extras_require={
        "runtime": ["onnxruntime>=1.16", "opencv-python-headless>=4.5", "rosbags>=0.10", "tqdm"],
        "ros": ROS_WHEELS,
        "ros-jazzy": ROS_JAZZY_WHEELS,
        "train": ["torch==2.13.0", "onnx>=1.15", "matplotlib>=3.5"],  # matplotlib: the NetAdapt Pareto plot
        "test": ["pytest>=7", "ruff", "vermin", "pillow", "pyyaml", "onnx>=1.15", "colcon-common-extensions"],
        "test-node": ["pytest>=7", "pyyaml", "onnx>=1.15"],  # the ROS process tests only (the Jazzy venv)
    },
    zip_safe=True,
    maintainer="fastdepth_ros developers",
    maintainer_email="fastdepth-ros@users.noreply.github.com",
    description="FastDepth monocular metric depth for ROS 2 (ONNX Runtime: TensorRT, CUDA, CPU)",
    license="MIT",
    entry_points={
        "console_scripts": [
            "depth_node = fastdepth_ros.entry:main",
            "depth_lifecycle_node = fastdepth_ros.entry:lifecycle_main",
            "fastdepth-ros = fastdepth_ros.cli:main",
        ],
    },
)
