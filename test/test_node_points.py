"""depth/points through the real node (both variants): the cloud is the published depth
back-projected through the published depth/camera_info, on a real frame (the first frame of
the shipped sample bag), with ``points_stride`` decimation, computed only while subscribed,
and a subscriber of a disabled ``depth/points`` does not wake a lazy node.

The expected cloud is computed here from the two messages a depth_image_proc consumer would
get (depth/image + depth/camera_info, P as image_geometry reads it), independently of
``fastdepth_ros.pointcloud``'s arithmetic; the message is read with ``pointcloud.from_msg``,
which checks the layout.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, ContextManager, Iterator, List, Tuple

import numpy as np
import pytest
from deps import need
from ros_harness import (
    IMAGE,
    INFO,
    Client,
    NodeProcess,
    camera_info,
    node_and_client,
    publish_frame,
    scene_rgb8,
    stamp_key,
    status_values,
    wait_for,
)

from fastdepth_ros import pointcloud, topics
from fastdepth_ros.imaging import image_to_numpy

pytestmark = [pytest.mark.ros, pytest.mark.slow]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

W, H = 640, 480


class Points:
    """A depth/points subscription on the test client (reliable, as OctoMap subscribes)."""

    def __init__(self, client: Client) -> None:
        from sensor_msgs.msg import PointCloud2

        self.client = client
        self.msgs: List[Tuple[float, Any]] = []
        self.sub = client.node.create_subscription(
            PointCloud2, topics.under(client.ns, topics.DEPTH_POINTS), client._rec(self.msgs), client.sub_qos)

    def for_stamp(self, stamp: Any) -> Any:
        with self.client.lock:
            for _, msg in reversed(self.msgs):
                if stamp_key(msg.header.stamp) == stamp_key(stamp):
                    return msg
        return None

    def close(self) -> None:
        self.client.node.destroy_subscription(self.sub)


def _expected(depth_msg: Any, info_msg: Any, stride: int = 1) -> np.ndarray:
    """depth_image_proc's convertDepth, written out: P's fx, fy, cx, cy; NaN for non-finite."""
    z = image_to_numpy(depth_msg).astype(np.float64)
    p = np.array(info_msg.p, dtype=np.float64).reshape(3, 4)
    fx, fy, cx, cy = p[0, 0], p[1, 1], p[0, 2], p[1, 2]
    v, u = np.mgrid[0:z.shape[0], 0:z.shape[1]]
    z = np.where(np.isfinite(z), z, np.nan)
    xyz = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1)
    return xyz[::stride, ::stride]


def _frame_with_all(client: Client, points: Points, rgb: np.ndarray, info: Any) -> Tuple[Any, Any, Any]:
    """Send frames until one comes back as depth + depth/camera_info + depth/points."""
    for _ in range(20):
        sent = publish_frame(client, rgb, info)
        got = wait_for(lambda s=sent: (client.depth_for(s.header.stamp), client.info_for(s.header.stamp),
                                       points.for_stamp(s.header.stamp))
                       if points.for_stamp(s.header.stamp) is not None and client.info_for(s.header.stamp)
                       and client.depth_for(s.header.stamp) else None, 2.0)
        if got is not None:
            return got
    pytest.fail("no depth + camera_info + points for a frame")


def _counts(client: Client, since: float) -> Tuple[int, int]:
    status = wait_for(lambda: client.find_status("depth output", since), 5.0)
    assert status is not None
    values = status_values(status)
    return int(values["Depth images published"]), int(values["Point clouds published"])


def _start(shipped_model: Path, script: str, ns: str, *extra: str,
           **client_options: Any) -> ContextManager[Tuple[NodeProcess, Client]]:
    """The node and a client; the tests wait for the match themselves."""
    params = ["-p", "model_path:=%s" % shipped_model, "-p", "diagnostic_updater.period:=0.25"] + list(extra)
    return node_and_client(ns, params, reliable=(IMAGE, INFO), script=script, subscribed_within_s=None,
                           **client_options)


@pytest.fixture(scope="module")
def node(shipped_model: Path) -> Iterator[Tuple[NodeProcess, Client]]:
    ns = "/fdpoints_%d" % os.getpid()
    with _start(shipped_model, "depth_node", ns, "-p", "publish_points:=false",
                subscribe_outputs=False) as (proc, client):
        yield proc, client


def test_a_subscriber_of_disabled_points_does_not_wake_the_node(node) -> None:
    proc, client = node
    points = Points(client)
    try:
        assert wait_for(lambda: points.sub.get_publisher_count() > 0, 40.0), proc.output()
        time.sleep(1.0)  # several lazy checks (0.2 s)
        assert client.image_pub.get_subscription_count() == 0, "publish_points:=false: nobody to serve"
        results = client.set_parameters(proc_node(client), publish_points=True)
        assert results[0].successful, results[0].reason
        assert wait_for(lambda: client.image_pub.get_subscription_count() > 0, 10.0), proc.output()
    finally:
        points.close()
    assert wait_for(lambda: client.image_pub.get_subscription_count() == 0, 10.0), "idle again"


def proc_node(client: Client) -> str:
    return client.ns + "/fastdepth"


def test_points_are_the_depth_back_projected_through_its_camera_info(node) -> None:
    proc, client = node
    assert client.set_parameters(proc_node(client), publish_points=True)[0].successful
    rgb = scene_rgb8(W, H)
    info = camera_info(W, H, fx=518.9, fy=519.5, cx=325.6, cy=253.7, frame_id="cam_optical")
    client.subscribe_outputs()
    points = Points(client)
    try:
        depth, dinfo, cloud = _frame_with_all(client, points, rgb, info)
        assert cloud.header.frame_id == depth.header.frame_id == "cam_optical"
        assert (cloud.height, cloud.width) == (depth.height, depth.width) == (dinfo.height, dinfo.width)
        assert not cloud.is_dense
        got, want = pointcloud.from_msg(cloud), _expected(depth, dinfo)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        assert np.isfinite(want[..., 2]).mean() > 0.9, "a real frame: mostly valid depth"
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)

        for stride in (3, 5):
            assert client.set_parameters(proc_node(client), points_stride=stride)[0].successful
            time.sleep(0.3)
            depth, dinfo, cloud = _frame_with_all(client, points, rgb, info)
            assert (cloud.height, cloud.width) == (math.ceil(depth.height / stride),
                                                   math.ceil(depth.width / stride))
            np.testing.assert_allclose(pointcloud.from_msg(cloud), _expected(depth, dinfo, stride),
                                       rtol=1e-5, atol=1e-6, equal_nan=True)
        bad = client.set_parameters(proc_node(client), points_stride=0)[0]
        assert not bad.successful
    finally:
        points.close()
        client.set_parameters(proc_node(client), points_stride=1)


def test_points_are_computed_only_while_subscribed(node) -> None:
    proc, client = node
    # enabled, but nobody subscribes depth/points
    assert client.set_parameters(proc_node(client), publish_points=True)[0].successful
    rgb = scene_rgb8(W, H)
    info = camera_info(W, H, frame_id="cam_optical")
    if client._depth_sub is None:
        client.subscribe_outputs()
    assert client.wait_subscribed(20.0)
    time.sleep(0.5)  # the last points subscription is gone from the node's view
    before = _counts(client, time.perf_counter())
    for _ in range(10):
        publish_frame(client, rgb, info)
        time.sleep(0.1)
    time.sleep(0.6)
    after = _counts(client, time.perf_counter())
    assert after[0] > before[0], "depth kept flowing"
    assert after[1] == before[1], "no subscriber, no cloud"
    assert proc.alive() and "Traceback" not in proc.output()


def test_lifecycle_node_publishes_points(shipped_model: Path) -> None:
    from test_node_integration import _lifecycle

    ns = "/fdpointslc_%d" % os.getpid()
    with _start(shipped_model, "depth_lifecycle_node", ns) as (proc, client):
        points = Points(client)
        assert _lifecycle(client, ns + "/fastdepth", "configure") == "inactive", proc.output()
        assert _lifecycle(client, ns + "/fastdepth", "activate") == "active", proc.output()
        assert client.wait_subscribed(20.0), proc.output()
        depth, dinfo, cloud = _frame_with_all(client, points, scene_rgb8(W, H),
                                              camera_info(W, H, frame_id="cam_optical"))
        np.testing.assert_allclose(pointcloud.from_msg(cloud), _expected(depth, dinfo),
                                   rtol=1e-5, atol=1e-6, equal_nan=True)
        assert _lifecycle(client, ns + "/fastdepth", "deactivate") == "inactive"
        assert "Traceback" not in proc.output()
