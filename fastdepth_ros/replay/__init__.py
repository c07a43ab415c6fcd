"""Bag replay through the live node, bag building, replay reports and the demo.

``bagio`` (rosbags only, no rclpy) reads and writes rosbag2 bags; ``player`` publishes a
bag onto the ROS graph and ``recorder`` records the node's outputs (both need rclpy);
``report`` turns an input bag with ground truth plus the recorded outputs into metrics,
latency, a CSV and a PNG montage; ``make_bag`` builds bags from image files; ``demo``
runs the whole chain on the shipped sample bag.
"""
