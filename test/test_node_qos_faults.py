"""Issue 23, faults 2, 3, 5, 6 and 7, against the real ``depth_node`` / ``depth_lifecycle_node``.

* 2, 3: a bad ``qos_overrides`` value (on the lazy image subscription, camera_info, a depth
  publisher, with ``lazy:=false``, the compressed image) is refused at start-up with one
  FATAL line naming the parameter, no traceback; the lifecycle node refuses it at configure
  with one ERROR line and FAILURE.  Before, the lazy subscription died with a traceback when
  the first consumer appeared, and the others exited with a traceback.
* 5: the incompatible-QoS WARN lasts while the mismatched peer is there (before: one update),
  and the ``input`` ERROR names that peer as the likely reason.
* 6: lazy mode counts only enabled outputs (a ``depth/colored`` viewer with
  ``publish_colored:=false`` used to start inference for nobody).
* 7: ``max_output_pixels`` bounds ``output_size`` at start-up and at runtime.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, List

import pytest
from deps import need
from ros_harness import (
    IMAGE,
    NodeProcess,
    camera_args,
    change_state,
    get_parameter,
    image_msg,
    isolate_dds,
    lifecycle_state,
    node_and_client,
    scene_rgb8,
    served,
    status_values,
    wait_for,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

OK, WARN, ERROR = 0, 1, 2
PID = os.getpid()


def _refused_at_start_up(args: List[str], name: str, text: str) -> None:
    """The node exits 1 with exactly one FATAL line naming ``name`` and saying ``text``."""
    proc = NodeProcess(args, isolate_dds())
    try:
        rc = proc.wait(60.0)
        out = proc.output()
        assert rc == 1, "the node did not refuse to start (rc %r); output:\n%s" % (rc, out[-3000:])
        fatal = [line for line in out.splitlines() if "FATAL" in line]
        assert len(fatal) == 1 and name in fatal[0] and text in fatal[0], out
        assert "Traceback" not in out, out
    finally:
        proc.close()


# ---------------------------------------------- 2: a typo in the lazy image subscription's QoS


@pytest.mark.parametrize("policy,value,text", [
    ("reliability", "junk", "'junk' is not a reliability policy"),
    ("history", "junk", "'junk' is not a history policy"),
    ("depth", "-1", "depth -1 is out of range"),
])
def test_2_bad_image_qos_override_is_refused_at_start_up(shipped_model: Path, policy: str, value: str,
                                                         text: str) -> None:
    ns = "/fdqos2_%d" % PID
    name = "qos_overrides.%s/cam/image_raw.subscription.%s" % (ns, policy)
    # lazy (the default): the image subscription is created only when a consumer appears
    args = ["-p", "model_path:=%s" % shipped_model, "-p", "%s:=%s" % (name, value)] + camera_args(ns)
    _refused_at_start_up(args, name, text)


# ------------------------------------------------------ 3: other endpoints, lazy off, lifecycle


@pytest.mark.parametrize("extra,topic,text", [
    ([], "{ns}/cam/camera_info.subscription.reliability:=junk", "'junk' is not a reliability policy"),
    ([], "{ns}/depth/image.publisher.depth:=-1", "depth -1 is out of range"),
    ([], "{ns}/depth/colored.publisher.history:=unknown", "'unknown' is not a history policy"),
    ([], "{ns}/depth/camera_info.publisher.depth:=abc", "expecting type 'INTEGER'"),
    (["-p", "lazy:=false"], "{ns}/cam/image_raw.subscription.reliability:=junk", "not a reliability policy"),
    (["-p", "image_transport:=compressed"], "{ns}/cam/image_raw/compressed.subscription.depth:=-5",
     "depth -5 is out of range"),
], ids=["camera_info", "depth_image", "depth_colored", "wrong_type", "not_lazy", "compressed"])
def test_3_other_bad_qos_overrides_are_one_fatal_line(shipped_model: Path, extra: List[str], topic: str,
                                                      text: str) -> None:
    ns = "/fdqos3_%d" % PID
    override = "qos_overrides." + topic.format(ns=ns)
    name = override.split(":=")[0]
    _refused_at_start_up(["-p", "model_path:=%s" % shipped_model, "-p", override] + extra + camera_args(ns),
                         name, text)


@pytest.mark.parametrize("endpoint", ["depth/image.publisher", "anchor/depth.subscription"])
def test_3_lifecycle_configure_refuses_a_bad_qos_override_with_one_error_line(shipped_model: Path,
                                                                              endpoint: str) -> None:
    ns = "/fdqos3l_%d" % PID
    name = "qos_overrides.%s/%s.reliability" % (ns, endpoint)
    with node_and_client(ns, ["-p", "model_path:=%s" % shipped_model, "-p", "%s:=junk" % name], reliable=(),
                         script="depth_lifecycle_node", subscribed_within_s=None,
                         subscribe_outputs=False) as (proc, client):
        node = ns + "/fastdepth"
        assert lifecycle_state(client, node) == "unconfigured", proc.output()
        assert not change_state(client, node, "configure"), proc.output()
        assert lifecycle_state(client, node) == "unconfigured"
        out = proc.output()
        errors = [line for line in out.splitlines() if "ERROR" in line]
        assert len(errors) == 1 and name in errors[0] and "configure failed" in errors[0], out
        assert "'junk' is not a reliability policy" in errors[0], out
        assert "model " not in out, "refused before the model load"
        assert proc.alive() and "Traceback" not in out, out
        # read-only: it stays bad, and a second configure says so again (no state left behind)
        assert not change_state(client, node, "configure")
        assert len([line for line in proc.output().splitlines() if "ERROR" in line]) == 2
        assert proc.alive() and "Traceback" not in proc.output()


# ----------------------------------------------------- 5: the incompatible-QoS WARN persists


def test_5_incompatible_qos_warn_lasts_while_the_peer_is_there_and_input_names_it(
        shipped_model: Path) -> None:
    ns = "/fdqos5_%d" % PID
    image_topic = ns + "/cam/image_raw"
    params = ["-p", "model_path:=%s" % shipped_model,
              "-p", "qos_overrides.%s.subscription.reliability:=reliable" % image_topic,
              "-p", "diagnostic_updater.period:=0.5"]
    # a best-effort camera (as drivers publish) against the overridden reliable subscription
    with node_and_client(ns, params, reliable=(), subscribed_within_s=None,
                         publish_reliable=False) as (proc, client):
        assert wait_for(lambda: client._depth_sub.get_publisher_count() > 0, 40.0), proc.output()
        start = time.perf_counter()
        first = wait_for(lambda: client.find_status("qos", start, WARN), 20.0)
        assert first is not None, proc.output()[-3000:]
        assert "subscription %s: RELIABILITY" % image_topic in first.message, first.message
        # the next updates (0.5 s apart) keep saying so while the peer is there
        later = time.perf_counter()
        def qos_since() -> List[Any]:
            return [s for s in client.statuses(later) if s.name.endswith(": qos")]

        assert wait_for(lambda: len(qos_since()) >= 4, 10.0)
        levels = [s.level[0] for s in qos_since()]
        assert levels and all(level == WARN for level in levels), levels
        last = qos_since()[-1].message
        assert "publisher /fastdepth_test_client" in last, last  # names the peer
        assert "/depth/" not in last and "camera_info" not in last, last  # and nothing else
        inp = wait_for(lambda: client.find_status("input", later, ERROR), 5.0)
        assert inp is not None, proc.output()[-3000:]
        assert "No events recorded" in inp.message and "incompatible QoS" in inp.message, inp.message
        assert image_topic in inp.message or "fastdepth_test_client" in inp.message, inp.message
        assert status_values(inp)["Subscribed"] == "True"
        print("qos WARN: %s\ninput ERROR: %s" % (first.message, inp.message))

        client.reliable_images()  # the camera now offers reliable: the mismatch is gone
        assert served(client, scene_rgb8()) is not None, proc.output()[-3000:]
        since = time.perf_counter()
        assert wait_for(lambda: client.find_status("qos", since, OK), 10.0) is not None, \
            [s.message for s in client.statuses(since) if s.name.endswith(": qos")]
        assert proc.alive() and "Traceback" not in proc.output()


# --------------------------------------------------------- 6: lazy counts enabled outputs only


def test_6_lazy_ignores_subscribers_of_a_disabled_output(shipped_model: Path) -> None:
    ns = "/fdqos6_%d" % PID
    params = ["-p", "model_path:=%s" % shipped_model, "-p", "publish_colored:=false"]
    with node_and_client(ns, params, reliable=(IMAGE,), subscribed_within_s=None,
                         subscribe_outputs=False) as (proc, client):
        client.subscribe_colored()  # a viewer of the disabled output
        assert wait_for(lambda: client._colored_sub.get_publisher_count() > 0, 40.0), proc.output()
        # the node polls its subscriber counts every 0.2 s: a status from 1 s after the match on
        since = time.perf_counter() + 1.0
        out = wait_for(lambda: client.find_status("depth output", since), 10.0)
        assert out is not None, proc.output()[-3000:]
        assert status_values(out)["Output subscribers"] == "0", status_values(out)
        assert out.message == "idle: no subscribers", out.message
        assert client.image_pub.get_subscription_count() == 0, "the image was subscribed for nobody"

        # enabled at runtime, the same viewer now counts: the node wakes and colours
        result = client.set_parameters(ns + "/fastdepth", publish_colored=True)
        assert result[0].successful, result[0].reason
        assert wait_for(lambda: client.image_pub.get_subscription_count() > 0, 10.0), proc.output()[-3000:]
        rgb = scene_rgb8()
        for _ in range(40):
            client.publish(image_msg(rgb, client.node.get_clock().now().nanoseconds, frame_id="cam"))
            if wait_for(lambda: client.colored, 0.5):
                break
        assert client.colored, proc.output()[-3000:]
        # and disabled again: idle again
        result = client.set_parameters(ns + "/fastdepth", publish_colored=False)
        assert result[0].successful, result[0].reason
        assert wait_for(lambda: client.image_pub.get_subscription_count() == 0, 10.0), proc.output()[-3000:]
        assert proc.alive() and "Traceback" not in proc.output()


# ------------------------------------------------------------- 7: a pixel budget for the output


@pytest.mark.parametrize("args,text", [
    (["-p", "output_size:=16384x16384"], "268435456 px: over max_output_pixels 16777216"),
    (["-p", "max_output_pixels:=100000", "-p", "output_size:=640x480"], "over max_output_pixels 100000"),
], ids=["default_budget", "set_budget"])
def test_7_output_size_over_the_pixel_budget_is_refused_at_start_up(shipped_model: Path, args: List[str],
                                                                    text: str) -> None:
    ns = "/fdqos7s_%d" % PID
    _refused_at_start_up(["-p", "model_path:=%s" % shipped_model] + args + camera_args(ns), "output_size",
                         text)



def test_7_output_size_over_the_pixel_budget_is_rejected_at_runtime(shipped_model: Path) -> None:
    ns = "/fdqos7r_%d" % PID
    node = ns + "/fastdepth"
    with node_and_client(ns, ["-p", "model_path:=%s" % shipped_model], reliable=(IMAGE,)) as (proc, client):
        rgb = scene_rgb8()
        assert served(client, rgb) is not None, proc.output()[-3000:]

        result = client.set_parameters(node, output_size="16384x16384")[0]
        assert not result.successful and "over max_output_pixels 16777216" in result.reason, result.reason
        assert get_parameter(client, node, "output_size") == "model"

        assert client.set_parameters(node, output_size="320x240")[0].successful
        depth = served(client, rgb)
        assert depth is not None and (depth.width, depth.height) == (320, 240)
        # a budget below the current output is refused too, with the reason
        result = client.set_parameters(node, max_output_pixels=1000)[0]
        assert not result.successful and "over max_output_pixels 1000" in result.reason, result.reason

        # 'input' is bounded per frame: a 640x480 depth image over a 100000 px budget is dropped
        # with an input ERROR naming the budget, and served again once the budget allows it
        assert client.set_parameters(node, max_output_pixels=100000)[0].successful
        assert client.set_parameters(node, output_size="input")[0].successful
        since = time.perf_counter()
        for _ in range(5):
            served(client, rgb, tries=1)
        err = wait_for(lambda: client.find_status("input", since, ERROR, "max_output_pixels 100000"), 5.0)
        assert err is not None, [s.message for s in client.statuses(since) if s.name.endswith(": input")]
        assert client.set_parameters(node, max_output_pixels=640 * 480)[0].successful
        depth = served(client, rgb)
        assert depth is not None and (depth.width, depth.height) == (640, 480)
        assert proc.alive() and "Traceback" not in proc.output()
