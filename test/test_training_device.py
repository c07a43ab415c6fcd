"""The GPU training path, exercised on the CPU: ONNX weights back into the torch model (the
teacher on the device), batches made on the device, the time budget, and scaled folder copies."""

from __future__ import annotations

import json

import numpy as np
import pytest
from deps import need

torch = need("torch")

from test_training_folders import write_folder  # noqa: E402

from fastdepth_ros.training import data, folders, train  # noqa: E402
from fastdepth_ros.training.canonical import CANONICAL_FOCAL_PX  # noqa: E402
from fastdepth_ros.training.device_batches import DeviceBatches  # noqa: E402
from fastdepth_ros.training.export import max_abs_diff  # noqa: E402
from fastdepth_ros.training.onnx_weights import load_onnx  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_shipped_onnx_loads_back_into_the_torch_model(shipped_model) -> None:
    assert max_abs_diff(load_onnx(shipped_model), shipped_model) < 1e-4  # metres


def test_reference_onnx_loads_back_into_the_torch_model(reference_model) -> None:
    """The official graph (ReLU6 encoder, folded BN) is the GPU run's teacher."""
    for seed in (0, 1):
        assert max_abs_diff(load_onnx(reference_model), reference_model, seed=seed) < 1e-4


def test_a_graph_that_is_not_fastdepth_is_refused(tmp_path) -> None:
    onnx = need("onnx")
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "w")
    node = helper.make_node("Conv", ["rgb", "w"], ["depth"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("rgb", 1, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("depth", 1, [1, 1, 8, 8])], [w])
    path = tmp_path / "one_conv.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match="38 convolutions"):
        load_onnx(path)


def test_batched_crop_grids_equal_the_per_sample_grid() -> None:
    rng = np.random.default_rng(3)
    draws = data.Augment.draws(rng, 4)
    grids = data.crop_grids((240, 320), *(torch.from_numpy(draws[k]) for k in ("angle_deg", "scale", "flip")))
    for i in range(4):
        aug = data.Augment(angle_deg=float(draws["angle_deg"][i]), scale=float(draws["scale"][i]),
                           flip=bool(draws["flip"][i]))
        assert torch.allclose(grids[i : i + 1], data.crop_grid((240, 320), aug), atol=1e-6)


def _cfg(tmp_path, **kw) -> train.TrainConfig:
    real = [str(write_folder(tmp_path / "rec", n=3))]
    base = dict(seed=0, render_share=0.0, real=real, distill_rendered=False)
    base.update(kw)
    return train.TrainConfig(**base)


def test_device_batches_follow_the_official_augmentation_and_canonical_camera(tmp_path) -> None:
    cfg = _cfg(tmp_path)
    batches = DeviceBatches(cfg, n_rendered=0, device="cpu")
    x, d, use = batches.batch(7, 16)
    assert x.shape == (16, 3, 224, 224) and d.shape == (16, 1, 224, 224) and bool(use.all())
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    x2, d2, _ = batches.batch(7, 16)  # batch i is a function of (seed, i): resumable
    assert torch.equal(x, x2) and torch.equal(d, d2)
    assert not torch.equal(d, batches.batch(8, 16)[1])
    # Depth 1..3 m in the frame; zoom s in [1, 1.5] divides it, the canonical factor scales it.
    factor = CANONICAL_FOCAL_PX / folders.RGBDFolder(cfg.real[0]).focal_model_px()
    valid = d[d > 0]
    assert float(valid.min()) >= 1.0 * factor / 1.5 - 1e-3 and float(valid.max()) <= 3.0 * factor + 1e-3
    assert float((d == 0).float().mean()) > 0.01  # the folder's band without depth stays invalid


def test_device_batches_draw_rendered_scenes_by_share(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path / "cache"))
    cfg = _cfg(tmp_path, render_share=0.5, distill_rendered=False)
    batches = DeviceBatches(cfg, n_rendered=2, device="cpu")
    flags = torch.cat([batches.batch(i, 16)[2] for i in range(8)])
    assert batches.n_rendered == 2
    assert 0.3 < float(flags.float().mean()) < 0.7  # real frames flagged for the teacher, rendered not


def test_time_budget_lowers_steps_and_batches_on_device(tmp_path, reference_model, monkeypatch) -> None:
    cfg = _cfg(tmp_path, steps=10_000, batch_size=2, time_budget_min=0.05, calibration_steps=2,
               warmup_steps=1,
               checkpoint_dir=str(tmp_path / "run"), checkpoint_every=1000, eval_every=0, data_on_device=True,
               teacher=str(reference_model), distill_weight=1.0)
    # the run's clock advances 0.05 s per reading, whatever this machine's speed: the budget
    # (3 s) then holds at most 60 readings, so the steps must be cut to that order
    clock = _SteppedClock(0.05)
    monkeypatch.setattr(train, "time", clock)
    last = train.train(cfg)
    ckpt = torch.load(last, weights_only=True)
    assert 2 < ckpt["step"] <= 60 and ckpt["train_config"]["steps"] == ckpt["step"], ckpt["step"]


class _SteppedClock:
    """A stand-in for the ``time`` module in train: ``monotonic`` advances ``step_s`` per call."""

    def __init__(self, step_s: float) -> None:
        import time

        self._time = time
        self._now = 0.0
        self._step_s = step_s

    def monotonic(self) -> float:
        self._now += self._step_s
        return self._now

    def __getattr__(self, name: str):
        return getattr(self._time, name)


def test_scale_folder_keeps_the_camera_and_the_holes(tmp_path) -> None:
    src = folders.RGBDFolder(write_folder(tmp_path / "rec", n=2, w=320, h=240, fx=265.0))
    n = folders.write_scaled(src, tmp_path / "half", 0.5)
    half = folders.RGBDFolder(tmp_path / "half")
    assert n == 2 and (half.width, half.height) == (160, 120) and half.fx == pytest.approx(132.5)
    assert half.focal_model_px() == pytest.approx(src.focal_model_px(), rel=1e-6)
    rgb, depth = half.load(0)
    assert rgb.shape == (120, 160, 3) and depth[50:55].max() == 0.0  # the band at rows 100-109
    assert depth[10, 0] == pytest.approx(1.0, abs=0.01) and depth[10, -1] == pytest.approx(3.0, abs=0.02)
    assert json.loads((tmp_path / "half" / "meta.json").read_text())["scaled_from"]["scale"] == 0.5


def test_interpolate_mixes_a_fine_tune_with_its_start(tmp_path, shipped_model) -> None:
    """WiSE-FT: alpha 0 is the start, 1 the fine-tune, 0.5 the tensor-wise mean; the CLI writes
    a checkpoint that export and eval read, naming what it mixed."""
    from fastdepth_ros.training import checkpoint, cli

    start = checkpoint.load_weights(shipped_model)
    tuned = checkpoint.load_weights(shipped_model)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(1.0)
    tuned_path = tmp_path / "tuned.pth"
    checkpoint.save_model(tuned_path, tuned, step=5, train_config={"lr": 1e-4})
    sd0, sd1 = start.state_dict(), tuned.state_dict()
    for alpha in (0.0, 0.5, 1.0):
        mixed = checkpoint.interpolate(shipped_model, tuned_path, alpha).state_dict()
        for k in ("conv0.0.weight", "decode_conv6.1.bias"):
            assert torch.allclose(mixed[k], (1 - alpha) * sd0[k] + alpha * sd1[k], atol=1e-6)
    out = tmp_path / "wise.pth"
    argv = ["interpolate", str(shipped_model), str(tuned_path), "--alpha", "0.25", "-o", str(out)]
    assert cli.main(argv) == 0
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["step"] == 5 and ckpt["train_config"]["wise_ft"]["alpha"] == 0.25
    other = train.build("full")
    checkpoint.save_model(tmp_path / "full.pth", other)
    with pytest.raises(ValueError, match="architecture"):
        checkpoint.interpolate(shipped_model, tmp_path / "full.pth", 0.5)


def test_fine_tuning_an_onnx_with_frozen_bn_starts_from_its_function(tmp_path, reference_model) -> None:
    """--init-from X.onnx --frozen-bn: the training-mode model computes what the ONNX does
    (batch statistics would not), so a fine-tune starts where the official model is."""
    cfg = _cfg(tmp_path, init_from=str(reference_model), frozen_bn=True)
    model = train.train_mode(train.initial_model(cfg), cfg)
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        ours = model(x)
        assert model.training
        ref = load_onnx(reference_model)(x)
        assert torch.allclose(ours, ref, atol=1e-4)
        unfrozen = train.train_mode(train.initial_model(cfg), _cfg(tmp_path / "b"))
        assert not torch.allclose(unfrozen(x), ref, atol=1e-2)
