"""How the node plugs into a ROS graph (issue 12), each in its own depth_node process:

* lazy processing: no image subscription (so no inference) while nobody subscribes to an
  output, diagnostics "idle: no subscribers"; subscribing wakes it, unsubscribing idles it;
* QoS: the client publishes best effort, as camera drivers do; a standard
  ``qos_overrides`` parameter makes the camera_info subscription reliable, which cannot
  match that publisher: a diagnostic WARN names the endpoint and the policy;
* the managed variant ``depth_lifecycle_node`` driven through its lifecycle services:
  nothing before configure, model loaded and topics created at configure, work only
  while active, topics gone after cleanup, re-configurable after cleanup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from deps import need
from ros_harness import (
    IMAGE,
    INFO,
    Client,
    camera_info,
    change_state,
    lifecycle_state,
    node_and_client,
    publish_frame,
    reliable_input,
    scene_rgb8,
    served,
    stamp_ns,
    status_values,
    wait_for,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

OK, WARN = 0, 1


def test_lazy_processing_and_incompatible_qos_warning(shipped_model: Path) -> None:
    ns = "/fdlazy_%d" % os.getpid()
    info_topic = "%s/%s" % (ns, INFO)
    params = ["-p", "model_path:=%s" % shipped_model,
              "-p", "qos_overrides.%s.subscription.reliability:=reliable" % info_topic,
              "-p", "diagnostic_updater.period:=0.5"]
    # best effort as camera drivers publish (also in the Jazzy run): the point of the test
    with node_and_client(ns, params, reliable=(IMAGE,), subscribed_within_s=None, subscribe_outputs=False,
                         publish_reliable=False) as (proc, client):
        if reliable_input():  # the images may be reliable (Jazzy run), the camera_info must not
            client.reliable_images()
        rgb = scene_rgb8()
        start = time.perf_counter()
        idle = wait_for(lambda: client.find_status("input", start, OK, "idle: no subscribers"), 40.0)
        assert idle is not None, proc.output()
        assert status_values(idle)["Subscribed"] == "False"
        out = client.find_status("depth output", start)
        assert out.level[0] == OK and out.message == "idle: no subscribers"
        time.sleep(1.0)
        assert client.image_pub.get_subscription_count() == 0, "idle: the image is not even subscribed"
        for _ in range(5):
            publish_frame(client, rgb)
            time.sleep(0.1)
        # the node's own books: nothing taken in, nothing inferred (our client has no depth
        # subscription yet, so it could not see a depth image anyway)
        after = time.perf_counter()
        idle = wait_for(lambda: client.find_status("input", after), 5.0)
        out = wait_for(lambda: client.find_status("depth output", after), 5.0)
        assert status_values(idle)["Frames received"] == "0", status_values(idle)
        assert status_values(out)["Depth images published"] == "0", status_values(out)

        client.subscribe_outputs()  # a consumer appears: the node subscribes and works
        assert wait_for(lambda: client.image_pub.get_subscription_count() > 0, 10.0), proc.output()
        info = camera_info(640, 480, frame_id="cam_optical")
        assert served(client, rgb, info) is not None, proc.output()
        since = time.perf_counter()
        served(client, rgb, info)
        inp = wait_for(lambda: client.find_status("input", since), 5.0)
        assert inp is not None and "idle" not in inp.message
        assert status_values(inp)["Subscribed"] == "True"

        # best-effort camera_info publisher vs the overridden reliable subscription
        qos = wait_for(lambda: client.find_status("qos", start, WARN), 10.0)
        assert qos is not None, proc.output()
        assert "RELIABILITY" in qos.message and info_topic in qos.message, qos.message
        cam = client.find_status("camera_info", since)
        assert status_values(cam)["camera_info received"] == "0"  # the mismatch is real
        assert not client.depth_info

        # diagnostic_updater.period: 0.5 s between updates instead of 1 s, by the node's own
        # stamps (a periodic timer keeps its schedule when a callback runs late on a busy box)
        with client.lock:
            stamps = [stamp_ns(arr.header.stamp) * 1e-9 for _, arr in client.diagnostics
                      if any(s.name == ns.strip("/") + "/fastdepth: input" for s in arr.status)]
        assert len(stamps) >= 4, stamps
        period_s = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
        assert 0.45 <= period_s <= 0.75, period_s

        client.unsubscribe_outputs()  # consumer gone: back to idle, image unsubscribed
        assert wait_for(lambda: client.image_pub.get_subscription_count() == 0, 10.0), proc.output()
        since = time.perf_counter()
        assert wait_for(lambda: client.find_status("input", since, OK, "idle: no subscribers"), 5.0)


def _lifecycle(client: Client, node: str, transition: str = "") -> str:
    """GetState, or ChangeState by label (which must succeed) then GetState; the state's label."""
    if transition:
        assert change_state(client, node, transition), transition
    return lifecycle_state(client, node)


def test_lifecycle_node_through_its_services(shipped_model: Path) -> None:
    ns = "/fdlife_%d" % os.getpid()
    node = ns + "/fastdepth"
    # a lifecycle node subscribes once active: the test waits then
    with node_and_client(ns, ["-p", "model_path:=%s" % shipped_model], reliable=(IMAGE,),
                         script="depth_lifecycle_node", subscribed_within_s=None) as (proc, client):
        rgb = scene_rgb8()
        assert _lifecycle(client, node) == "unconfigured", proc.output()
        assert "model " not in proc.output(), "the model loads at configure, not at start"
        assert client.image_pub.get_subscription_count() == 0

        assert _lifecycle(client, node, "configure") == "inactive"
        assert "model " in proc.output()
        time.sleep(0.5)
        assert client.image_pub.get_subscription_count() == 0, "inactive: no work"

        assert _lifecycle(client, node, "activate") == "active"
        assert client.wait_subscribed(20.0), proc.output()
        assert served(client, rgb) is not None, proc.output()

        assert _lifecycle(client, node, "deactivate") == "inactive"
        assert wait_for(lambda: client.image_pub.get_subscription_count() == 0, 10.0)
        # lifecycle publishers: the topics stay in the graph while inactive, until cleanup
        assert client._depth_sub.get_publisher_count() == 1

        assert _lifecycle(client, node, "cleanup") == "unconfigured"
        assert wait_for(lambda: client._depth_sub.get_publisher_count() == 0, 10.0)
        # a second life: configure and activate again (QoS override parameters already declared)
        assert _lifecycle(client, node, "configure") == "inactive"
        assert _lifecycle(client, node, "activate") == "active"
        assert client.wait_subscribed(20.0), proc.output()
        assert served(client, rgb) is not None, proc.output()
        assert proc.alive() and "Traceback" not in proc.output()
        rc = proc.stop(timeout_s=15.0)
        assert rc == 0, proc.output()
        assert "Traceback" not in proc.output()
