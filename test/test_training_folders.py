"""RGB-D folders (the documented format for users' recordings): loading, splits, the canonical
camera, and ``fastdepth-ros eval`` on a folder beside a second model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from deps import need

torch = need("torch")

from fastdepth_ros.training import canonical, folders  # noqa: E402
from fastdepth_ros.training.data import Augment  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_folder(root: Path, n: int = 3, w: int = 320, h: int = 240, fx: float = 265.0) -> Path:
    """A tiny folder: a colour gradient, depth rising 1 m -> 3 m left to right (mm), holes."""
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    xs = np.linspace(0, 1, w)[None, :].repeat(h, 0)
    for i in range(n):
        rgb = np.stack([xs * 255, np.full_like(xs, 40 * i), 255 - xs * 255], -1).astype(np.uint8)
        cv2.imwrite(str(root / "rgb" / f"{i:05d}.png"), rgb[:, :, ::-1])
        depth_mm = np.round(1000 + 2000 * xs).astype(np.uint16)
        depth_mm[100:110, :] = 0  # a band without depth
        cv2.imwrite(str(root / "depth" / f"{i:05d}.png"), depth_mm)
    meta = {"intrinsics": {"fx": fx, "fy": fx, "cx": (w - 1) / 2, "cy": (h - 1) / 2, "width": w, "height": h}}
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def test_loader_reads_millimetres_as_metres_with_holes(tmp_path) -> None:
    f = folders.RGBDFolder(write_folder(tmp_path / "rec"))
    assert len(f) == 3 and (f.fx, f.width, f.height) == (265.0, 320, 240)
    rgb, depth = f.load(1)
    assert rgb.dtype == np.uint8 and rgb.shape == (240, 320, 3)
    assert rgb[5, 0, 0] < 5 and rgb[5, -1, 0] > 250  # RGB order (files are BGR on disk)
    assert depth.dtype == np.float32 and depth[100:110].max() == 0.0
    assert depth[20, 0] == pytest.approx(1.0) and depth[20, -1] == pytest.approx(3.0)


def test_frame_range_and_missing_files(tmp_path) -> None:
    root = write_folder(tmp_path / "rec", n=4)
    assert [s for s, _, _ in folders.RGBDFolder(f"{root}:1-2").frames] == ["00001", "00002"]
    (root / "depth" / "00003.png").unlink()
    assert len(folders.RGBDFolder(root)) == 3  # pairs by stem when meta lists no frames
    (root / "meta.json").write_text(json.dumps({"intrinsics": {"fx": 1.0}}))
    with pytest.raises(ValueError, match="intrinsics"):
        folders.RGBDFolder(root)


def test_val_sample_is_the_node_crop_and_train_targets_are_canonical(tmp_path) -> None:
    f = folders.RGBDFolder(write_folder(tmp_path / "rec", fx=265.0))
    x, d = f.val_sample(0)
    assert x.shape == (224, 224, 3) and d.shape == (224, 224)
    assert d.max() <= 3.0 and (d == 0).any()  # holes stay invalid
    rgb, depth = f.load(0)
    focal = f.focal_model_px()
    xt, dt = folders.train_sample(rgb, depth, focal, Augment())
    valid = (dt[0] > 0) & torch.from_numpy(d > 0)
    ratio = (dt[0][valid] / torch.from_numpy(d)[valid]).median().item()
    # a 265 px camera at 320x240 is 2x NYU's resolution-relative focal: depth halves... times f ratio
    assert ratio == pytest.approx(canonical.CANONICAL_FOCAL_PX / focal, rel=0.02)
    # zoom s about the crop centre: the centre pixel sees the same point, 1/s as deep
    _, dz = folders.train_sample(rgb, depth, focal, Augment(scale=1.25))
    centre = (slice(150, 160), slice(111, 113))
    assert dz[0][centre].mean().item() == pytest.approx(dt[0][centre].mean().item() / 1.25, rel=0.02)


def test_canonical_focal_is_nyu_through_the_official_crop() -> None:
    # NYU Kinect fx 518.86, fy 519.47 at 640x480 -> x(250/480)x(224/304), x(250/480)x(224/228)
    fx = 518.8579 * 333 / 640 * 224 / 304  # the official resize truncates 333.3 to 333 columns
    fy = 519.4696 * 250 / 480 * 224 / 228
    assert canonical.CANONICAL_FOCAL_PX == pytest.approx(np.sqrt(fx * fy), abs=2e-3)
    # same camera at half resolution: the same focal length in model pixels
    assert canonical.frame_focal_px(259.43, 259.73, (240, 320)) == pytest.approx(
        canonical.CANONICAL_FOCAL_PX, rel=2e-3)


def test_eval_command_on_a_folder_beside_a_second_model(tmp_path) -> None:
    """`fastdepth-ros eval MODEL --folder DIR --compare OTHER`: both models on the same frames,
    metric and median-scaled, a montage with both predictions."""
    from fastdepth_ros.training import cli
    from fastdepth_ros.training.export import export_onnx
    from fastdepth_ros.training.model import build

    root = write_folder(tmp_path / "rec", n=2)
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    torch.manual_seed(0)
    export_onnx(build("pruned").eval(), a)
    export_onnx(build("pruned").eval(), b, canonical_focal_px=None)
    out = tmp_path / "eval.json"
    montage = tmp_path / "m.png"
    assert cli.main(["eval", str(a), "--compare", str(b), "--folder", str(root), "--no-nyu",
                     "--heldout", "0", "--montage", str(montage), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    mine, other = result["rec"], result["compare"]["rec"]
    assert mine["frames"] == other["frames"] == 2
    assert {"delta1", "rmse_m", "absrel", "median_scaled"} <= set(mine)
    # focal scaling follows each model's metadata: the 265 px camera vs canonical ~230 px
    f = folders.RGBDFolder(root).focal_model_px()
    assert mine["focal_scale"] == pytest.approx(f / canonical.CANONICAL_FOCAL_PX)
    assert other["focal_scale"] == 1.0
    img = cv2.imread(str(montage))
    assert img.shape == (2 * 224, 5 * 224, 3)  # rgb | model | compared | gt | error
