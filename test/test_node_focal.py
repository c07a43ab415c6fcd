"""Camera-aware metric scale, end to end: the node converts the model's canonical-camera depth
to the camera's focal length from camera_info (process-level: depth_node subprocess, DDS).

The scene: four real 7-Scenes validation frames (not trained on) seen through a narrower field
of view (a centred 1.5x zoom, inside the training zoom range), with the matching camera_info.
Without scaling the model reads the zoomed room as closer; with it, the depth is closer to the
ground truth, on average over the frames (one frame alone mixes in the model's own per-frame
scale error, which can point either way).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from deps import need
from ros_harness import (
    REPO,
    camera_info,
    node_and_client,
    served,
    status_values,
    wait_for,
)

from fastdepth_ros.geometry import plan_sampling
from fastdepth_ros.imaging import image_to_numpy
from fastdepth_ros.metrics import compute_metrics

pytestmark = [pytest.mark.ros, pytest.mark.slow]
need("rclpy", reason="rclpy not installed (scripts/venv.sh runtime,ros,test)")

NS = "/fdfocal_%d" % os.getpid()
NODE = NS + "/fastdepth"
MODEL = REPO / "models" / "fastdepth.onnx"
ZOOM = 1.5
FRAMES = ("00800", "00860", "00920", "00980")


def zoomed_frame(realdata: Path, stem: str) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(rgb 640x480, depth m 640x480, (f, cx, cy)) of kitchen frame ``stem`` (fx = fy = 530,
    cx = 320, cy = 240) zoomed ZOOM x about its centre."""
    root = realdata / "7scenes_redkitchen"
    rgb = cv2.imread(str(root / "rgb" / f"{stem}.jpg"))[:, :, ::-1]
    depth = cv2.imread(str(root / "depth" / f"{stem}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
    h, w = depth.shape
    ch, cw = round(h / ZOOM), round(w / ZOOM)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = np.ascontiguousarray(rgb[y0:y0 + ch, x0:x0 + cw])
    rgb_z = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
    depth_z = cv2.resize(depth[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_NEAREST)
    s = w / cw  # pixel centres map to pixel centres
    cx, cy = (320 - x0 + 0.5) * s - 0.5, (240 - y0 + 0.5) * s - 0.5
    return np.ascontiguousarray(rgb_z), depth_z, (530.0 * s, cx, cy)


def test_focal_scaling_brings_a_zoomed_view_closer_to_ground_truth(realdata: Path) -> None:
    frames = [zoomed_frame(realdata, stem) for stem in FRAMES]
    fx, cx, cy = frames[0][2]  # the same zoom, so the same camera, for every frame
    plan = plan_sampling(frames[0][1].shape, (224, 224), "crop")  # the node's output grid
    gts = [gt[plan.row_indices[:, None], plan.col_indices[None, :]] for _, gt, _ in frames]
    with node_and_client(NS, ["-p", "model_path:=%s" % MODEL], reliable=(),
                         image="cam/image") as (proc, client):
        info = camera_info(640, 480, fx=fx, fy=fx, cx=cx, cy=cy, frame_id="cam")

        def depth_now(rgb: np.ndarray) -> np.ndarray:
            out = served(client, rgb, info, tries=30)
            assert out is not None, "no depth; node output:\n" + proc.output()
            return image_to_numpy(out).astype(np.float32)

        scaled = [depth_now(rgb) for rgb, _, _ in frames]
        since = time.perf_counter()
        state = wait_for(lambda: client.find_status("depth output", since), 5.0)
        assert state is not None and status_values(state)["Focal scaling"].startswith("on: x")
        assert client.set_parameters(NODE, focal_scaling=False)[0].successful
        unscaled = [depth_now(rgb) for rgb, _, _ in frames]

    f_canonical = float(status_values(state)["Focal scaling"].split("canonical ")[1].split(" px")[0])
    k = fx * np.sqrt(plan.rows.scale * plan.cols.scale) ** -1  # camera focal in model pixels
    errors, delta1 = [], []
    for gt, s, u in zip(gts, scaled, unscaled):
        valid = (gt > 0) & np.isfinite(s) & np.isfinite(u)
        # the two differ exactly by the focal ratio (camera focal in model pixels / canonical)
        np.testing.assert_allclose(s[valid] / u[valid], k / f_canonical, rtol=1e-4)
        # the global scale (median ratio) and the paper's delta1, each with and without
        errors.append([abs(float(np.log(np.median(p[valid] / gt[valid])))) for p in (s, u)])
        delta1.append([compute_metrics(np.where(valid, p, 0), gt).delta1 for p in (s, u)])
    (err_scaled, err_unscaled), (d1_scaled, d1_unscaled) = np.mean(errors, 0), np.mean(delta1, 0)
    assert err_scaled < err_unscaled, errors
    assert d1_scaled > d1_unscaled, delta1
