"""image_transport's camera_info naming rule (topics.camera_info_topic)."""

from fastdepth_ros import topics


def test_camera_info_is_the_image_topics_sibling() -> None:
    # image_transport::getCameraInfoTopic: last token replaced by camera_info
    assert topics.camera_info_topic("/ns/depth/image") == "/ns/depth/camera_info"
    assert topics.camera_info_topic("/camera/image_raw") == "/camera/camera_info"
    assert topics.camera_info_topic("/camera/image_raw/") == "/camera/camera_info"
    assert topics.camera_info_topic("image") == "camera_info"
    # the layout before issue 12 paired depth with the colour camera's info
    assert topics.camera_info_topic("/ns/depth") == "/ns/camera_info"
    # the node's own outputs pair up
    assert topics.camera_info_topic(topics.DEPTH_IMAGE) == topics.DEPTH_CAMERA_INFO
    assert topics.camera_info_topic(topics.IMAGE) == topics.CAMERA_INFO


def test_compressed_and_namespaced_names() -> None:
    assert topics.compressed_topic("/cam/image_raw") == "/cam/image_raw/compressed"
    assert topics.under("/drone1", topics.DEPTH_IMAGE) == "/drone1/depth/image"
    assert topics.under("", topics.DEPTH_IMAGE) == "/depth/image"
    assert topics.under("/drone1", "/diagnostics") == "/diagnostics"
