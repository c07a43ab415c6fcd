"""End-to-end benchmark: 640x480 rgb8 at 30 Hz through the depth node, next to model-only.

Measures, with the reference model and the shipped YAML + SHM profile:
* model-only latency (Engine.run in this process, same thread settings as the node);
* publish -> depth received latency p50/p95 (test process to node and back, two DDS hops);
* the sustained depth rate.
No timing assertions (shared 2-core CI machines): the numbers are printed (``-s``) and
written as JSON to ``$FASTDEPTH_BENCH_OUT`` when set.  Duration: ``$FASTDEPTH_BENCH_S``
(default 10 s).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from ros_harness import Client, NodeProcess, camera_info, image_msg, isolate_dds, scene_rgb8, stamp_key

pytestmark = [pytest.mark.ros, pytest.mark.slow]
pytest.importorskip("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

RATE_HZ = 30.0
W, H = 640, 480


def _model_only_ms(model: Path, runs: int = 200) -> dict:
    from fastdepth_ros.engine import Engine, EngineConfig

    engine = Engine(str(model), EngineConfig(providers=["cpu"], warmup_runs=5))
    x = np.random.default_rng(0).random((1, 3) + tuple(engine.input_hw), dtype=np.float32)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        engine.run(x)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95))}


def test_end_to_end_640x480_rgb8_at_30hz(reference_model: Path, reference: Path) -> None:
    duration_s = float(os.environ.get("FASTDEPTH_BENCH_S", "10"))
    model_ms = _model_only_ms(reference_model)

    env = isolate_dds()
    ns = "/fdbench_%d" % os.getpid()
    proc = NodeProcess(
        ["-p", "model_path:=%s" % reference_model, "-r", "__ns:=%s" % ns,
         "-r", "image:=%s/cam/image_raw" % ns, "-r", "camera_info:=%s/cam/camera_info" % ns],
        env,
    )
    client = None
    try:
        client = Client(ns, ns + "/cam/image_raw", ns + "/cam/camera_info")
        assert client.wait_subscribed(40.0), proc.output()
        rgb = scene_rgb8(reference, W, H)
        info = camera_info(W, H, frame_id="cam_optical")
        clock = client.node.get_clock()

        def run(seconds: float) -> list:
            sent = []
            period = 1.0 / RATE_HZ
            start = time.perf_counter()
            n = 0
            while time.perf_counter() - start < seconds:
                msg = image_msg(rgb, clock.now().nanoseconds, frame_id="cam_optical")
                info.header = msg.header
                client.publish(msg, info)
                sent.append(stamp_key(msg.header.stamp))
                n += 1
                delay = start + n * period - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            time.sleep(0.5)  # let the last frames arrive
            return sent

        run(2.0)  # warm-up: discovery, first allocations
        with client.lock:
            client.depth.clear()
        t0 = time.perf_counter()
        sent = run(duration_s)
        elapsed_s = time.perf_counter() - t0 - 0.5
        sent_set = set(sent)
        with client.lock:
            got = [(t, stamp_key(m.header.stamp)) for t, m in client.depth]
        got = [(t, s) for t, s in got if s in sent_set]
        assert got, "no depth received; node output:\n" + proc.output()
        latency_ms = [(t - client.sent_at[s]) * 1e3 for t, s in got]
        result = {
            "frames_sent": len(sent),
            "input_rate_hz": len(sent) / elapsed_s,
            "depth_received": len(got),
            "depth_rate_hz": len(got) / elapsed_s,
            "end_to_end_ms_p50": float(np.percentile(latency_ms, 50)),
            "end_to_end_ms_p95": float(np.percentile(latency_ms, 95)),
            "end_to_end_ms_max": float(np.max(latency_ms)),
            "model_only_ms_p50": model_ms["p50"],
            "model_only_ms_p95": model_ms["p95"],
            "image": "%dx%d rgb8" % (W, H),
        }
        print("\nfastdepth node benchmark: " + json.dumps(result, indent=1))
        out = os.environ.get("FASTDEPTH_BENCH_OUT")
        if out:
            Path(out).write_text(json.dumps(result, indent=1))
        stamps = [s for _, s in got]
        assert stamps == sorted(stamps)
    finally:
        if client is not None:
            client.close()
        proc.close()
