"""QoS of the node's topics the ROS 2 way: defaults, standard overrides, incompatibility events.

* Defaults: images and camera_info in with sensor-data QoS (best effort: matches every
  camera driver, reliable or not); depth out reliable with a shallow history (matches
  reliable consumers such as depth_image_proc and best-effort viewers alike).
* Integrators change reliability, history and depth per topic through rclpy's
  ``QoSOverridingOptions`` -- the read-only ``qos_overrides.<topic>.<publisher|subscription>.*``
  parameters every ROS 2 node offers (``<topic>`` is the resolved, remapped name).  They
  are declared when an endpoint is first created; :class:`Endpoints` re-creates endpoints
  (lazy subscription, lifecycle re-activation) with the profile resolved then.
* A mismatch (e.g. a reliable subscription against a best-effort camera) does not match
  at all, silently.  :class:`IncompatibleQoS` counts the rmw incompatible-QoS events of every
  endpoint and turns them into a diagnostic WARN naming the endpoint and the policy.

Only rclpy API common to Humble and later: the event callback classes moved from
``rclpy.qos_event`` (Humble) to ``rclpy.event_handler`` (Iron and later).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Optional, Tuple

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

try:  # Iron and later
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks  # type: ignore

from . import diagnostics as dg

INPUT_DEPTH = 5  # sensor-data depth; the node's slot keeps only the newest frame anyway
CAMERA_INFO_DEPTH = 10  # matches the node's stamp-indexed camera_info cache
OUTPUT_DEPTH = 2  # shallow reliable history


def input_qos(depth: int = INPUT_DEPTH) -> QoSProfile:
    """rclpy's ``qos_profile_sensor_data`` (best effort, volatile) with our depth."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.BEST_EFFORT)


def output_qos() -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=OUTPUT_DEPTH,
                      reliability=ReliabilityPolicy.RELIABLE)


def policy_name(kind: Any) -> str:
    """``RELIABILITY`` for an rmw policy kind (rclpy's own helper where it exists)."""
    try:
        from rclpy.qos import qos_policy_name_from_kind

        return str(qos_policy_name_from_kind(kind))
    except Exception:  # older rclpy: the enum's name
        return str(getattr(kind, "name", kind))


class IncompatibleQoS:
    """Incompatible-QoS events per endpoint, reported as a WARN for one diagnostic window
    and as totals since start-up (events arrive on the executor thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window: Dict[str, Tuple[int, str]] = {}
        self.totals: Dict[str, Tuple[int, str]] = {}

    def _record(self, endpoint: str, info: Any) -> None:
        policy = policy_name(info.last_policy_kind)
        change = max(int(getattr(info, "total_count_change", 1)), 1)
        with self._lock:
            n, _ = self._window.get(endpoint, (0, ""))
            self._window[endpoint] = (n + change, policy)
            self.totals[endpoint] = (int(info.total_count), policy)

    def for_subscription(self, endpoint: str) -> Any:
        return SubscriptionEventCallbacks(incompatible_qos=lambda info: self._record(endpoint, info))

    def for_publisher(self, endpoint: str) -> Any:
        return PublisherEventCallbacks(incompatible_qos=lambda info: self._record(endpoint, info))

    def run(self, status: dg.Status) -> None:
        with self._lock:
            window, self._window = self._window, {}
            totals = dict(self.totals)
        for endpoint, (n, policy) in sorted(window.items()):
            status.merge(dg.WARN, "Incompatible QoS on %s: %s (%d event%s); it does not match "
                         "that peer" % (endpoint, policy, n, "" if n == 1 else "s"))
        for endpoint, (n, policy) in sorted(totals.items()):
            status.add("Incompatible QoS events on %s (last policy)" % endpoint, "%d (%s)" % (n, policy))


class Endpoints:
    """Creates the node's publishers and subscriptions with QoS overrides and event callbacks.

    The first creation of a topic declares its ``qos_overrides.*`` parameters (rclpy does
    that) and remembers the resulting profile; later re-creations of the same topic reuse
    it, so a lazily re-subscribed or re-activated endpoint keeps the integrator's QoS.
    """

    def __init__(self, node: Any, events: IncompatibleQoS) -> None:
        self._node = node
        self._events = events
        self._resolved: Dict[Tuple[str, str], QoSProfile] = {}

    def _options(self, key: Tuple[str, str]) -> Optional[QoSOverridingOptions]:
        return None if key in self._resolved else QoSOverridingOptions.with_default_policies()

    def subscription(self, msg_type: Any, topic: str, callback: Callable[[Any], None],
                     qos: QoSProfile) -> Any:
        key = ("subscription", topic)
        label = "subscription %s" % self._node.resolve_topic_name(topic)
        sub = self._node.create_subscription(
            msg_type, topic, callback, self._resolved.get(key, qos),
            event_callbacks=self._events.for_subscription(label),
            qos_overriding_options=self._options(key),
        )
        self._resolved.setdefault(key, sub.qos_profile)
        return sub

    def publisher(self, msg_type: Any, topic: str, qos: QoSProfile, lifecycle: bool = False) -> Any:
        """``lifecycle``: a LifecyclePublisher (rclpy.lifecycle), which publishes only while
        the node is active but keeps the topic in the graph."""
        key = ("publisher", topic)
        label = "publisher %s" % self._node.resolve_topic_name(topic)
        create = self._node.create_lifecycle_publisher if lifecycle else self._node.create_publisher
        pub = create(
            msg_type, topic, self._resolved.get(key, qos),
            event_callbacks=self._events.for_publisher(label),
            qos_overriding_options=self._options(key),
        )
        self._resolved.setdefault(key, pub.qos_profile)
        return pub
