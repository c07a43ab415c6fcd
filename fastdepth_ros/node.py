"""The ROS 2 node: camera image (+ camera_info) in, metric depth (+ its camera_info) out.

Threading, and why:

* The image subscription callback does no work: it stores ``(msg, receive time)`` in a
  :class:`~fastdepth_ros.latest.LatestSlot`.  A frame replaced there before the worker
  took it is counted as dropped.  Nothing can queue without bound.
* One worker thread takes the newest frame, converts it (``imaging``), runs the
  :class:`~fastdepth_ros.pipeline.DepthPipeline` and publishes.  ONNX Runtime releases the
  GIL, so the executor keeps serving callbacks, parameters and diagnostics meanwhile.
* A ``model_path`` change is loaded by a second thread (``model_reload``); the worker keeps
  running the current model until the new one is ready.  The lock that guards the pipeline
  reference is held only to swap or read it, never across inference.
* A steady-clock timer publishes ``/diagnostics`` at 1 Hz (steady so it keeps reporting
  under ``use_sim_time`` even when no ``/clock`` arrives; frame age uses the node's ROS
  clock, so it is right during bag replay).

Only rclpy API common to Humble and later is used; the module stays Python 3.8 clean.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Tuple

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, Range

from . import diagnostics as dg
from . import pointcloud, topics
from . import qos as q
from .anchor import AnchorConfig, AnchorError, Anchoring
from .engine import Engine, EngineConfig, ModelLoadError, parse_provider_options
from .geometry import CameraInfoError, CameraIntrinsics, distortion_models_text
from .imaging import (
    ImageDecodeError,
    canonical_encoding,
    compressed_to_numpy,
    image_msg_to_rgb8,
    numpy_to_image,
    to_rgb8,
)
from .latest import LatestSlot
from .model_reload import LoaderStopped, ModelReloader, ReloadOutcome
from .pipeline import DepthPipeline, PipelineConfig
from .provider_check import load_checked
from .resources import default_model_path
from .spinning import spin_until_shutdown
from .visualize import colorize_depth

NODE_NAME = "fastdepth"
# "publish" is the depth image (message + DDS write); "side_outputs" what follows it off the
# latency path (depth/camera_info derivation + publish, depth/colored); "total" is receive ->
# depth published, the latency a depth subscriber sees minus transport.  "points" (depth/points,
# only while subscribed) is part of side_outputs, reported on its own from its first cloud.
STAGES = ("queue", "convert", "info_wait", "preprocess", "inference", "postprocess", "publish",
          "side_outputs", "total")
PIPELINE_PARAMS = ("input_mode", "output_size", "output_encoding", "min_range_m", "max_range_m",
                   "focal_scaling", "canonical_focal_px", "rectify", "max_output_pixels")
CAMERA_INFO_CACHE = q.CAMERA_INFO_DEPTH  # stamp-indexed camera_info kept for exact-stamp pairing
DIAGNOSTIC_PERIOD_PARAM = "diagnostic_updater.period"  # diagnostic_updater's own parameter name
LAZY_CHECK_PERIOD_S = 0.2  # how often subscriber counts are polled (portable to Humble)
IDLE_MESSAGE = "idle: no subscribers"
# The diagnostic tasks, in publishing order.  Outside the active state every one of them is
# still published (an aggregator would otherwise mark them STALE, its verdict for silence)
# at level OK with the lifecycle state as the message, as diagnostic_updater's Updater does
# with its level-OK "Node starting up" placeholder and its broadcast() for suspended work.
DIAGNOSTIC_TASKS = ("input", "depth output", "frame age", "latency", "engine", "camera_info", "qos",
                    "metric scale")
STATE_MESSAGES = {
    "unconfigured": "unconfigured (lifecycle): no model loaded, not processing",
    "inactive": "inactive (lifecycle): model loaded, not processing",
    "finalized": "finalized (lifecycle): shut down",
}


def _float_range(lo: float, hi: float) -> List[FloatingPointRange]:
    return [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]


def _int_range(lo: int, hi: int) -> List[IntegerRange]:
    return [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]


_PC = PipelineConfig()  # the pipeline parameters' defaults live in PipelineConfig

# name -> (default, description, read_only, extra descriptor fields).  The table in
# docs/node.md lists the same.  Read-only ones need a restart (they shape the session or
# the subscriptions).
PARAMETERS: Dict[str, Tuple[Any, str, bool, Dict[str, Any]]] = {
    "model_path": ("", "FastDepth ONNX file; empty = the package's share/models/fastdepth.onnx. "
                   "Changing it at runtime loads the new model in the background while the old "
                   "one keeps serving; a missing file is rejected at once, a model that fails "
                   "to load is reported (log, engine diagnostic) and model_path is set back.",
                   False, {}),
    "providers": (["tensorrt", "cuda", "cpu"], "ONNX Runtime execution providers in order of preference "
                  "(tensorrt, cuda, cpu or full ORT names); CPU is always the last resort.",
                  True, {}),
    "provider_options": ("", "Extra ORT provider options, 'provider:key=value' separated by "
                         "spaces or ';', e.g. 'tensorrt:trt_max_workspace_size=1073741824'.",
                         True, {}),
    "provider_check": ("fallback", "Start-up self-test of an accelerated provider (TensorRT, CUDA): "
                       "one fixed input through it and through a CPU session, depths compared "
                       "(also after a model reload). 'fallback': a mismatch is an ERROR and the CPU "
                       "session serves; 'warn': ERROR, the accelerated session keeps serving; 'off'.",
                       True, {"additional_constraints": "fallback | warn | off"}),
    "provider_check_tolerance": (0.0, "Median relative depth error allowed by the self-test (the "
                                 "99th percentile may reach 10x); 0 = 0.01, or 0.05 with fp16.", True,
                                 {"floating_point_range": _float_range(0.0, 1.0)}),
    "device_id": (0, "GPU index for TensorRT/CUDA.", True, {"integer_range": _int_range(0, 64)}),
    "fp16": (False, "TensorRT FP16 kernels.", True, {}),
    "trt_engine_cache_path": ("~/.ros/fastdepth_trt_cache", "Directory for TensorRT engine/timing "
                              "caches (empty = no cache: every start builds the engine).", True, {}),
    "intra_op_threads": (0, "ORT intra-op threads (0 = ORT default, one per core).", True,
                         {"integer_range": _int_range(0, 256)}),
    "inter_op_threads": (1, "ORT inter-op threads.", True, {"integer_range": _int_range(0, 256)}),
    "ort_allow_spinning": (False, "ORT intra-op threads busy-wait between kernels and frames "
                           "(ORT's default: a few ms lower latency, but a core per extra thread "
                           "kept busy). Off by default: an onboard computer shares its cores "
                           "with estimation and control and runs on a battery.", True, {}),
    "warmup_runs": (3, "Inference runs at start-up, kept out of the statistics.", True,
                    {"integer_range": _int_range(0, 1000)}),
    "max_input_pixels": (16777216, "Pixel budget (width x height) of an input image; larger ones "
                         "are refused before decoding (a compressed image's size is read from "
                         "its header), so a small PNG declaring 20000x20000 cannot exhaust "
                         "memory. 16 MP by default.", False,
                         {"integer_range": _int_range(1, 16384 * 16384)}),
    "max_output_pixels": (_PC.max_output_pixels, "Pixel budget (width x height) of the depth image: an "
                          "output_size over it is refused at start-up and when set at runtime; with "
                          "'input' (or 'model'), a frame whose depth image would exceed it is dropped "
                          "with an input ERROR. 16 MP by default.", False,
                          {"integer_range": _int_range(1, 16384 * 16384)}),
    "image_transport": ("raw", "'raw': subscribe sensor_msgs/Image on 'image'; 'compressed': "
                        "sensor_msgs/CompressedImage on '<resolved image topic>/compressed'.",
                        True, {"additional_constraints": "raw | compressed"}),
    "lazy": (True, "Subscribe to the image (and run inference) only while something subscribes "
             "to depth/image, depth/camera_info or depth/colored (if publish_colored), like "
             "image_pipeline; false = always.", True, {}),
    "input_mode": (_PC.input_mode, "'crop': the paper's centre crop (accuracy as published); "
                   "'full': the whole field of view, squeezed to the model input.", False,
                   {"additional_constraints": "crop | full"}),
    "output_size": (_PC.output_size, "Depth image grid: 'model' (e.g. 224x224), 'input' (camera "
                    "size, NaN outside the crop) or 'WxH'.", False,
                    {"additional_constraints": "model | input | <W>x<H>"}),
    "output_encoding": (_PC.output_encoding, "'32FC1' metres (REP 117 NaN/Inf flags) or '16UC1' "
                        "millimetres (0 = invalid).", False,
                        {"additional_constraints": "32FC1 | 16UC1"}),
    "min_range_m": (_PC.min_range_m, "Closer depths are flagged -Inf (16UC1: 0).", False,
                    {"floating_point_range": _float_range(0.0, 1000.0)}),
    "max_range_m": (_PC.max_range_m, "Farther depths are flagged +Inf (16UC1: 0; at most 65.535).", False,
                    {"floating_point_range": _float_range(0.0, 1000.0)}),
    "focal_scaling": (_PC.focal_scaling, "Convert the model's canonical-camera depth to this camera: depth x "
                      "f_camera / f_canonical, f_camera from camera_info in model-input pixels. "
                      "Needs camera_info and a model that records f_canonical.", False, {}),
    "canonical_focal_px": (_PC.canonical_focal_px, "f_canonical for focal scaling, in model-input pixels: "
                           "0 = the model's ONNX metadata; e.g. 229.948 (NYU's Kinect through the official "
                           "crop) for the official NYU-trained model, whose ONNX records none.", False,
                           {"floating_point_range": _float_range(0.0, 100000.0)}),
    "rectify": (_PC.rectify, "Undistort the depth image (folded into the sampling maps): 'auto' when "
                "camera_info D is non-zero, 'true' always (also applies R and P), 'false' never "
                "(D is passed through to depth/camera_info). Rectified depth/camera_info has D = 0, "
                "R = I and P of the depth grid. Models (D lengths, every coefficient used): %s; anything "
                "else is an ERROR without depth/camera_info." % distortion_models_text(),
                False, {"additional_constraints": "auto | true | false", "dynamic_typing": True}),
    "camera_info_wait_ms": (10.0, "How long a frame whose exact-stamp camera_info has not arrived "
                            "yet waits for it (image_transport's CameraPublisher sends the image "
                            "first). Skipped while no camera_info was ever received or a newer one "
                            "already arrived; on timeout the latest camera_info is used (counted in "
                            "the camera_info diagnostic). 0 = never wait.", False,
                            {"floating_point_range": _float_range(0.0, 1000.0)}),
    "publish_colored": (True, "Publish depth/colored (rgb8 colour map) while it has "
                        "subscribers; computed only then.", False, {}),
    "publish_points": (True, "Publish depth/points (organised PointCloud2, float32 x, y, z: the depth "
                       "back-projected through depth/camera_info's P, as depth_image_proc's "
                       "point_cloud_xyz does) while it has subscribers; computed only then, and "
                       "only for frames that have a depth/camera_info.", False, {}),
    "points_stride": (1, "depth/points keeps every n-th row and column of the depth grid (each point "
                      "still back-projected from its own pixel): n x n fewer points.", False,
                      {"integer_range": _int_range(1, 64)}),
    "expected_rate_hz": (10.0, "Minimum acceptable depth output rate for diagnostics "
                         "(0 = only report 'No events recorded').", False,
                         {"floating_point_range": _float_range(0.0, 1000.0)}),
    "rate_tolerance": (0.1, "Relative tolerance on expected_rate_hz (diagnostic_updater's "
                       "FrequencyStatus tolerance).", False,
                       {"floating_point_range": _float_range(0.0, 1.0)}),
    "diagnostic_window": (5, "Rate window in diagnostic updates (about seconds).", True,
                          {"integer_range": _int_range(1, 100)}),
    "max_latency_ms": (150.0, "WARN when the p95 receive-to-depth-published latency exceeds this "
                       "(0 = off).", False, {"floating_point_range": _float_range(0.0, 60000.0)}),
    "max_frame_age_ms": (500.0, "ERROR when a published frame's age (now - header.stamp) "
                         "exceeds this (TimeStampStatus max_acceptable).", False,
                         {"floating_point_range": _float_range(0.0, 3600000.0)}),
    "min_frame_age_ms": (-1000.0, "ERROR when a stamp lies further in the future than this "
                         "(TimeStampStatus min_acceptable; negative).", False,
                         {"floating_point_range": _float_range(-3600000.0, 0.0)}),
    "hardware_id": ("", "DiagnosticStatus.hardware_id; empty like diagnostic_updater's default "
                    "(statuses are told apart by their names, which carry the node's full name).",
                    True, {}),
    "anchor.max_age_s": (0.5, "Metric anchoring: an anchor (anchor/depth, anchor/range) pairs with the "
                         "image of its stamp, else the newest one at most this far from the image's "
                         "stamp; with none, the model's own scale is published (and said).", True,
                         {"floating_point_range": _float_range(0.001, 3600.0)}),
    "anchor.min_points": (10, "Fewest anchor/depth pixels inside the model's view for a scale fit.",
                          True, {"integer_range": _int_range(1, 1000000)}),
    "anchor.smoothing_s": (0.2, "Time constant of the scale's smoothing in log space (0 = per frame); "
                           "0.2 s converges within 1 s at 10 Hz; a jump beyond the estimate's noise "
                           "restarts it (a new scene is never blended with the last).", True,
                           {"floating_point_range": _float_range(0.0, 60.0)}),
    "anchor.scale_limits": ([0.05, 20.0], "[low, high] anchored scales outside which the fit is "
                            "refused (the model's own scale is published, with a WARN).", True, {}),
    DIAGNOSTIC_PERIOD_PARAM: (1.0, "Seconds between /diagnostics updates (diagnostic_updater's "
                              "parameter).", True, {"floating_point_range": _float_range(0.05, 60.0)}),
}


def _intrinsics_or_none(info: Optional[CameraInfo]) -> Optional[CameraIntrinsics]:
    """A camera_info as CameraIntrinsics for focal scaling; None if absent or malformed (a
    malformed one is reported when depth/camera_info is derived from it)."""
    if info is None:
        return None
    try:
        return CameraIntrinsics.from_msg(info)
    except (ValueError, TypeError):
        return None


def _focal_scaling_state(enabled: bool, canonical_px: Optional[float], last_scale: Optional[float]) -> str:
    """What the 'Focal scaling' diagnostic value says: which conversion the depth carries."""
    if not enabled:
        return "off (focal_scaling: false)"
    if canonical_px is None:
        return "inactive: the model records no canonical focal length"
    if last_scale is None:
        return "inactive: no usable camera_info (canonical %.1f px)" % canonical_px
    return "on: x%.4f (camera %.3f px / canonical %.3f px)" % (last_scale, last_scale * canonical_px,
                                                              canonical_px)


def _stamp_s(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1000000000 + int(stamp.nanosec)


def normalize_rectify(value: Any) -> str:
    """``rectify`` is dynamically typed so that ``-p rectify:=true`` (parsed as a bool by
    ROS) works as well as the string: True/False -> 'true'/'false'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def _resolve(node: Node, topic: str) -> str:
    """The remapped, fully qualified name (``Node.resolve_topic_name`` where rclpy has it)."""
    resolve = getattr(node, "resolve_topic_name", None)
    return resolve(topic) if resolve is not None else topic


class DepthNode(Node):
    """Monocular depth node; see the module docstring for the threading model.

    Start-up is two steps, so :class:`~fastdepth_ros.lifecycle.LifecycleDepthNode` can run
    them as lifecycle transitions: :meth:`_configure` loads the model (and builds a TensorRT
    engine), :meth:`_activate` creates the topics and the worker.  This class runs both at
    construction; ``managed = True`` leaves them to the lifecycle.
    """

    managed = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for name, (default, description, read_only, extra) in PARAMETERS.items():
            self.declare_parameter(
                name, default, ParameterDescriptor(description=description, read_only=read_only, **extra)
            )
        self._throttle = dg.LogThrottle(5.0)
        self._pipeline: Optional[DepthPipeline] = None
        self._pipeline_lock = threading.Lock()
        self._qos_events = q.IncompatibleQoS()
        self._endpoints = q.Endpoints(self, self._qos_events)
        self._active = False
        self._worker: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._slot: LatestSlot[Tuple[Any, float]] = LatestSlot()
        self._image_sub: Any = None
        self._info_sub: Any = None
        self._work_timers: List[Any] = []
        self._anchor_subs: List[Any] = []
        self.add_on_set_parameters_callback(self._on_parameters)
        # A failed background load sets model_path back on the executor thread (where
        # parameter changes belong); the loader thread only triggers this.
        self._revert_model_param = self.create_guard_condition(self._set_model_param_back)
        self._depth_pub: Any = None  # created at configure, destroyed at cleanup
        self._depth_info_pub: Any = None
        self._colored_pub: Any = None
        self._points_pub: Any = None
        self._finalized = False
        # /diagnostics lives as long as the node, in every lifecycle state (read-only
        # parameters: the values at construction are the values for the node's life)
        self._hardware_id = self._param("hardware_id")
        self._diagnostic_period_s = float(self._param(DIAGNOSTIC_PERIOD_PARAM))
        # "<fully qualified name without the leading />: task"; diagnostic_updater prefixes the
        # bare node name, which two namespaced instances would share
        self._status_prefix = self.get_fully_qualified_name().lstrip("/") + ": "
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._diag_timer = self.create_timer(self._diagnostic_period_s, self._publish_diagnostics,
                                             clock=self._steady)
        if not self.managed:
            self._configure()
            self._activate()

    # ------------------------------------------------------------------ start-up steps

    def _configure(self) -> None:
        """Load the model and set up the pipeline and diagnostics state (raises on failure)."""
        p = self._param
        self._engine_config = EngineConfig(
            providers=list(p("providers")) or ["cpu"],
            device_id=p("device_id"),
            fp16=p("fp16"),
            trt_engine_cache_path=os.path.expanduser(p("trt_engine_cache_path")),
            intra_op_threads=p("intra_op_threads"),
            inter_op_threads=p("inter_op_threads"),
            allow_spinning=bool(p("ort_allow_spinning")),
            warmup_runs=p("warmup_runs"),
            extra_provider_options=parse_provider_options(p("provider_options")),
            provider_check=p("provider_check"),
            provider_check_tolerance=p("provider_check_tolerance"),
        )
        config = PipelineConfig(**{k: p(k) for k in PIPELINE_PARAMS}).validate()
        transport = p("image_transport")
        if transport not in ("raw", "compressed"):
            raise ValueError("image_transport must be 'raw' or 'compressed', got %r" % transport)
        self._compressed = transport == "compressed"
        if self._compressed:
            self._image_topic = topics.compressed_topic(_resolve(self, topics.IMAGE))
        else:
            self._image_topic = topics.IMAGE
        # ---- diagnostics state (thresholds: _apply_parameters)
        steady = time.monotonic()
        window = p("diagnostic_window")
        self._input_rate = dg.FrequencyStatus(0.0, window_size=window, now_s=steady)
        self._output_rate = dg.FrequencyStatus(0.0, window_size=window, now_s=steady)
        self._age = dg.TimeStampStatus()
        self._stats = dg.StageStats(STAGES, window=100)
        self._input_errors = dg.ErrorLatch()
        self._engine_errors = dg.ErrorLatch()
        self._info_errors = dg.ErrorLatch()
        self._spellings: Dict[str, str] = {}  # non-ROS encoding spellings seen -> canonical
        self._spelling_window = ""
        # every parameter that may change at runtime, set the way a runtime change sets it
        self._apply_parameters({name: p(name) for name, spec in PARAMETERS.items() if not spec[2]})
        self._cloud = pointcloud.CloudBuffer()
        self._lazy = bool(p("lazy"))
        self._check_qos_overrides()  # before the model load: a typo is refused at once
        engine = self._load_engine(p("model_path"))
        with self._pipeline_lock:  # guards the reference only; never held across inference
            self._pipeline = DepthPipeline(engine, config)
        self._model_param = p("model_path")  # the model_path value of the model that runs
        for note in engine.notes:
            self.get_logger().warn("execution provider: %s" % note)
        self.get_logger().info(
            "model %s (input %dx%d) on %s; input_mode=%s output_size=%s encoding=%s rectify=%s"
            % (engine.model_path, engine.input_hw[1], engine.input_hw[0], engine.provider,
               config.input_mode, config.output_size, config.output_encoding, config.rectify)
        )

        self._focal_scale: Optional[float] = None  # of the last published frame
        self._counts = {"published": 0, "colored": 0, "points": 0, "info_exact": 0, "info_latest": 0,
                        "info_none": 0, "info_received": 0, "rectified": 0, "info_waited": 0,
                        "info_wait_timeouts": 0}
        self._infos: OrderedDict = OrderedDict()  # (sec, nanosec) -> CameraInfo
        self._infos_lock = threading.Lock()
        self._infos_arrived = threading.Condition(self._infos_lock)  # a frame waits for its info
        # Lifecycle publishers (plain ones in depth_node): created here so the node and its
        # topics stay in the graph while inactive; they publish only while active.
        out_qos, life = q.output_qos(), self.managed
        self._depth_pub = self._endpoints.publisher(Image, topics.DEPTH_IMAGE, out_qos, life)
        self._depth_info_pub = self._endpoints.publisher(CameraInfo, topics.DEPTH_CAMERA_INFO, out_qos, life)
        self._colored_pub = self._endpoints.publisher(Image, topics.DEPTH_COLORED, out_qos, life)
        self._points_pub = self._endpoints.publisher(PointCloud2, topics.DEPTH_POINTS, out_qos, life)
        self._anchoring = Anchoring(AnchorConfig(
            float(p("anchor.max_age_s")), int(p("anchor.min_points")), float(p("anchor.smoothing_s")),
            tuple(float(v) for v in p("anchor.scale_limits"))))
        self._anchor_errors = dg.ErrorLatch()
        self._image_hw: Optional[Tuple[int, int]] = None  # of the last frame (anchor aspect check)
        # Threads last: a constructor that fails (or is interrupted) before here leaves none.
        # The loader lives from configure to cleanup: a reload asked for while inactive loads.
        self._reloader = ModelReloader(self._load_engine, self._on_model_loaded)

    def _activate(self) -> None:
        """The camera_info subscription, the worker and the lazy timer; the image
        subscription now or, when lazy, as soon as an output has a subscriber."""
        self._info_sub = self._endpoints.subscription(CameraInfo, topics.CAMERA_INFO, self._on_info,
                                                      q.input_qos(CAMERA_INFO_CACHE))
        anchor_qos = q.input_qos()  # sensor data, like the image
        self._anchor_subs = [
            self._endpoints.subscription(Image, topics.ANCHOR_DEPTH, self._on_anchor_depth, anchor_qos),
            self._endpoints.subscription(CameraInfo, topics.ANCHOR_CAMERA_INFO, self._on_anchor_info,
                                         anchor_qos),
            self._endpoints.subscription(Range, topics.ANCHOR_RANGE, self._on_anchor_range, anchor_qos),
        ]
        self._slot = LatestSlot()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="fastdepth_worker", daemon=True)
        self._worker.start()
        self._active = True
        self._work_timers = []
        if self._lazy:
            self._work_timers.append(self.create_timer(LAZY_CHECK_PERIOD_S, self._update_lazy,
                                                       clock=self._steady))
            self._update_lazy()
        else:
            self._subscribe_image()
        self.get_logger().info(
            "input %s (%s, %s); publishing %s, %s, %s, %s%s"
            % (_resolve(self, self._image_topic), "compressed" if self._compressed else "raw",
               self._info_sub.qos_profile.reliability.name.lower(), self._depth_pub.topic_name,
               self._depth_info_pub.topic_name, self._colored_pub.topic_name, self._points_pub.topic_name,
               "; lazy: subscribing to the image only while the outputs have subscribers"
               if self._lazy else "")
        )

    def _deactivate(self) -> None:
        """Stop work: no image or camera_info subscription, no worker.  The publishers (and
        /diagnostics) stay; the model and its loader stay until cleanup."""
        self._active = False
        for timer in self._work_timers:
            self.destroy_timer(timer)
        self._work_timers = []
        self._unsubscribe_image()
        self._stop_worker()
        for attr in ("_info_sub",):
            if getattr(self, attr) is not None:
                self.destroy_subscription(getattr(self, attr))
                setattr(self, attr, None)
        for sub in self._anchor_subs:
            self.destroy_subscription(sub)
        self._anchor_subs = []

    def _cleanup(self) -> None:
        """Free the model (the ONNX Runtime session and its GPU memory), stop its loader and
        take the output topics out of the graph."""
        if hasattr(self, "_reloader"):
            self._reloader.stop()
        destroy = getattr(self, "destroy_lifecycle_publisher", self.destroy_publisher)
        for attr in ("_depth_pub", "_depth_info_pub", "_colored_pub", "_points_pub"):
            if getattr(self, attr, None) is not None:
                destroy(getattr(self, attr))
                setattr(self, attr, None)
        with self._pipeline_lock:
            self._pipeline = None

    def _teardown(self) -> None:
        """From any state to unconfigured: deactivate if active, then clean up (the lifecycle
        node's shutdown and error handling both end here)."""
        if self._active:
            self._deactivate()
        self._cleanup()

    def lifecycle_state(self) -> str:
        """'active', 'inactive', 'unconfigured' or 'finalized', as this node sees itself."""
        if self._finalized:
            return "finalized"
        if self._active:
            return "active"
        return "inactive" if self._pipeline is not None else "unconfigured"

    # ------------------------------------------------------------------ lazy processing

    def _outputs(self) -> Dict[str, bool]:
        """Output topic -> whether the node publishes it now (one line per output): lazy mode
        counts the subscribers of enabled outputs only, and every output's qos_overrides are
        checked at configure."""
        return {
            topics.DEPTH_IMAGE: True,
            topics.DEPTH_CAMERA_INFO: True,
            topics.DEPTH_COLORED: self._publish_colored,
            topics.DEPTH_POINTS: self._publish_points,
        }

    def output_subscribers(self) -> int:
        """Subscriptions matched to the enabled outputs (a depth/colored viewer while
        publish_colored is false must not cost an inference per frame for nobody)."""
        return sum(self._endpoints.subscribers(topic) for topic, on in self._outputs().items() if on)

    def _check_qos_overrides(self) -> None:
        """Declare and check the qos_overrides.* of every endpoint the node may create
        (QoSOverrideError naming a bad one), so that a typo is refused at start-up or
        configure, not when the first consumer makes the lazy image subscription."""
        self._endpoints.resolve("subscription", self._image_topic, q.input_qos())
        self._endpoints.resolve("subscription", topics.CAMERA_INFO, q.input_qos(CAMERA_INFO_CACHE))
        for topic in (topics.ANCHOR_DEPTH, topics.ANCHOR_CAMERA_INFO, topics.ANCHOR_RANGE):
            self._endpoints.resolve("subscription", topic, q.input_qos())  # as _activate subscribes
        for topic in self._outputs():
            self._endpoints.resolve("publisher", topic, q.output_qos())

    @property
    def idle(self) -> bool:
        """Lazy and nobody listening: no image subscription, no inference."""
        return self._active and self._lazy and self._image_sub is None

    def _update_lazy(self) -> None:
        if not self._active:
            return
        wanted = self.output_subscribers() > 0
        if wanted and self._image_sub is None:
            self._subscribe_image()
            self.get_logger().info("output subscribed: subscribing to %s" % self._image_sub.topic_name)
        elif not wanted and self._image_sub is not None:
            self._unsubscribe_image()
            self._slot.clear()
            self.get_logger().info("%s: unsubscribed from the image" % IDLE_MESSAGE)

    def _subscribe_image(self) -> None:
        msg_type = CompressedImage if self._compressed else Image
        self._image_sub = self._endpoints.subscription(msg_type, self._image_topic, self._on_image,
                                                       q.input_qos())

    def _unsubscribe_image(self) -> None:
        if self._image_sub is not None:
            self.destroy_subscription(self._image_sub)
            self._image_sub = None

    # ------------------------------------------------------------------ helpers

    def _param(self, name: str) -> Any:
        value = self.get_parameter(name).value
        return normalize_rectify(value) if name == "rectify" else value

    def _load_engine(self, model_path: str) -> Engine:
        path = model_path or str(default_model_path())
        engine = load_checked(path, self._engine_config)
        check = engine.provider_check
        if check.ok is False:
            self.get_logger().error("execution provider self-test: %s" % check.summary())
        elif check.ok:
            self.get_logger().info("execution provider self-test: %s" % check.summary())
        return engine

    def _log_error(self, key: str, message: str) -> None:
        self._log_throttled(key, message, self.get_logger().error)

    def _log_throttled(self, key: str, message: str, log: Callable[[str], Any]) -> None:
        """``message`` through ``log`` unless ``key`` was logged in the last throttle period;
        the next line that passes says how many were suppressed meanwhile."""
        suppressed = self._throttle.check(key)
        if suppressed is not None:
            extra = " (%d similar suppressed)" % suppressed if suppressed else ""
            log(message + extra)

    def stop(self) -> None:
        """Stop the worker and the model loader (joins them); safe to call twice, and on a
        node whose constructor failed part way (rclpy's shutdown destroys such nodes too)."""
        if hasattr(self, "_reloader"):
            self._reloader.stop()
        self._stop_worker()

    def _stop_worker(self) -> None:
        """Stop and join the worker (also wakes it from a camera_info wait)."""
        if hasattr(self, "_stop"):
            self._stop.set()
        if hasattr(self, "_slot"):
            self._slot.close()
        arrived = getattr(self, "_infos_arrived", None)
        if arrived is not None:
            with arrived:
                arrived.notify_all()
        worker = getattr(self, "_worker", None)
        if worker is not None and worker.is_alive() and threading.current_thread() is not worker:
            worker.join(timeout=10.0)

    def destroy_node(self) -> Any:
        """Stops the threads first: whoever embeds the node and only destroys it must not
        be left with a worker running against a destroyed node."""
        self.stop()
        return super().destroy_node()

    # ------------------------------------------------------------------ callbacks

    def _on_image(self, msg: Any) -> None:
        """Executor thread: only store the newest frame (the worker does the work)."""
        self._input_rate.tick()
        self._slot.put((msg, time.perf_counter()))

    def _on_info(self, msg: CameraInfo) -> None:
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        with self._infos_arrived:
            self._infos[key] = msg
            self._infos.move_to_end(key)
            while len(self._infos) > CAMERA_INFO_CACHE:
                self._infos.popitem(last=False)
            self._counts["info_received"] += 1
            self._infos_arrived.notify_all()

    def _on_anchor_depth(self, msg: Image) -> None:
        """Executor thread: decode and keep a metric anchor image (bad ones: WARN, dropped)."""
        try:
            self._anchoring.add_depth_msg(msg, _stamp_ns(msg.header.stamp), self._image_hw,
                                          self._max_input_pixels)
        except AnchorError as exc:
            self._bad_anchor("anchor_depth", str(exc))

    def _on_anchor_info(self, msg: CameraInfo) -> None:
        """anchor/camera_info: anchor pixels are mapped through its K (same optical frame)."""
        k = _intrinsics_or_none(msg)
        if k is None or not (k.k[0, 0] > 0 and k.k[1, 1] > 0):
            self._bad_anchor("anchor_info", "anchor/camera_info has no usable K; ignored")
            return
        self._anchoring.set_anchor_camera(k.k)

    def _on_anchor_range(self, msg: Range) -> None:
        try:
            self._anchoring.add_range(float(msg.range), float(msg.min_range), float(msg.max_range),
                                      float(msg.field_of_view), _stamp_ns(msg.header.stamp))
        except AnchorError as exc:
            self._bad_anchor("anchor_range", str(exc))

    def _bad_anchor(self, key: str, message: str, what: str = "ignoring bad anchor message") -> None:
        self._anchor_errors.report("bad anchor: %s" % message, kind=key)
        # each problem said once per throttle period
        self._log_throttled("%s: %s" % (key, message), "%s: %s" % (what, message), self.get_logger().warn)

    def _rescale(self, header: Any, camera: Optional[CameraIntrinsics], pipeline: DepthPipeline) -> Any:
        """The pipeline's metric-anchoring hook for one frame (see fastdepth_ros.anchor)."""
        stamp_ns = _stamp_ns(header.stamp)

        def rescale(model_m: Any, geometry: Any) -> Optional[float]:
            if not self._anchoring.expecting:
                return None
            try:
                return self._anchoring.scale_for(model_m, geometry, stamp_ns, camera,
                                                 pipeline.canonical_focal_px).scale
            except Exception as exc:  # anchoring must never cost a frame: model scale, said
                self._bad_anchor("anchor_fit", "%r; publishing the model's scale" % exc, "anchor fit failed")
                return None
        return rescale

    def _camera_info_for(self, header: Any) -> Tuple[Optional[CameraInfo], bool, bool]:
        """The info with the image's stamp, else the latest; (info, exact, waited for it).

        image_transport's CameraPublisher sends the image first, so the matching info is
        often a few ms behind: wait for it up to ``camera_info_wait_ms``, as an exact-time
        synchronizer (depth_image_proc) would, but bounded.  No wait while no info was ever
        received (a camera without camera_info costs nothing) or once a newer-stamped info
        arrived (this frame's was lost or never sent; infos arrive in order)."""
        key = (header.stamp.sec, header.stamp.nanosec)
        deadline: Optional[float] = None
        with self._infos_arrived:
            while True:
                info = self._infos.get(key)
                if info is not None:
                    return info, True, deadline is not None
                if not self._infos or self._info_wait_s <= 0.0 or self._stop.is_set():
                    break
                if next(reversed(self._infos)) > key:
                    break
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._info_wait_s
                elif now >= deadline:
                    break
                self._infos_arrived.wait(deadline - now)
            if self._infos:
                return next(reversed(self._infos.values())), False, deadline is not None
        return None, False, False

    def _on_parameters(self, params: List[Any]) -> SetParametersResult:
        """Apply safe runtime changes atomically; reject bad values with the reason."""
        changes = {p.name: p.value for p in params}
        if "rectify" in changes:
            changes["rectify"] = normalize_rectify(changes["rectify"])
        pipeline_changes = {k: v for k, v in changes.items() if k in PIPELINE_PARAMS}
        if self._pipeline is None:  # lifecycle: not configured; configure reads the parameters
            try:
                current = {k: self._param(k) for k in PIPELINE_PARAMS}
                PipelineConfig(**dict(current, **pipeline_changes)).validate()
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            return SetParametersResult(successful=True)
        try:
            if pipeline_changes:
                replace(self._pipeline.config, **pipeline_changes).validate()
            model_request = None
            if "model_path" in changes:
                model_request = str(changes["model_path"])
                path = model_request or str(default_model_path())
                if not os.path.isfile(os.path.expanduser(path)):  # cheap: answered at once
                    message = "model file not found: %s" % os.path.abspath(os.path.expanduser(path))
                    self._engine_errors.report("model reload failed: %s" % message, kind="model")
                    self.get_logger().error("model reload rejected, keeping the current model: %s" % message)
                    raise ValueError(message)
                if model_request == self._model_param and not self._reloader.busy:
                    model_request = None  # already running (also: set back after a failure)
            if model_request is not None:
                # last, so a refusal leaves every other change of this set unapplied
                self._reloader.request(model_request)
        except (ValueError, LoaderStopped) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if pipeline_changes:
            with self._pipeline_lock:
                self._pipeline = self._pipeline.replaced(**pipeline_changes)
        if model_request is not None:
            self.get_logger().info("loading model %s in the background; the current model keeps serving"
                                   % (model_request or "(the package's model)"))
        self._apply_parameters(changes)
        if pipeline_changes:
            self.get_logger().info("reconfigured: %s" % pipeline_changes)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, values: Dict[str, Any]) -> None:
        """Parameter values -> the attributes they drive, for those of ``values`` this handles:
        configure passes every runtime parameter, a runtime set the changed ones (validated)."""
        if "max_input_pixels" in values:
            self._max_input_pixels = int(values["max_input_pixels"])
        if "camera_info_wait_ms" in values:
            self._info_wait_s = float(values["camera_info_wait_ms"]) / 1e3
        if "publish_colored" in values:
            self._publish_colored = bool(values["publish_colored"])
        if "publish_points" in values:
            self._publish_points = bool(values["publish_points"])
        if "points_stride" in values:  # its integer_range already refused < 1
            self._points_stride = pointcloud.check_stride(values["points_stride"])
        if "expected_rate_hz" in values:
            self._output_rate.min_hz = float(values["expected_rate_hz"])
        if "rate_tolerance" in values:
            self._output_rate.tolerance = self._input_rate.tolerance = float(values["rate_tolerance"])
        if "max_latency_ms" in values:
            self._max_latency_ms = float(values["max_latency_ms"])
        if "max_frame_age_ms" in values:
            self._age.max_acceptable_s = float(values["max_frame_age_ms"]) / 1e3
        if "min_frame_age_ms" in values:
            self._age.min_acceptable_s = float(values["min_frame_age_ms"]) / 1e3

    def _on_model_loaded(self, outcome: ReloadOutcome) -> None:
        """Loader thread: swap the new engine in, or report why not (never silent)."""
        if outcome.engine is not None:
            with self._pipeline_lock:
                if self._pipeline is None:  # cleaned up meanwhile: configure loads model_path
                    return
                self._pipeline = self._pipeline.replaced(engine=outcome.engine)
                self._model_param = outcome.request
            engine = outcome.engine
            for note in engine.notes:
                self.get_logger().warn("execution provider: %s" % note)
            self.get_logger().info("loaded model %s on %s in %.1f s"
                                   % (engine.model_path, engine.provider, outcome.duration_s))
            return
        self._engine_errors.report("model reload failed: %s" % outcome.error, kind="model")
        # not throttled: one line per request, which a person (or a script) made
        with self._pipeline_lock:
            pipeline = self._pipeline
        self.get_logger().error("model reload failed, keeping the current model %s: %s"
                                % (pipeline.engine.model_path if pipeline is not None else "(none)",
                                   outcome.error))
        if not outcome.superseded:
            self._revert_model_param.trigger()

    def _set_model_param_back(self) -> None:
        """Executor thread: model_path names the model that runs again (unless a newer
        request is already loading)."""
        if self._reloader.busy or self._param("model_path") == self._model_param:
            return
        self.set_parameters([Parameter("model_path", Parameter.Type.STRING, self._model_param)])

    # ------------------------------------------------------------------ worker

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self._slot.take(timeout_s=0.5)
            if item is None:
                continue
            try:
                self._process(*item)
            except Exception as exc:  # never let the worker die; report and go on
                if self._stop.is_set() or not rclpy.ok(context=self.context):
                    return
                self._engine_errors.report("unexpected error: %r" % exc, kind="unexpected")
                self._log_error("unexpected", "unexpected error processing a frame: %r" % exc)

    def _process(self, msg: Any, received_s: float) -> None:
        t_start = time.perf_counter()
        try:
            if self._compressed:
                array, encoding = compressed_to_numpy(msg, self._max_input_pixels)
                rgb = to_rgb8(array, encoding)
            else:
                rgb = image_msg_to_rgb8(msg, self._max_input_pixels)
                self._note_spelling(msg.encoding)
        except ImageDecodeError as exc:
            self._input_errors.report("bad input image: %s" % exc, kind="decode")
            self._log_error("decode", "dropping bad input image: %s" % exc)
            return
        t_converted = time.perf_counter()
        header = msg.header
        info, exact, waited = self._camera_info_for(header)
        t_paired = time.perf_counter()
        with self._pipeline_lock:  # a snapshot: a reload or reconfigure swaps, never mutates
            pipeline = self._pipeline
            if pipeline is None:
                return
            publish_colored = self._publish_colored
            publish_points, points_stride = self._publish_points, self._points_stride
        # intrinsics for rectification and focal scaling: the exact-stamp camera_info (waited
        # for up to camera_info_wait_ms), else the latest
        camera, rectify_failed = self._calibration(info, rgb.shape[:2], pipeline)
        self._image_hw = rgb.shape[:2]
        try:
            result = pipeline.process(rgb, camera, self._rescale(header, camera, pipeline))
        except ValueError as exc:  # geometry: a size the pipeline cannot plan
            self._input_errors.report("bad input image: %s" % exc, kind="geometry")
            self._log_error("geometry", "dropping input image: %s" % exc)
            return
        except Exception as exc:  # ORT raises its own types (provider/runtime failures)
            reason = " ".join(str(exc).split())  # one line: ORT's messages end with newlines
            self._engine_errors.report("inference failed on %s: %s" % (pipeline.engine.provider, reason),
                                       kind="inference")
            self._log_error("inference", "inference failed on %s: %s" % (pipeline.engine.provider, reason))
            return
        config = pipeline.config
        t_processed = time.perf_counter()
        self._focal_scale = result.focal_scale

        self._depth_pub.publish(numpy_to_image(result.depth, result.encoding, header=header))
        t_depth_out = time.perf_counter()
        # after depth: off its latency path.  A frame whose calibration could not be rectified
        # goes out without camera_info: distorted depth must not come with an info that lies.
        info_msg = None
        if not rectify_failed:
            info_msg = self._depth_info(header, result, pipeline, info, exact, waited)
        if info_msg is not None:
            self._depth_info_pub.publish(info_msg)
        if publish_colored and self._colored_pub.get_subscription_count() > 0:
            rgb_depth = colorize_depth(result.depth, config.min_range_m, config.max_range_m, result.encoding)
            self._colored_pub.publish(numpy_to_image(rgb_depth, "rgb8", header=header))
            self._counts["colored"] += 1
        t_points = time.perf_counter()
        points_ms = None
        if publish_points and info_msg is not None and self._points_pub.get_subscription_count() > 0:
            self._points_pub.publish(self._points(result, info_msg, header, points_stride))
            points_ms = (time.perf_counter() - t_points) * 1e3
        if result.anchor_scale is not None:  # ~1 Hz live accuracy against dense anchor depth
            depth_m = result.depth if result.encoding == "32FC1" else result.depth / 1000.0
            self._anchoring.maybe_live_accuracy(depth_m, result.geometry, camera, _stamp_ns(header.stamp))
        t_side_out = time.perf_counter()

        self._counts["published"] += 1
        self._output_rate.tick()
        self._age.tick(_stamp_s(header.stamp), self.get_clock().now().nanoseconds * 1e-9)
        timings = {
            "queue": (t_start - received_s) * 1e3,
            "convert": (t_converted - t_start) * 1e3,
            "info_wait": (t_paired - t_converted) * 1e3,
            "publish": (t_depth_out - t_processed) * 1e3,
            "side_outputs": (t_side_out - t_depth_out) * 1e3,
            # what a depth subscriber waits for: receive -> depth handed to DDS
            "total": (t_depth_out - received_s) * 1e3,
        }
        if points_ms is not None:
            timings["points"] = points_ms
        timings.update(result.timings_ms)
        self._stats.add(timings)

    def _points(self, result: Any, info_msg: CameraInfo, header: Any, stride: int) -> PointCloud2:
        """depth/points of this frame: its depth through the depth/camera_info just
        published with it (the same P a depth_image_proc consumer would use).  Refills the
        one reused message (worker thread only; publish() has serialised the previous one)."""
        msg = self._cloud.fill(result.depth, result.encoding, info_msg.k, info_msg.p, header, stride)
        self._counts["points"] += 1
        return msg

    def _note_spelling(self, encoding: str) -> None:
        """An encoding accepted only case-insensitively ("RGB8") is read, but said: cv_bridge
        and rviz refuse it, so the publisher should be fixed.  Logged once per spelling,
        WARN in the input diagnostic while such frames arrive."""
        canonical = canonical_encoding(encoding)
        if canonical == encoding:
            return
        self._spelling_window = "encoding %r is not a ROS spelling; read as %s" % (encoding, canonical)
        if encoding not in self._spellings:
            self._spellings[encoding] = canonical
            self.get_logger().warn(self._spelling_window + " (cv_bridge and rviz would refuse it)")

    def _calibration(self, info: Optional[CameraInfo], image_hw: Tuple[int, int],
                     pipeline: DepthPipeline) -> Tuple[Optional[CameraIntrinsics], bool]:
        """(the frame's intrinsics for the pipeline -- rectification and focal scaling -- or
        None, whether rectification failed).

        Planning happens here (cached per calibration), so a calibration that cannot be
        rectified is reported and the frame is processed unrectified, without camera_info."""
        camera = _intrinsics_or_none(info)
        if camera is None:
            return None, False
        try:
            if not pipeline.rectifies(camera):
                return camera, False
            pipeline.geometry(image_hw, camera)
        except (CameraInfoError, ValueError) as exc:
            self._info_errors.report("cannot rectify: %s" % exc, kind="rectify")
            self._log_error("rectify", "cannot rectify, publishing depth without depth/camera_info: %s"
                            % exc)
            return None, True
        self._counts["rectified"] += 1
        return camera, False

    def _depth_info(self, header: Any, result: Any, pipeline: DepthPipeline, info: Optional[CameraInfo],
                    exact: bool, waited: bool) -> Optional[CameraInfo]:
        if info is None:
            self._counts["info_none"] += 1
            return None
        self._counts["info_exact" if exact else "info_latest"] += 1
        if waited:
            self._counts["info_waited" if exact else "info_wait_timeouts"] += 1
        try:
            derived = pipeline.depth_camera_info(CameraIntrinsics.from_msg(info), result.geometry)
        except (CameraInfoError, ValueError) as exc:
            self._info_errors.report("bad camera_info: %s" % exc, kind="camera_info")
            self._log_error("camera_info", "bad camera_info, publishing depth without "
                            "depth/camera_info: %s" % exc)
            return None
        out = CameraInfo()
        out.header.frame_id = header.frame_id
        out.header.stamp = header.stamp
        derived.fill_msg(out)
        return out

    # ------------------------------------------------------------------ diagnostics

    def collect_statuses(self) -> List[dg.Status]:
        """One update of every diagnostic task (also used by tests without DDS)."""
        now = time.monotonic()
        prefix = self._status_prefix
        state = self.lifecycle_state()
        if state in ("unconfigured", "finalized"):  # nothing loaded: the state is all there is
            return [dg.Status(prefix + task, dg.OK, STATE_MESSAGES[state]) for task in DIAGNOSTIC_TASKS]
        idle = self.idle
        inactive = state == "inactive"

        def idle_ok(status: dg.Status) -> None:
            """Lazy and unobserved, or inactive: no input is expected, none is an error."""
            if inactive:
                status.level, status.message = dg.OK, STATE_MESSAGES[state]
            elif idle:
                status.level, status.message = dg.OK, IDLE_MESSAGE

        mismatches = self._endpoints.mismatches()  # peers whose QoS cannot match, from the graph
        inp = dg.Status(prefix + "input")
        self._input_rate.run(inp, now)
        idle_ok(inp)
        image_peers = mismatches.get("subscription %s" % _resolve(self, self._image_topic))
        if inp.level == dg.ERROR and image_peers and self._image_sub is not None:
            inp.message += " Likely reason: incompatible QoS with %s" % "; ".join(image_peers)
        inp.add("Frames received", self._slot.put_count)
        inp.add("Frames dropped (replaced before processing)", self._slot.dropped_count)
        inp.add("Topic", _resolve(self, self._image_topic))
        inp.add("Subscribed", self._image_sub is not None)
        inp.add("Pixel budget (max_input_pixels)", self._max_input_pixels)
        spelling, self._spelling_window = self._spelling_window, ""
        if spelling:
            inp.merge(dg.WARN, spelling)
        self._input_errors.run(inp)

        out = dg.Status(prefix + "depth output")
        self._output_rate.run(out, now)
        idle_ok(out)
        out.add("Output subscribers", self.output_subscribers())
        out.add("Lazy (process only while subscribed)", self._lazy)
        out.add("Depth images published", self._counts["published"])
        out.add("Colored images published", self._counts["colored"])
        out.add("Point clouds published", self._counts["points"])
        out.add("Frames dropped (replaced before processing)", self._slot.dropped_count)
        with self._pipeline_lock:
            config = self._pipeline.config
            engine = self._pipeline.engine
            canonical_px = self._pipeline.canonical_focal_px
        out.add("Encoding", config.output_encoding)
        out.add("Output size", config.output_size)
        out.add("Input mode", config.input_mode)
        out.add("Focal scaling", _focal_scaling_state(config.focal_scaling, canonical_px, self._focal_scale))
        out.add("Rectify", config.rectify)
        out.add("Depth images rectified", self._counts["rectified"])

        age = dg.Status(prefix + "frame age")
        self._age.run(age)
        idle_ok(age)

        lat = dg.Status(prefix + "latency")
        self._stats.run(lat, "total", self._max_latency_ms)
        lat.add("Maximum acceptable total p95 (ms)", self._max_latency_ms)
        if inactive:
            idle_ok(lat)

        eng = dg.Status(prefix + "engine")
        eng.add("Execution provider", engine.provider)
        eng.add("Active providers", ", ".join(engine.active_providers))
        eng.add("Requested providers", ", ".join(engine.requested_providers))
        eng.add("Model name", engine.model_name)
        eng.add("Model path", engine.model_path)
        eng.add("Model input size (WxH)", "%dx%d" % (engine.input_hw[1], engine.input_hw[0]))
        eng.add("ORT intra-op threads (0 = one per core)", engine.config.intra_op_threads)
        eng.add("ORT intra-op spinning", engine.config.allow_spinning)
        if engine.notes:
            eng.add("Provider notes", "; ".join(engine.notes))
        eng.add("Model reload", self._reloader.state())
        check = getattr(engine, "provider_check", None)
        if check is not None:
            eng.add("Provider self-test", check.summary())
        if engine.provider not in engine.requested_providers:
            eng.merge(dg.WARN, "Running on %s, which was not requested." % engine.provider)
        else:
            eng.message = "Running on %s." % engine.provider
        if check is not None and check.ok is False:
            eng.merge(dg.ERROR, "Provider self-test failed: %s" % check.summary())
        if self._reloader.busy:
            eng.message += " Loading a new model (%s)." % self._reloader.state()
        self._engine_errors.run(eng)

        info = dg.Status(prefix + "camera_info")
        with self._infos_lock:
            received = self._counts["info_received"]
        info.add("camera_info received", received)
        info.add("Paired by exact stamp", self._counts["info_exact"])
        info.add("Of these, after waiting for it (camera_info_wait_ms)", self._counts["info_waited"])
        info.add("Paired with latest (no exact stamp)", self._counts["info_latest"])
        info.add("Of these, after waiting camera_info_wait_ms in vain", self._counts["info_wait_timeouts"])
        info.add("Depth without camera_info (none received yet)", self._counts["info_none"])
        info.add("Topic", _resolve(self, topics.CAMERA_INFO))
        if received == 0 and not idle and not inactive:
            info.merge(dg.WARN, "No camera_info received; depth is published without depth/camera_info.")
        if inactive:
            idle_ok(info)
        self._info_errors.run(info)

        qos = dg.Status(prefix + "qos", message="All endpoints QoS-compatible with their peers.")
        self._qos_events.run(qos, mismatches)

        ok, message, values = self._anchoring.status()
        scale = dg.Status(prefix + "metric scale", message=message)
        if not ok:  # anchors were coming and this frame has none usable: said, not silent
            scale.merge(dg.WARN, message)
        for key, value in values:
            scale.add(key, value)
        self._anchor_errors.run(scale, dg.WARN)
        return [inp, out, age, lat, eng, info, qos, scale]

    def _publish_diagnostics(self) -> None:
        statuses = self.collect_statuses()
        self._diag_pub.publish(dg.to_ros(statuses, self._hardware_id, self.get_clock().now().to_msg()))


def main(args: Optional[List[str]] = None, node_class: Any = None) -> int:
    """Console script ``depth_node``: spin until SIGINT/SIGTERM; 1 on a fatal start error.
    ``node_class`` lets ``depth_lifecycle_node`` share this (default :class:`DepthNode`)."""
    try:
        rclpy.init(args=args)
    except KeyboardInterrupt:  # SIGINT before rclpy's handlers were in place
        return 0
    node: Optional[DepthNode] = None
    try:
        node = (node_class or DepthNode)()
    except (KeyboardInterrupt, ExternalShutdownException):
        rclpy.try_shutdown()
        return 0
    except Exception as exc:
        if not rclpy.ok():
            # SIGINT/SIGTERM during start-up: rclpy shut the context down and the next rcl
            # call (create_subscription, node creation ...) raised.  A normal stop.
            rclpy.try_shutdown()
            return 0
        if not isinstance(exc, (ModelLoadError, ValueError, FileNotFoundError, ParameterException)):
            raise
        rclpy.logging.get_logger(NODE_NAME).fatal("cannot start: %s" % exc)
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        spin_until_shutdown(executor)
    finally:
        node.stop()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
