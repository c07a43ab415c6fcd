"""GPU check of the node's inference path (issue 24): provider truth, CUDA-vs-CPU agreement,
model-only latency (default, I/O binding, CUDA graphs), the in-process pipeline's stages,
and the provider self-test; one JSON.

Runs wherever onnxruntime runs.  Without CUDAExecutionProvider every CUDA section says
"skipped" and the CPU stand-ins still run, so the script itself is exercised on a CPU-only
machine (tests do); the figures that matter come from a machine with an NVIDIA GPU and
``onnxruntime-gpu`` (scripts/gpu_check.sh installs it from a wheel folder).

TensorRT is not measured: its libraries (over 1 GB) cannot be carried to the lent GPU
machine, so that path stays CPU-tested only (the JSON says so).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CUDA = "CUDAExecutionProvider"


def percentiles_ms(samples_s: List[float]) -> Dict[str, float]:
    a = np.asarray(samples_s) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
            "p99_ms": float(np.percentile(a, 99)), "runs": int(a.size)}


def timed(fn: Callable[[], Any], runs: int, warmup: int) -> Dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return percentiles_ms(samples)


def finite_or_none(value: float) -> Optional[float]:
    """JSON has no NaN: a figure that was not measured is null."""
    return float(value) if np.isfinite(value) else None


def gpu_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout.strip()
        return out.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "none"


def sample_frames(limit: int, size_wh: Tuple[int, int] = (640, 480)) -> List[np.ndarray]:
    """RGB frames of the shipped sample bag (320x240 JPEG), resized to a camera's 640x480."""
    import cv2

    from fastdepth_ros.imaging import to_rgb8
    from fastdepth_ros.replay.bagio import BagReader, decode_image

    frames = []
    with BagReader(REPO / "data" / "sample_bag") as bag:
        for m in bag.messages(["/camera/image_raw/compressed"]):
            array, encoding = decode_image(bag.deserialize(m), m.msgtype)
            rgb = to_rgb8(array, encoding)
            frames.append(cv2.resize(rgb, size_wh, interpolation=cv2.INTER_LINEAR))
            if len(frames) >= limit:
                break
    return frames


def engine_config(providers: List[str], **kw: Any) -> Any:
    from fastdepth_ros.engine import EngineConfig

    return EngineConfig(providers=providers, allow_spinning=False, warmup_runs=10, **kw)


def provider_truth(model: str, has_cuda: bool) -> Dict[str, Any]:
    """What the node's load path (Engine + self-test) runs on, and what a bad option does."""
    from fastdepth_ros.engine import ModelLoadError
    from fastdepth_ros.provider_check import load_checked

    out: Dict[str, Any] = {}
    engine = load_checked(model, engine_config(["cuda", "cpu"]))
    check = engine.provider_check
    out["requested"] = ["cuda", "cpu"]
    out["provider"] = engine.provider
    out["active_providers"] = engine.active_providers
    out["notes"] = engine.notes
    out["self_test"] = {"ok": check.ok, "summary": check.summary()}
    for key in ("median_rel_error", "p99_rel_error", "max_rel_error", "tolerance"):
        out["self_test"][key] = finite_or_none(getattr(check, key))
    out["runs_on_cuda"] = engine.provider == CUDA
    if has_cuda:  # an unusable option must fall back and say so
        try:
            bad = load_checked(model, engine_config(["cuda", "cpu"], extra_provider_options={
                CUDA: {"device_id": "97"}}))
            out["bad_option"] = {"option": "cuda:device_id=97", "provider": bad.provider, "notes": bad.notes}
        except ModelLoadError as exc:
            out["bad_option"] = {"option": "cuda:device_id=97", "load_error": str(exc)}
    return out


def agreement(model: str, frames: List[np.ndarray], has_cuda: bool) -> Dict[str, Any]:
    """CUDA depth vs CPU depth through the node's pipeline, fp32, on the sample frames."""
    from fastdepth_ros.engine import Engine
    from fastdepth_ros.pipeline import DepthPipeline

    if not has_cuda:
        return {"skipped": "CUDAExecutionProvider not available"}
    cpu = DepthPipeline(Engine(model, engine_config(["cpu"])))
    gpu = DepthPipeline(Engine(model, engine_config(["cuda"], provider_check="off")))
    rel: List[np.ndarray] = []
    for rgb in frames:
        a, b = gpu.process(rgb).depth, cpu.process(rgb).depth
        valid = np.isfinite(a) & np.isfinite(b)
        rel.append(np.abs(a[valid] - b[valid]) / b[valid])
        rel.append(np.full(int((np.isfinite(a) != np.isfinite(b)).sum()), np.inf))  # flag flips
    r = np.concatenate(rel)
    return {"frames": len(frames), "pixels": int(r.size), "max_rel_error": float(r.max()),
            "median_rel_error": float(np.median(r)), "p99_rel_error": float(np.percentile(r, 99))}


def model_latency(model: str, has_cuda: bool, runs: int) -> Dict[str, Any]:
    """Model-only latency at batch 1: session.run, I/O binding, CUDA graphs."""
    import onnxruntime as ort

    from fastdepth_ros.engine import Engine

    device = "cuda" if has_cuda else "cpu"
    providers = ["cuda"] if has_cuda else ["cpu"]
    engine = Engine(model, engine_config(providers, provider_check="off"))
    sess, name_in, name_out = engine.session, engine.input_name, engine.output_name
    x = np.random.default_rng(0).random((1, 3) + tuple(engine.input_hw), dtype=np.float32)
    out: Dict[str, Any] = {"provider": engine.provider, "batch": 1}
    out["session_run"] = timed(lambda: sess.run([name_out], {name_in: x}), runs, 50)

    io = sess.io_binding()  # input copied to the device by us, output left there or copied back

    def bound(copy_back: bool) -> None:
        io.bind_cpu_input(name_in, x)
        io.bind_output(name_out, device)
        sess.run_with_iobinding(io)
        if copy_back:
            io.copy_outputs_to_cpu()

    out["io_binding_copy_back"] = timed(lambda: bound(True), runs, 50)
    out["io_binding_device_output"] = timed(lambda: bound(False), runs, 50)
    if not has_cuda:
        out["cuda_graph"] = {"skipped": "CUDAExecutionProvider not available"}
        return out
    try:
        options = ort.SessionOptions()
        graph_sess = ort.InferenceSession(model, sess_options=options, providers=[CUDA],
                                          provider_options=[{"enable_cuda_graph": "1"}])
        x_dev = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
        shape = [1, 1] + list(engine.input_hw)
        y_dev = ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, "cuda", 0)
        gio = graph_sess.io_binding()
        gio.bind_ortvalue_input(name_in, x_dev)
        gio.bind_ortvalue_output(name_out, y_dev)

        def graphed() -> None:
            x_dev.update_inplace(x)  # new frame into the captured input address
            graph_sess.run_with_iobinding(gio)
            y_dev.numpy()

        out["cuda_graph_copy_back"] = timed(graphed, runs, 50)
    except Exception as exc:  # ORT raises its own types when a graph cannot be captured
        out["cuda_graph"] = {"error": " ".join(str(exc).split())[:500]}
    return out


def pipeline_stages(model: str, frames: List[np.ndarray], has_cuda: bool, runs: int) -> Dict[str, Any]:
    """DepthPipeline.process on 640x480 frames: which stage dominates at GPU speed."""
    from fastdepth_ros.engine import Engine
    from fastdepth_ros.pipeline import DepthPipeline

    providers = ["cuda"] if has_cuda else ["cpu"]
    pipe = DepthPipeline(Engine(model, engine_config(providers, provider_check="off")))
    stages: Dict[str, List[float]] = {}
    totals = []
    for i in range(runs + 20):
        t0 = time.perf_counter()
        result = pipe.process(frames[i % len(frames)])
        total = time.perf_counter() - t0
        if i < 20:
            continue
        totals.append(total)
        for k, v in result.timings_ms.items():
            stages.setdefault(k, []).append(v / 1e3)
    summary = {k: percentiles_ms(v) for k, v in stages.items()}
    return {"provider": pipe.engine.provider, "frame": "%dx%d" % (frames[0].shape[1], frames[0].shape[0]),
            "stages": summary, "total": percentiles_ms(totals),
            "dominant_stage": max(summary, key=lambda k: summary[k]["p50_ms"])}


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(REPO / "models" / "fastdepth.onnx"))
    p.add_argument("--runs", type=int, default=1000, help="timed runs per latency figure")
    p.add_argument("--frames", type=int, default=24, help="sample-bag frames for agreement and stages")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)

    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):  # onnxruntime-gpu >= 1.21: CUDA/cuDNN from the nvidia-* wheels
        try:
            ort.preload_dlls()
        except Exception as exc:  # a missing library shows below as CUDA unavailable
            print("preload_dlls: %s" % exc, file=sys.stderr)
    has_cuda = CUDA in ort.get_available_providers()
    frames = sample_frames(args.frames)
    result: Dict[str, Any] = {
        "machine": {"gpu": gpu_name(), "cpu": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "onnxruntime": ort.__version__,
                    "available_providers": ort.get_available_providers()},
        "model": Path(args.model).name,
        "cuda_available": has_cuda,
    }
    result["provider_truth"] = provider_truth(args.model, has_cuda)
    result["agreement_fp32"] = agreement(args.model, frames, has_cuda)
    result["model_latency"] = model_latency(args.model, has_cuda, args.runs)
    result["pipeline_640x480"] = pipeline_stages(args.model, frames, has_cuda, max(args.runs // 5, 50))
    result["tensorrt"] = {"tested": False, "available_in_this_build": "TensorrtExecutionProvider" in
                          ort.get_available_providers(),
                          "why": "TensorRT's libraries (> 1 GB) cannot be carried to the lent GPU machine; "
                                 "the TensorRT options path is tested on CPU only"}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
