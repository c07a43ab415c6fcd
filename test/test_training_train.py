"""Tiny training runs: loss goes down on a fixed batch; checkpoints resume; transforms."""

from __future__ import annotations

import numpy as np
import pytest
from deps import need

torch = need("torch")

from fastdepth_ros.training import data, model, train  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_official_transforms_shapes_and_scale() -> None:
    rgb = np.full((240, 320, 3), 128, np.uint8)
    depth = np.full((240, 320), 2.0, np.float32)
    x, d = data.transform(rgb, depth, None)
    assert x.shape == (3, 224, 224) and d.shape == (1, 224, 224)
    assert torch.allclose(d, torch.tensor(2.0))
    aug = data.Augment(angle_deg=0.0, scale=1.25, flip=True)
    _, d2 = data.transform(rgb, depth, aug)
    assert torch.allclose(d2, torch.tensor(2.0 / 1.25))  # depth / s, as the official code
    assert data.Augment.sample(np.random.default_rng(3)) == data.Augment.sample(np.random.default_rng(3))


def test_batch_loss_ignores_invalid_pixels() -> None:
    """The official loss: mean |pred - target| over pixels with valid (> 0) ground truth."""
    pred = torch.tensor([[1.0, 5.0]])
    gt = torch.tensor([[2.0, 0.0]])
    assert train.batch_loss(pred, gt, None, torch.zeros(1), 0.0).item() == pytest.approx(1.0)


def test_loss_decreases_on_a_fixed_batch(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    ds = [data.transform(*data.load_or_render(i, 0.25), data.Augment.sample(np.random.default_rng([i, 0])))
          for i in range(2)]
    x = torch.stack([s[0] for s in ds])[:, :, 80:144, 80:144]
    d = torch.stack([s[1] for s in ds])[:, :, 80:144, 80:144]
    m = model.build("pruned")
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    losses = []
    for _ in range(6):
        loss = train.batch_loss(m(x), d, None, torch.zeros(2), 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert min(losses[-3:]) < losses[0]


def test_smoke_run_checkpoints_and_resumes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path / "cache"))
    cfg = train.TrainConfig(
        steps=2,
        batch_size=2,
        scenes=2,
        min_scenes=2,
        workers=0,
        warmup_steps=1,
        checkpoint_dir=str(tmp_path / "run"),
        checkpoint_every=1,
        eval_every=2,
        eval_scenes=1,
    )
    evals = []
    last = train.train(cfg, on_eval=lambda m, step, metrics: evals.append((step, metrics)))
    first = torch.load(last, weights_only=True)
    assert first["step"] == 2
    assert evals and evals[0][0] == 2 and np.isfinite(evals[0][1]["rmse_m"])
    cfg.steps = 3
    train.train(cfg)
    resumed = torch.load(last, weights_only=True)
    assert resumed["step"] == 3
    changed = any(not torch.equal(first["model"][k], resumed["model"][k]) for k in first["model"])
    assert changed
    m, _ = train.load_model(last)
    assert m.config()["encoder_widths"] == list(model.PRUNED.encoder)


def test_background_renderers_fill_the_cache_and_stop(tmp_path, monkeypatch) -> None:
    """What `fastdepth-ros train` starts by default: the training set grows on a fresh machine."""
    import time

    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path))
    cfg = train.TrainConfig(scenes=5, min_scenes=2, render_workers=2)
    procs = train.start_renderers(cfg)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(data.is_cached(s) for s in range(2, 5)):
            time.sleep(0.5)
        assert all(data.is_cached(s) for s in range(2, 5))
        # the data loader renders the first min_scenes itself; nothing past the range
        assert not data.is_cached(0) and not data.is_cached(5)
    finally:
        data.stop_renderers(procs)
    assert len(procs) == 2 and not any(p.is_alive() for p in procs)
    rgb, depth = data.load_or_render(4)  # a cached frame loads back
    assert rgb.shape[:2] == depth.shape and (depth > 0).any()
