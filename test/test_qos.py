"""qos.IncompatibleQoS: rmw incompatible-QoS events -> a WARN naming endpoint and policy."""

from types import SimpleNamespace

import pytest
from deps import need

rclpy = need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

from fastdepth_ros import diagnostics as dg  # noqa: E402
from fastdepth_ros import qos  # noqa: E402


def test_events_become_one_window_warn_and_totals() -> None:
    from rclpy.qos import QoSPolicyKind

    events = qos.IncompatibleQoS()
    callbacks = events.for_subscription("subscription /cam/image_raw")
    info = SimpleNamespace(last_policy_kind=QoSPolicyKind.RELIABILITY, total_count=2, total_count_change=2)
    callbacks.incompatible_qos(info)
    status = dg.Status("qos")
    events.run(status)
    assert status.level == dg.WARN
    assert "subscription /cam/image_raw: RELIABILITY (2 events)" in status.message
    key = "Incompatible QoS events on subscription /cam/image_raw (last policy)"
    assert status.value(key) == "2 (RELIABILITY)"
    again = dg.Status("qos")
    events.run(again)  # the WARN lasts one window; the total stays
    assert again.level == dg.OK and again.value(key) == "2 (RELIABILITY)"


def test_default_profiles() -> None:
    from rclpy.qos import ReliabilityPolicy

    assert qos.input_qos().reliability == ReliabilityPolicy.BEST_EFFORT and qos.input_qos().depth == 5
    assert qos.output_qos().reliability == ReliabilityPolicy.RELIABLE and qos.output_qos().depth == 2


def test_a_live_mismatch_keeps_the_warn_and_names_the_peer() -> None:
    from rclpy.qos import QoSPolicyKind

    events = qos.IncompatibleQoS()
    label = "subscription /cam/image_raw"
    info = SimpleNamespace(last_policy_kind=QoSPolicyKind.RELIABILITY, total_count=1, total_count_change=1)
    events.for_subscription(label).incompatible_qos(info)
    live = {label: ["publisher /cam/driver (Best effort publisher and reliable subscription)"]}
    for _ in range(3):  # the event fired once; the peer is still there
        status = dg.Status("qos")
        events.run(status, live)
        assert status.level == dg.WARN
        assert "subscription /cam/image_raw: RELIABILITY with publisher /cam/driver" in status.message
    gone = dg.Status("qos")
    events.run(gone, {})
    assert gone.level == dg.OK


def test_bad_override_values_are_refused_naming_the_parameter() -> None:
    from rclpy.qos import HistoryPolicy, ReliabilityPolicy

    name = "qos_overrides./image.subscription.x"
    assert qos._override_value(name, "reliability", "Reliable") == ReliabilityPolicy.RELIABLE
    assert qos._override_value(name, "history", "keep_all") == HistoryPolicy.KEEP_ALL
    assert qos._override_value(name, "depth", 0) == 0
    for policy, value in (("reliability", "junk"), ("history", "unknown"), ("depth", -1), ("depth", 2**31)):
        with pytest.raises(qos.QoSOverrideError, match=name.replace(".", r"\.")):
            qos._override_value(name, policy, value)
