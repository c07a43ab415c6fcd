"""QoS of the node's topics the ROS 2 way: defaults, standard overrides, incompatibility events.

* Defaults: images and camera_info in with sensor-data QoS (best effort: matches every
  camera driver, reliable or not); depth out reliable with a shallow history (matches
  reliable consumers such as depth_image_proc and best-effort viewers alike).
* Integrators change reliability, history and depth per topic through rclpy's
  ``QoSOverridingOptions`` -- the read-only ``qos_overrides.<topic>.<publisher|subscription>.*``
  parameters every ROS 2 node offers (``<topic>`` is the resolved, remapped name).  rclpy
  declares and applies them only when an endpoint is created, which for the lazy image
  subscription is when the first consumer appears: a typo (``reliability: junk``, depth -1)
  used to kill the node then.  :class:`Endpoints` declares and checks them for every topic
  up front (start-up, lifecycle configure) and refuses a bad one naming the parameter;
  endpoints are then created with the resolved profile (also when re-created).
* A mismatch (e.g. a reliable subscription against a best-effort camera) does not match
  at all, silently.  :class:`IncompatibleQoS` counts the rmw incompatible-QoS events of every
  endpoint, and :meth:`Endpoints.mismatches` looks up which peers in the ROS graph still
  cannot match: a diagnostic WARN names the endpoint, the peer and the policy for as long as
  that peer is there (the event fires once, when the peer appears).

Only rclpy API common to Humble and later: the event callback classes moved from
``rclpy.qos_event`` (Humble) to ``rclpy.event_handler`` (Iron and later).
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

try:  # Iron and later
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks  # type: ignore

from . import diagnostics as dg

INPUT_DEPTH = 5  # sensor-data depth; the node's slot keeps only the newest frame anyway
CAMERA_INFO_DEPTH = 10  # matches the node's stamp-indexed camera_info cache
OUTPUT_DEPTH = 2  # shallow reliable history
#: The policies each endpoint offers as ``qos_overrides.*`` parameters: those of rclpy's
#: ``QoSOverridingOptions.with_default_policies()``.
OVERRIDABLE = ("history", "depth", "reliability")
#: The deepest history the middleware takes: DDS's depth is an int32 (rclpy raises a
#: TypeError above it, and rcl fails on a negative one).
MAX_DEPTH = 2**31 - 1


class QoSOverrideError(ValueError):
    """A ``qos_overrides.*`` parameter no endpoint can be created with (the message names it)."""


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


def _override_value(name: str, policy: str, value: Any) -> Any:
    """A declared override's value as a QoSProfile attribute, checked the way rclpy parses it
    (``<Policy>Policy[value.upper()]``) plus what only the middleware would refuse later
    (``unknown``, a depth outside 0..MAX_DEPTH)."""
    if policy == "depth":
        if not 0 <= value <= MAX_DEPTH:
            raise QoSOverrideError("%s: depth %d is out of range (0 to %d)" % (name, value, MAX_DEPTH))
        return value
    enum = HistoryPolicy if policy == "history" else ReliabilityPolicy
    member = enum.__members__.get(str(value).upper())
    if member is None or member.name == "UNKNOWN":
        allowed = " | ".join(m.name.lower() for m in enum if m.name != "UNKNOWN")
        raise QoSOverrideError("%s: %r is not a %s policy (%s)" % (name, value, policy, allowed))
    return member


class IncompatibleQoS:
    """Incompatible-QoS events per endpoint, reported as a WARN for one diagnostic window
    and as totals since start-up (events arrive on the executor thread); a peer that is
    still there keeps the WARN through :meth:`run`'s ``live`` (the event fires only once)."""

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

    def run(self, status: dg.Status, live: Optional[Dict[str, List[str]]] = None) -> None:
        """``live``: endpoint -> the peers that cannot match it now (:meth:`Endpoints.mismatches`)."""
        live = live or {}
        with self._lock:
            window, self._window = self._window, {}
            totals = dict(self.totals)
        for endpoint, peers in sorted(live.items()):
            policy = totals.get(endpoint, (0, ""))[1]
            status.merge(dg.WARN, "Incompatible QoS on %s: %s%s; no data flows between them"
                         % (endpoint, policy + " with " if policy else "", "; ".join(peers)))
        for endpoint, (n, policy) in sorted(window.items()):
            if endpoint in live:
                continue
            # a peer that came and went within this window
            status.merge(dg.WARN, "Incompatible QoS on %s: %s (%d event%s); it does not match "
                         "that peer" % (endpoint, policy, n, "" if n == 1 else "s"))
        for endpoint, (n, policy) in sorted(totals.items()):
            status.add("Incompatible QoS events on %s (last policy)" % endpoint, "%d (%s)" % (n, policy))


def _incompatibility(pub_qos: QoSProfile, sub_qos: QoSProfile) -> str:
    """Why a publisher and a subscription with these profiles cannot match ('' if they can),
    in rclpy's words (``qos_check_compatible``, Galactic and later)."""
    from rclpy.qos import QoSCompatibility, qos_check_compatible

    compatibility, reason = qos_check_compatible(pub_qos, sub_qos)
    if compatibility != QoSCompatibility.ERROR:
        return ""
    parts = [part.strip() for part in reason.split(";")]
    return ", ".join(part[len("ERROR:"):].strip() for part in parts if part.startswith("ERROR:"))


class Endpoints:
    """Creates the node's publishers and subscriptions with QoS overrides and event callbacks.

    :meth:`resolve` declares a topic's ``qos_overrides.*`` parameters (the names, defaults and
    read-only descriptors rclpy's ``QoSOverridingOptions`` gives them) and checks their values;
    the node calls it for every topic it may create at start-up or configure.  rclpy has no
    public call that resolves overrides before creating the endpoint, hence this code.
    Endpoints are created with the resolved profile, so a lazily re-subscribed or re-activated
    endpoint keeps the integrator's QoS.
    """

    def __init__(self, node: Any, events: IncompatibleQoS) -> None:
        self._node = node
        self._events = events
        self._resolved: Dict[Tuple[str, str], QoSProfile] = {}
        self._created: Dict[Tuple[str, str], Any] = {}  # the latest endpoint per (kind, topic)

    def resolve(self, kind: str, topic: str, qos: QoSProfile) -> QoSProfile:
        """``qos`` with the integrator's overrides for the ``kind`` ('publisher' or
        'subscription') of ``topic``; the first call declares and checks the parameters
        (QoSOverrideError naming a bad one), later calls return the same profile."""
        key = (kind, topic)
        if key in self._resolved:
            return self._resolved[key]
        resolved = self._node.resolve_topic_name(topic)
        profile = copy.copy(qos)
        for policy in OVERRIDABLE:
            name = "qos_overrides.%s.%s.%s" % (resolved, kind, policy)
            default = getattr(qos, policy)
            default = default if policy == "depth" else default.name.lower()
            try:
                if self._node.has_parameter(name):  # a second configure of a lifecycle node
                    value = self._node.get_parameter(name).value
                else:
                    what = "%s for %s `%s` with id `None`" % (policy, kind, resolved)
                    descriptor = ParameterDescriptor(description=what, read_only=True)
                    value = self._node.declare_parameter(name, default, descriptor).value
            except ParameterException as exc:  # a value of the wrong type
                raise QoSOverrideError("%s: %s" % (name, str(exc).split(": " + name)[0])) from None
            setattr(profile, policy, _override_value(name, policy, value))
        self._resolved[key] = profile
        return profile

    def subscription(self, msg_type: Any, topic: str, callback: Callable[[Any], None],
                     qos: QoSProfile) -> Any:
        label = "subscription %s" % self._node.resolve_topic_name(topic)
        sub = self._node.create_subscription(
            msg_type, topic, callback, self.resolve("subscription", topic, qos),
            event_callbacks=self._events.for_subscription(label),
        )
        self._created[("subscription", topic)] = sub
        return sub

    def publisher(self, msg_type: Any, topic: str, qos: QoSProfile, lifecycle: bool = False) -> Any:
        """``lifecycle``: a LifecyclePublisher (rclpy.lifecycle), which publishes only while
        the node is active but keeps the topic in the graph."""
        label = "publisher %s" % self._node.resolve_topic_name(topic)
        create = self._node.create_lifecycle_publisher if lifecycle else self._node.create_publisher
        pub = create(
            msg_type, topic, self.resolve("publisher", topic, qos),
            event_callbacks=self._events.for_publisher(label),
        )
        self._created[("publisher", topic)] = pub
        return pub

    def _live(self) -> Dict[Tuple[str, str], Any]:
        """The endpoints created here that the node has not destroyed since."""
        alive = {id(e) for e in list(self._node.publishers) + list(self._node.subscriptions)}
        self._created = {k: e for k, e in self._created.items() if id(e) in alive}
        return dict(self._created)

    def subscribers(self, topic: str) -> int:
        """Subscriptions matched to this node's live publisher of ``topic`` (0 if none)."""
        pub = self._live().get(("publisher", topic))
        return pub.get_subscription_count() if pub is not None else 0

    def mismatches(self) -> Dict[str, List[str]]:
        """Endpoint label ('subscription /cam/image_raw') -> the peers in the ROS graph whose
        QoS cannot match it, now ('publisher /camera/driver (Best effort publisher and reliable
        subscription)'); endpoints without such a peer are left out.

        Both profiles are the graph's: the middleware reports an infinite deadline or lease
        duration as a finite number, which against our own profile's 0 (= infinite) would read
        as a mismatch."""
        node = self._node
        me = (node.get_namespace(), node.get_name())
        out: Dict[str, List[str]] = {}
        for (kind, _), entity in sorted(self._live().items()):
            topic = entity.topic_name
            pubs = node.get_publishers_info_by_topic(topic)
            subs = node.get_subscriptions_info_by_topic(topic)
            mine, peers = (subs, pubs) if kind == "subscription" else (pubs, subs)
            own = [e for e in mine if (e.node_namespace, e.node_name) == me]
            if not own:  # not in this node's graph cache yet
                continue
            for peer in peers:
                if kind == "subscription":
                    why = _incompatibility(peer.qos_profile, own[0].qos_profile)
                else:
                    why = _incompatibility(own[0].qos_profile, peer.qos_profile)
                if why:
                    name = "/".join((peer.node_namespace.rstrip("/"), peer.node_name))
                    peer_kind = "publisher" if kind == "subscription" else "subscription"
                    out.setdefault("%s %s" % (kind, topic), []).append("%s %s (%s)" % (peer_kind, name, why))
        return out
