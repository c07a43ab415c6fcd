"""Real-process ROS 2 test harness: private DDS domain on SHM, node subprocess, test client.

Why each piece:
* ``isolate_dds()`` sets a private ``ROS_DOMAIN_ID`` (from the pid, so concurrent test
  runs do not meet), localhost-only discovery, Fast DDS and the package's SHM profile
  (the default transports drop 25-40 % of 640x480 frames between processes).  It must run
  before ``rclpy.init`` and its environment is passed to the node subprocess.
* ``NodeProcess`` starts the installed console script exactly as a user would
  (``depth_node --ros-args --params-file config/fastdepth.yaml ...``), logs to a file (a
  full pipe would block the node) and is always stopped (SIGINT, then kill).
* ``Client`` is an rclpy node spinning in a background thread that publishes images and
  camera_info best effort (as camera drivers do) and records everything the node publishes
  (``depth/image``, its sibling ``depth/camera_info``, /diagnostics) with its arrival time.
* ``node_and_client()`` starts the two for a test, with ``camera_args()`` (namespace, camera
  remaps, reliable inputs), fails with the node's output if they never match, closes both.
* Executables are found the way ``colcon test`` / ``ros2 run`` see an installed package:
  ``fastdepth_ros.resources.console_command`` (ament index ``lib/fastdepth_ros``, then
  beside this interpreter, then PATH).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from fastdepth_ros.resources import console_command, stop_process
from fastdepth_ros.spinning import spin_until_shutdown

REPO = Path(__file__).resolve().parent.parent
PARAMS_FILE = REPO / "config" / "fastdepth.yaml"
FASTDDS_PROFILE = REPO / "config" / "fastdds_shm.xml"
SAMPLE_IMAGE_TOPIC = "/camera/image_raw/compressed"
HOOKS = Path(__file__).resolve().parent / "hooks"
# the camera a test node reads, relative to its namespace (camera_args, node_and_client)
IMAGE, INFO = "cam/image_raw", "cam/camera_info"


def isolate_dds() -> Dict[str, str]:
    """Put this process's DDS traffic on a private, local-only domain; returns the env.

    The package's recipe (fastdepth_ros.dds) with the checkout's profile, on domains 1-100
    (the demo and the bench use 100-199), ``FASTDEPTH_TEST_DOMAIN_ID`` to pick one."""
    from fastdepth_ros.dds import private_graph_env

    domain = int(os.environ.get("FASTDEPTH_TEST_DOMAIN_ID", 1 + os.getpid() % 100))
    return private_graph_env(domain, profile=FASTDDS_PROFILE, apply=True)


def reliable_input() -> bool:
    """``FASTDEPTH_TEST_RELIABLE_INPUT=1`` (scripts/test.sh sets it for the Jazzy run): the
    client publishes reliable and the node's input subscriptions are overridden to reliable
    (``input_qos_args``).  On Jazzy's Fast DDS 2.14, best-effort 640x480 frames between two
    processes on this machine arrived only 30-60 % of the time even at 3 Hz (with or without
    the SHM profile); reliable-reliable delivered all, as best effort does on Kilted."""
    return bool(os.environ.get("FASTDEPTH_TEST_RELIABLE_INPUT"))


def input_qos_args(*topics: str) -> List[str]:
    """``qos_overrides`` making the node's subscriptions of ``topics`` reliable, when
    :func:`reliable_input` asks for it (else nothing: the node's sensor-data default)."""
    args: List[str] = []
    if reliable_input():
        for topic in topics:
            args += ["-p", "qos_overrides.%s.subscription.reliability:=reliable" % topic]
    return args


class NodeProcess:
    """``depth_node`` as a subprocess with its output captured in a temporary file."""

    def __init__(self, ros_args: Sequence[str], env: Dict[str, str], script: str = "depth_node",
                 hold_loads: bool = False) -> None:
        if hold_loads:  # model loads the test can hold: test/hooks/sitecustomize.py
            env = dict(env, FDTEST_HOLD_LOADS="1",
                       PYTHONPATH=os.pathsep.join(filter(None, [str(HOOKS), env.get("PYTHONPATH", "")])))
        self.log = tempfile.NamedTemporaryFile(prefix="depth_node_", suffix=".log", delete=False)
        self.cmd = console_command(script) + ["--ros-args", "--params-file", str(PARAMS_FILE)]
        self.cmd += list(ros_args)
        self.proc = subprocess.Popen(
            self.cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(REPO),
            start_new_session=True,
        )

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout_s: float) -> Optional[int]:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 10.0) -> Optional[int]:
        """Signal, wait, kill if needed; returns the exit code of a clean stop, else None."""
        return stop_process(self.proc, sig, timeout_s)

    def close(self) -> None:
        self.stop()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def camera_args(ns: str, reliable: Sequence[str] = (), image: str = IMAGE) -> List[str]:
    """The ros-args that put a test node in namespace ``ns`` reading ``ns/<image>`` and
    ``ns/cam/camera_info``, with the inputs in ``reliable`` (topics relative to ``ns``)
    subscribed reliable when :func:`reliable_input` asks for it (:func:`input_qos_args`)."""
    remaps = ["-r", "__ns:=%s" % ns, "-r", "image:=%s/%s" % (ns, image),
              "-r", "camera_info:=%s/%s" % (ns, INFO)]
    return remaps + input_qos_args(*("%s/%s" % (ns, topic) for topic in reliable))


@contextmanager
def node_and_client(ns: str, params: Sequence[str], reliable: Sequence[str], image: str = IMAGE,
                    compressed: bool = False, script: str = "depth_node", hold_loads: bool = False,
                    subscribed_within_s: Optional[float] = 40.0,
                    **client_options: Any) -> Iterator[Tuple[NodeProcess, Client]]:
    """A node (``params`` + :func:`camera_args`) on a private DDS domain and a :class:`Client`
    publishing its camera (``ns/<image>[/compressed]``, ``ns/cam/camera_info``); with
    ``subscribed_within_s`` the test fails with the node's output unless they match in time
    (None: the test waits itself, e.g. a lifecycle node subscribes only once active).
    Both are closed on the way out, whatever happened."""
    import pytest

    proc = NodeProcess(list(params) + camera_args(ns, reliable, image), isolate_dds(), script=script,
                       hold_loads=hold_loads)
    client = None
    try:
        image_topic = "%s/%s" % (ns, image) + ("/compressed" if compressed else "")
        client = Client(ns, image_topic, "%s/%s" % (ns, INFO), compressed=compressed, **client_options)
        if subscribed_within_s is not None and not client.wait_subscribed(subscribed_within_s):
            pytest.fail("depth node never subscribed; its output:\n" + proc.output())
        yield proc, client
    finally:
        if client is not None:
            client.close()
        proc.close()


def wait_for(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.02) -> Any:
    """Poll ``predicate`` until truthy (returned) or the timeout (returns the last value)."""
    deadline = time.monotonic() + timeout_s
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = predicate()
    return value


def stamp_ns(stamp: Any) -> int:
    """A header stamp (rclpy or rosbags message) as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_key(stamp: Any) -> Tuple[int, int]:
    return int(stamp.sec), int(stamp.nanosec)


class Client:
    """Test-side rclpy node: publishes camera data, records the depth node's outputs."""

    def __init__(self, ns: str, image_topic: str, info_topic: str, compressed: bool = False,
                 subscribe_outputs: bool = True, publish_reliable: Optional[bool] = None) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image

        self.ns = ns
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("fastdepth_test_client", context=self.context)
        from fastdepth_ros import topics

        reliable = ReliabilityPolicy.RELIABLE
        # camera drivers publish sensor data best effort; consumers (depth_image_proc) subscribe
        # reliable.  reliable_input(): see there.
        if publish_reliable is None:
            publish_reliable = reliable_input()
        in_reliability = reliable if publish_reliable else ReliabilityPolicy.BEST_EFFORT
        pub_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=in_reliability)
        sub_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=reliable)
        self.sub_qos = sub_qos
        image_cls = CompressedImage if compressed else Image
        self.image_pub = self.node.create_publisher(image_cls, image_topic, pub_qos)
        self.info_pub = self.node.create_publisher(CameraInfo, info_topic, pub_qos)
        self._image_cls_in, self._image_topic = image_cls, image_topic

        self.lock = threading.Lock()
        self.depth: List[Tuple[float, Any]] = []
        self.depth_info: List[Tuple[float, Any]] = []
        self.colored: List[Tuple[float, Any]] = []
        self.diagnostics: List[Tuple[float, Any]] = []
        self.sent_at: Dict[Tuple[int, int], float] = {}
        self.depth_topic = topics.under(ns, topics.DEPTH_IMAGE)
        self.depth_info_topic = topics.under(ns, topics.DEPTH_CAMERA_INFO)
        self._depth_sub: Any = None
        self._info_sub: Any = None
        if subscribe_outputs:
            self.subscribe_outputs()
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._rec(self.diagnostics), sub_qos)
        self._colored_sub: Any = None
        self._colored_cb = self._rec(self.colored)
        self._image_cls = Image
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=spin_until_shutdown, args=(self.executor,), daemon=True)
        self._thread.start()

    def reliable_images(self) -> None:
        """Publish the images reliable from now on (camera_info keeps its QoS)."""
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.node.destroy_publisher(self.image_pub)
        self.image_pub = self.node.create_publisher(self._image_cls_in, self._image_topic, qos)

    def subscribe_outputs(self) -> None:
        """Subscribe depth/image and depth/camera_info (what wakes a lazy node)."""
        from sensor_msgs.msg import CameraInfo, Image

        self._depth_sub = self.node.create_subscription(Image, self.depth_topic, self._rec(self.depth),
                                                        self.sub_qos)
        self._info_sub = self.node.create_subscription(CameraInfo, self.depth_info_topic,
                                                       self._rec(self.depth_info), self.sub_qos)

    def unsubscribe_outputs(self) -> None:
        for sub in (self._depth_sub, self._info_sub):
            if sub is not None:
                self.node.destroy_subscription(sub)
        self._depth_sub = self._info_sub = None

    def _rec(self, store: List[Tuple[float, Any]]) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            with self.lock:
                store.append((time.perf_counter(), msg))

        return callback

    def subscribe_colored(self) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from fastdepth_ros import topics

        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)  # a viewer
        self._colored_sub = self.node.create_subscription(
            self._image_cls, topics.under(self.ns, topics.DEPTH_COLORED), self._colored_cb, qos
        )

    def unsubscribe_colored(self) -> None:
        if self._colored_sub is not None:
            self.node.destroy_subscription(self._colored_sub)
            self._colored_sub = None

    def publish(self, image_msg: Any, info_msg: Any = None) -> None:
        if info_msg is not None:
            self.info_pub.publish(info_msg)
            if reliable_input():
                # a head start: the node pairs by exact stamp only if the info came first (DDS
                # orders nothing across topics; in the Jazzy run the image often overtook it)
                time.sleep(0.005)
        with self.lock:
            self.sent_at[stamp_key(image_msg.header.stamp)] = time.perf_counter()
        self.image_pub.publish(image_msg)

    def wait_subscribed(self, timeout_s: float = 20.0) -> bool:
        """Until the node's image subscription and our depth/camera_info subscriptions are
        matched (the camera_info input is optional: some tests run without one)."""
        assert self._depth_sub is not None, "subscribe_outputs() first: a lazy node waits for it"
        return bool(
            wait_for(
                lambda: self.image_pub.get_subscription_count() > 0
                and self._depth_sub.get_publisher_count() > 0
                and self._info_sub.get_publisher_count() > 0,
                timeout_s,
            )
        )

    def depth_for(self, stamp: Any) -> Optional[Any]:
        key = stamp_key(stamp)
        with self.lock:
            for _, msg in reversed(self.depth):
                if stamp_key(msg.header.stamp) == key:
                    return msg
        return None

    def info_for(self, stamp: Any) -> Optional[Any]:
        key = stamp_key(stamp)
        with self.lock:
            for _, msg in reversed(self.depth_info):
                if stamp_key(msg.header.stamp) == key:
                    return msg
        return None

    def statuses(self, since_s: float = 0.0) -> List[Any]:
        """Our node's DiagnosticStatus entries received after ``since_s`` (perf_counter):
        names start with the node's fully qualified name (diagnostic_updater would use the bare name)."""
        prefix = self.ns.strip("/") + "/"
        out = []
        with self.lock:
            for t, arr in self.diagnostics:
                if t >= since_s:
                    out.extend(s for s in arr.status if s.name.startswith(prefix))
        return out

    def find_status(self, name_suffix: str, since_s: float, level: Optional[int] = None,
                    text: str = "") -> Optional[Any]:
        for s in self.statuses(since_s):
            if s.name.endswith(name_suffix) and (level is None or s.level[0] == level) and text in s.message:
                return s
        return None

    def set_parameters(self, node_name: str, **values: Any) -> List[Any]:
        """SetParameters service call (ros2cli is not installed); returns the results."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        client = self.node.create_client(SetParameters, node_name + "/set_parameters")
        try:
            if not client.wait_for_service(timeout_sec=10.0):
                raise TimeoutError("no parameter service at %s" % node_name)
            req = SetParameters.Request()
            req.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
            future = client.call_async(req)
            if not wait_for(future.done, 20.0):
                raise TimeoutError("set_parameters on %s timed out" % node_name)
            return list(future.result().results)
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(2.0)


def change_state(client: Client, node_name: str, transition: str) -> bool:
    """ChangeState by name (configure, activate, deactivate, cleanup, shutdown from
    unconfigured, shutdown_active); returns whether the transition succeeded."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    ids = {"configure": Transition.TRANSITION_CONFIGURE, "activate": Transition.TRANSITION_ACTIVATE,
           "deactivate": Transition.TRANSITION_DEACTIVATE, "cleanup": Transition.TRANSITION_CLEANUP,
           "shutdown": Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
           "shutdown_active": Transition.TRANSITION_ACTIVE_SHUTDOWN}
    cli = client.node.create_client(ChangeState, node_name + "/change_state")
    try:
        assert cli.wait_for_service(timeout_sec=20.0), "no lifecycle services"
        future = cli.call_async(ChangeState.Request(transition=Transition(id=ids[transition])))
        assert wait_for(future.done, 60.0), "change_state %s timed out" % transition
        return bool(future.result().success)
    finally:
        client.node.destroy_client(cli)


def lifecycle_state(client: Client, node_name: str) -> str:
    """GetState: the label of the node's lifecycle state ('unconfigured', 'inactive', ...)."""
    from lifecycle_msgs.srv import GetState

    cli = client.node.create_client(GetState, node_name + "/get_state")
    try:
        assert cli.wait_for_service(timeout_sec=20.0), "no lifecycle services"
        future = cli.call_async(GetState.Request())
        assert wait_for(future.done, 20.0), "get_state timed out"
        return future.result().current_state.label
    finally:
        client.node.destroy_client(cli)


def get_parameter(client: Client, node_name: str, name: str) -> Any:
    """GetParameters service call (ros2cli is not installed); the value as Python."""
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    cli = client.node.create_client(GetParameters, node_name + "/get_parameters")
    try:
        assert cli.wait_for_service(timeout_sec=10.0)
        future = cli.call_async(GetParameters.Request(names=[name]))
        assert wait_for(future.done, 10.0), "get_parameters timed out"
        return parameter_value_to_python(future.result().values[0])
    finally:
        client.node.destroy_client(cli)


def status_values(status: Any) -> Dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def camera_info(width: int, height: int, fx: float = 525.0, fy: float = 525.0,
                cx: Optional[float] = None, cy: Optional[float] = None, frame_id: str = "camera") -> Any:
    """A pinhole sensor_msgs/CameraInfo (plumb_bob, zero distortion), centred by default."""
    from fastdepth_ros import camera_info as ci

    cx = (width - 1) / 2.0 if cx is None else cx
    cy = (height - 1) / 2.0 if cy is None else cy
    return ci.to_msg(ci.pinhole(fx, fy, cx, cy, width, height), frame_id)


def scene_rgb8(width: int = 640, height: int = 480) -> np.ndarray:
    """A real indoor scene: the first frame of the shipped sample bag (a rendered room), resized."""
    import cv2

    from fastdepth_ros.replay import bagio

    with bagio.BagReader(REPO / "data" / "sample_bag") as bag:
        msg = next(bag.messages([SAMPLE_IMAGE_TOPIC]))
        rgb, encoding = bagio.decode_image(bag.deserialize(msg), msg.msgtype)
    assert encoding == "rgb8", encoding
    return np.ascontiguousarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR))


def image_msg(rgb: np.ndarray, stamp_ns: int, frame_id: str = "camera", encoding: str = "rgb8") -> Any:
    from fastdepth_ros.imaging import numpy_to_image

    msg = numpy_to_image(rgb, encoding)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec = int(stamp_ns // 1_000_000_000)
    msg.header.stamp.nanosec = int(stamp_ns % 1_000_000_000)
    return msg


def publish_frame(client: Client, rgb: np.ndarray, info: Any = None) -> Any:
    """Publish ``rgb`` (and ``info``, restamped to match) stamped now; returns the image."""
    msg = image_msg(rgb, client.node.get_clock().now().nanoseconds, frame_id="cam_optical")
    if info is not None:
        info.header = msg.header
    client.publish(msg, info)
    return msg


def served(client: Client, rgb: np.ndarray, info: Any = None, tries: int = 20) -> Any:
    """The depth for a fresh frame, resending up to ``tries`` times (the first best-effort
    samples after matching may be lost); None if none came."""
    for _ in range(tries):
        msg = publish_frame(client, rgb, info)
        depth = wait_for(lambda m=msg: client.depth_for(m.header.stamp), 1.0)
        if depth is not None:
            return depth
    return None
