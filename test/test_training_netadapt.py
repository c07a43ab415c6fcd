"""NetAdapt (``fastdepth-ros prune``): channel surgery, proposals from the latency table, the
whole loop on a tiny model with the MAC table (interrupted and resumed), the Pareto output,
and the measured ORT table against a whole-network measurement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from deps import need

torch = need("torch")

from test_training_folders import write_folder  # noqa: E402

from fastdepth_ros.training import latency, netadapt, pareto  # noqa: E402
from fastdepth_ros.training.checkpoint import save_checkpoint  # noqa: E402
from fastdepth_ros.training.cli import main as train_cli  # noqa: E402
from fastdepth_ros.training.model import FULL, PRUNED, FastDepth, Widths  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: A parent small enough to fine-tune in milliseconds (skip pairs: conv1=dec4, conv3=dec3, conv5=dec2).
TINY = Widths((16, 16, 16, 24, 24, 32, 32, 32, 32, 32, 32, 32, 40, 40), (32, 32, 24, 16, 16))


def _randomise_bn(model: FastDepth, seed: int = 0) -> FastDepth:
    """Non-trivial BN statistics, so channel norms differ and eval outputs are not degenerate."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model


def test_groups_cover_every_slot_once_and_tie_the_skip_pairs() -> None:
    slots = [s for g in netadapt.GROUPS for s in g.slots]
    assert len(slots) == 19 and len(set(slots)) == 19 and len(netadapt.GROUPS) == 16
    pairs = {g.name: g.slots for g in netadapt.GROUPS if len(g.slots) == 2}
    assert pairs == {
        "conv1+decode_conv4": (("enc", 1), ("dec", 4)),
        "conv3+decode_conv3": (("enc", 3), ("dec", 3)),
        "conv5+decode_conv2": (("enc", 5), ("dec", 2)),
    }
    group = next(g for g in netadapt.GROUPS if g.name == "conv5+decode_conv2")
    w = netadapt.with_width(PRUNED, group, 200)
    assert w.encoder[5] == 200 and w.decoder[1] == 200
    FastDepth(w.encoder, w.decoder)  # the skip-add constraint holds


def test_pruning_equals_silencing_the_dropped_channels() -> None:
    """The pruned network computes exactly what the parent computes when the dropped channels
    are forced to zero (BN scale and shift 0 in every layer that writes them)."""
    torch.manual_seed(0)
    parent = _randomise_bn(FastDepth(TINY.encoder, TINY.decoder)).eval()
    narrow = Widths((8,) + TINY.encoder[1:5] + (16,) + TINY.encoder[6:], (16, 16) + TINY.decoder[2:4] + (8,))
    pruned = netadapt.prune_to(parent, narrow).eval()
    assert pruned.widths == narrow
    keep = netadapt.kept_channels(parent, narrow)
    silenced = FastDepth(TINY.encoder, TINY.decoder)
    silenced.load_state_dict(parent.state_dict())
    silenced.eval()
    with torch.no_grad():
        for layer in netadapt.layers():
            if layer.out_slot is None:
                continue
            drop = np.setdiff1d(np.arange(netadapt.width_of(TINY, layer.out_slot)), keep[layer.out_slot])
            bn = silenced.get_submodule(layer.bn)
            bn.weight[drop] = 0.0
            bn.bias[drop] = 0.0
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b, full = pruned(x), silenced(x), parent(x)
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, full, atol=1e-3)  # it did drop something
    same = netadapt.prune_to(parent, TINY).eval()
    with torch.no_grad():
        assert torch.equal(same(x), full)


def test_kept_channels_are_the_largest_norms_and_shared_by_a_skip_pair() -> None:
    torch.manual_seed(0)
    parent = _randomise_bn(FastDepth(TINY.encoder, TINY.decoder))
    with torch.no_grad():  # make channels 3 and 7 of conv5 and decode_conv2 the two weakest
        for name in ("conv5.3", "decode_conv2.1.0"):
            parent.get_submodule(name).weight[[3, 7]] *= 1e-3
    group = next(g for g in netadapt.GROUPS if g.name == "conv5+decode_conv2")
    keep = netadapt.kept_channels(parent, netadapt.with_width(TINY, group, 30))
    assert set(range(32)) - set(keep[("enc", 5)].tolist()) == {3, 7}
    assert np.array_equal(keep[("enc", 5)], keep[("dec", 2)])


def test_blocks_sum_to_the_network_macs() -> None:
    from fastdepth_ros.training.macs import count_macs

    for widths in (FULL, PRUNED, TINY):
        bs = latency.blocks(widths)
        assert len(bs) == 20 and [b.kind for b in bs[:2]] == ["stem", "mobilenet"]
        assert sum(b.skip for b in bs) == 3
        assert sum(b.macs for b in bs) == count_macs(FastDepth(widths.encoder, widths.decoder))
    assert sum(b.macs for b in latency.blocks(PRUNED)) == 366_393_384  # the reference layer table


def test_proposal_is_the_widest_that_meets_the_budget() -> None:
    table = latency.LatencyTable(latency.MacsMeasure())
    cfg = netadapt.NetAdaptConfig(step=8, min_width=8)
    group = next(g for g in netadapt.GROUPS if g.name == "conv12")
    now = table.predict(PRUNED)
    w = netadapt.propose(table, PRUNED, group, now - 5.0, cfg)
    assert w is not None and w % 8 == 0 and w < PRUNED.encoder[12]
    assert table.predict(netadapt.with_width(PRUNED, group, w)) <= now - 5.0
    assert table.predict(netadapt.with_width(PRUNED, group, w + 8)) > now - 5.0
    assert netadapt.propose(table, PRUNED, group, 1.0, cfg) is None  # unreachable by one layer


class _BusyOnce(latency.MacsMeasure):
    """MACs as milliseconds, except that the first timing of each ``busy`` block comes out
    ``factor`` times too slow (the machine was busy just then)."""

    def __init__(self, busy: set, factor: float = 4.0) -> None:
        self.busy, self.factor, self.calls = set(busy), factor, []

    def __call__(self, block) -> float:
        self.calls.append(block.key)
        ms = super().__call__(block)
        if block.key in self.busy:
            self.busy.discard(block.key)
            return ms * self.factor
        return ms


def test_a_block_timed_in_a_busy_moment_does_not_steer_the_proposal() -> None:
    """The binary search meets a narrower network predicted slower than the current one (its
    new block was timed while the machine was busy): that block is timed again and the
    proposal is the one an undisturbed table gives."""
    cfg = netadapt.NetAdaptConfig(step=8, min_width=8)
    group = next(g for g in netadapt.GROUPS if g.name == "conv12")
    clean = latency.LatencyTable(latency.MacsMeasure())
    budget = clean.predict(PRUNED) - 5.0
    want = netadapt.propose(clean, PRUNED, group, budget, cfg)
    # the first width the binary search tries, and its block that only it has
    candidates = list(range(8, PRUNED.encoder[12], 8))
    first = netadapt.with_width(PRUNED, group, candidates[len(candidates) // 2])
    known = {b.key for b in latency.blocks(PRUNED)}
    busy = {b.key for b in latency.blocks(first) if b.key not in known}
    measure = _BusyOnce(busy, factor=40.0)
    noisy = latency.LatencyTable(measure)
    assert netadapt.propose(noisy, PRUNED, group, budget, cfg) == want
    assert not measure.busy and any(measure.calls.count(k) >= 2 for k in busy)  # timed again
    # without the guard the inflated block would have sent the search to a narrower width
    unguarded = latency.LatencyTable(_BusyOnce(busy, factor=40.0))
    assert unguarded.predict(first) > unguarded.predict(PRUNED)


def test_validation_must_not_overlap_the_fine_tune_frames(tmp_path) -> None:
    netadapt.check_disjoint([f"{tmp_path}/a:0-798"], [f"{tmp_path}/a:800-998", f"{tmp_path}/b", "nyu_sample"])
    with pytest.raises(ValueError, match="overlaps"):
        netadapt.check_disjoint([f"{tmp_path}/a:0-800"], [f"{tmp_path}/a:800-998"])
    with pytest.raises(ValueError, match="overlaps"):
        netadapt.check_disjoint([f"{tmp_path}/a"], [f"{tmp_path}/a:5-6"])


def _tiny_parent(tmp_path: Path) -> Path:
    from fastdepth_ros.training.train import TrainConfig

    torch.manual_seed(0)
    model = _randomise_bn(FastDepth(TINY.encoder, TINY.decoder))
    path = tmp_path / "parent.pth"
    save_checkpoint(path, model, torch.optim.SGD(model.parameters(), lr=0.1), 0, TrainConfig())
    return path


def _prune_args(tmp_path: Path, parent: Path, *extra: str) -> list[str]:
    train, val = tmp_path / "train_rec", tmp_path / "val_rec"
    if not train.exists():
        write_folder(train, n=3)
        write_folder(val, n=2, fx=300.0)
    flags = (
        "--latency macs --render-share 0 --val-stride 1 --target-ratio 0.7 --reduction 0.03 --decay 1.0 "
        "--budget 2 --batch-size 2 --long-steps 2 --rounds 1 --select delta1_scaled --workers 0"
    ).split()
    paths = ["--parent", str(parent), "--run-dir", str(tmp_path / "run"), "--real", str(train)]
    return ["prune", *paths, "--val", str(val), *flags, *extra]


def test_smoke_whole_loop_with_the_mac_table_interrupted_and_resumed(tmp_path, monkeypatch) -> None:
    """The whole command on a tiny parent with the MAC table: killed after a few proposals of
    the first iteration, the same command finishes the search without redoing them, and then
    long-term fine-tunes the final point and writes the Pareto table and plot."""
    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path / "cache"))
    parent = _tiny_parent(tmp_path)
    calls = []
    real_finetune = netadapt.Search.finetune

    def flaky(self, model, iteration, on_step=None):
        calls.append((iteration, model.widths))
        if len(calls) == 4:
            raise KeyboardInterrupt  # the machine went away mid-iteration
        return real_finetune(self, model, iteration, on_step)

    monkeypatch.setattr(netadapt.Search, "finetune", flaky)
    with pytest.raises(KeyboardInterrupt):
        train_cli(_prune_args(tmp_path, parent, "--stage", "search"))
    first_dir = tmp_path / "run" / "iter_001"
    assert (
        len(list((first_dir / "proposals").glob("*.json"))) == 3 and not (first_dir / "state.json").exists()
    )

    seen = []

    def counted(self, model, iteration, on_step=None):
        seen.append((iteration, model.widths))
        return real_finetune(self, model, iteration, on_step)

    monkeypatch.setattr(netadapt.Search, "finetune", counted)
    assert train_cli(_prune_args(tmp_path, parent, "--also-iterations", "1", "--measure-every", "2")) == 0
    run = tmp_path / "run"
    log = json.loads((run / "log.json").read_text())
    its = log["iterations"]
    assert len(its) >= 3 and its[0]["chosen"] == "parent", its
    # iteration 1 resumed: only the 13 proposals not finished before the interruption ran again
    first = its[1]
    assert sum(1 for it, _ in seen if it == 1) == len(first["proposals"]) - 3
    # every iteration met its budget, chose its best proposal, and latency fell monotonically
    preds = [s["predicted_ms"] for s in its]
    assert all(b < a for a, b in zip(preds, preds[1:]))
    assert preds[-1] <= log["target_ms"] < preds[-2]
    for s in its[1:]:
        assert s["predicted_ms"] <= s["budget_ms"] + 1e-9
        assert s["score"] == max(p["score"] for p in s["proposals"])
        if s["iteration"] % 2 == 0:
            assert s["measured_ms"] == pytest.approx(s["predicted_ms"])  # the MAC table is exact
        else:
            assert s["measured_ms"] is None  # --measure-every 2
        assert {"widths", "predicted_ms", "measured_ms", "val"} <= set(s)
        assert not list((run / f"iter_{s['iteration']:03d}" / "proposals").glob("*.pth"))
    final = FastDepth(
        **torch.load(run / "long" / f"netadapt_iter{len(its) - 1:03d}" / "last.pth", weights_only=True)[
            "model_config"
        ]
    )
    assert final.widths == netadapt._widths(its[-1])
    result = json.loads((run / "pareto.json").read_text())
    kinds = [r["kind"] for r in result["rows"]]
    assert (
        kinds.count("parent") == 1
        and kinds.count("netadapt") == 2  # the last iteration and --also-iterations 1
        and kinds.count("short-term") == len(its) - 1
    )
    # the report measures every point in one rotation, the search's too
    assert all(r["measured_ms"] == pytest.approx(r["predicted_ms"], abs=1e-3) for r in result["rows"]), [
        (r["label"], r["measured_ms"], r["predicted_ms"]) for r in result["rows"]
    ]
    assert (run / "long" / "netadapt_iter001" / "result.json").exists()
    assert "official" not in kinds  # the tiny parent is narrower than model.PRUNED
    assert any(r.get("pareto") for r in result["rows"])
    png = (run / "pareto.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "| parent |" in (run / "pareto.md").read_text()
    # a rerun has nothing left to do
    seen.clear()
    assert train_cli(_prune_args(tmp_path, parent, "--stage", "search")) == 0 and not seen


def test_pareto_front() -> None:
    pts = [(10.0, 0.7), (5.0, 0.7), (5.0, 0.6), (3.0, 0.5), (12.0, 0.8)]
    assert pareto.pareto_front(pts) == [False, True, False, True, True]


def test_ort_table_measures_blocks_and_predicts_their_sum(tmp_path) -> None:
    """Blocks measured one by one on ORT CPU: each measured once, saved, and the prediction
    is their sum with the dispatch overhead counted once; the whole networks are measured
    too.  How close prediction and measurement come depends on the machine and its load:
    that figure is the table check's output (``lut_check.json``, docs/netadapt.md), not asserted here."""
    table = latency.LatencyTable(
        latency.OrtMeasure("cpu", threads=1, runs=15), tmp_path / "lut.json", input_hw=(128, 128)
    )
    small = Widths((8,) * 14, (8,) * 5)
    wide = Widths((32,) * 14, (32,) * 5)
    check = latency.check(table, [("small", small), ("wide", wide)])
    rows = {r["name"]: r for r in check["rows"]}
    assert check["overhead_ms"] > 0
    for name, widths in (("small", small), ("wide", wide)):
        bs = latency.blocks(widths, (128, 128))
        entries = [table.block_ms(b) for b in bs]
        assert all(np.isfinite(e) and e > 0 for e in entries)
        expected = sum(entries) - (len(bs) - 1) * check["overhead_ms"]
        assert rows[name]["predicted_ms"] == pytest.approx(expected, abs=1e-3)
        assert np.isfinite(rows[name]["measured_ms"]) and rows[name]["measured_ms"] > 0
    saved = json.loads((tmp_path / "lut.json").read_text())
    assert len(saved["entries"]) == len({b.key for w in (small, wide) for b in latency.blocks(w, (128, 128))})
    again = latency.LatencyTable(latency.MacsMeasure(), tmp_path / "lut.json", input_hw=(128, 128))
    assert again.predict(small) == pytest.approx(
        rows["small"]["predicted_ms"], abs=1e-3
    )  # served from the file


def test_a_resumed_search_keeps_what_defines_it(tmp_path, capsys) -> None:
    table = latency.LatencyTable(latency.MacsMeasure())
    first = netadapt.NetAdaptConfig(parent="p.pth", latency="macs", budget=50, long_steps=2000)
    netadapt.Search(tmp_path, first, table=table)
    again = netadapt.NetAdaptConfig(parent="p.pth", latency="macs",
                                    budget=7, long_steps=300, max_iterations=3)
    cfg = netadapt.Search(tmp_path, again, table=table).cfg
    assert (cfg.budget, cfg.long_steps, cfg.max_iterations) == (50, 300, 3)
    assert "keeping its stored ['budget']" in capsys.readouterr().out
    assert netadapt.Search(tmp_path, table=table).cfg.long_steps == 300  # written back
    # from the command line only the settings given again change: not a default's value
    defaults = netadapt.NetAdaptConfig(parent="p.pth", latency="macs", points=3)
    cfg = netadapt.Search(tmp_path, defaults, table=table, given={"points"}).cfg
    assert (cfg.long_steps, cfg.points, cfg.max_iterations) == (300, 3, 3)


def test_the_command_line_says_which_resume_settings_were_given() -> None:
    import argparse

    from fastdepth_ros.training import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["prune", "--long-steps", "600", "--also-iterations", "6", "7", "--budget", "9"])
    assert args.given == {"long_steps", "also_iterations"} and args.also_iterations == [6, 7]
    assert not hasattr(parser.parse_args(["prune"]), "given") and args.points == 1


def test_the_official_widths_prune_from_the_full_parent() -> None:
    """The Pareto table's 'official' row: the full parent pruned to model.PRUNED in one go."""
    torch.manual_seed(0)
    parent = _randomise_bn(FastDepth(FULL.encoder, FULL.decoder, encoder_bn_eps=1e-3))
    pruned = netadapt.prune_to(parent, PRUNED)
    assert pruned.widths == PRUNED and pruned.encoder_bn_eps == 1e-3
    assert pruned.conv13[3].weight.shape == (512, 480, 1, 1)
    assert pruned.decode_conv2[1][0].weight.shape == (256, 200, 1, 1)


def test_an_exported_parent_prunes_with_frozen_bn_and_itself_as_teacher(tmp_path, monkeypatch) -> None:
    """``--parent X.onnx`` (the shipped model's case): the folded weights load, one iteration
    fine-tunes its proposals from frames held in memory with the parent as teacher, and the
    folded BatchNorm stays as loaded (training-mode BatchNorm would replace it by batch
    statistics)."""
    from fastdepth_ros.training.export import export_onnx
    from fastdepth_ros.training.onnx_weights import load_onnx

    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    onnx_path = export_onnx(_randomise_bn(FastDepth(TINY.encoder, TINY.decoder)).eval(), tmp_path / "p.onnx")
    losses = []
    real_finetune = netadapt.Search.finetune

    def recorded(self, model, iteration, on_step=None):
        loss = real_finetune(self, model, iteration, on_step)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert model.training and bns and not any(m.training for m in bns)
        assert self._teacher is not None and self._device_batches is not None
        losses.append(loss)
        return loss

    monkeypatch.setattr(netadapt.Search, "finetune", recorded)
    args = _prune_args(
        tmp_path, onnx_path, "--stage", "search", "--max-iterations", "1", "--frozen-bn", "--data-on-device",
        "--teacher", str(onnx_path), "--distill-weight", "0.3", "--lr", "0.0001",
    )
    assert train_cli(args) == 0
    state = json.loads((tmp_path / "run" / "iter_001" / "state.json").read_text())
    assert losses and all(np.isfinite(losses)) and len(losses) == len(state["proposals"])
    chosen = netadapt._load_model(Path(state["model"]))
    parent = load_onnx(onnx_path)
    keep = netadapt.kept_channels(parent, chosen.widths)
    # the folded statistics (mean 0, var 1 - eps) survived the fine-tune, on the kept channels
    assert torch.equal(chosen.conv0[1].running_mean, parent.conv0[1].running_mean[keep[("enc", 0)]])
    assert torch.equal(chosen.conv0[1].running_var, parent.conv0[1].running_var[keep[("enc", 0)]])
    assert chosen.widths != parent.widths


def test_agreement_scores_proposals_against_the_parents_depth(tmp_path, monkeypatch) -> None:
    """``--select agreement``: the parent agrees with itself on every pixel, a pruned proposal
    less; proposals are ranked by that, and their δ1 against the labels is still logged."""
    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path / "cache"))
    parent = _tiny_parent(tmp_path)
    args = _prune_args(tmp_path, parent, "--stage", "search", "--max-iterations", "1")
    args[args.index("delta1_scaled")] = "agreement"
    assert train_cli(args) == 0
    search = netadapt.Search(tmp_path / "run", table=latency.LatencyTable(latency.MacsMeasure()))
    itself = search.agreement(search.parent(), 1)
    assert itself and all(m["delta1"] == 1.0 and m["absrel"] < 1e-6 for m in itself.values())
    state = json.loads((tmp_path / "run" / "iter_001" / "state.json").read_text())
    for p in state["proposals"]:
        agree = [m["delta1"] for m in p["agreement"].values()]
        assert p["score"] == pytest.approx(np.mean(agree)) and p["val"].keys() == p["agreement"].keys()
    assert state["score"] == max(p["score"] for p in state["proposals"])
    assert state["score"] < 1.0  # pruning a random network changes its depth


def test_the_search_can_stop_on_the_measured_latency(tmp_path, monkeypatch) -> None:
    """``--stop-on measured``: when whole networks measure faster than the table predicts (as
    narrow ones do on a CPU), the search stops at the first iteration whose measurement meets
    the goal measured the same way, instead of pruning on to the table's target."""
    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path / "cache"))
    parent = _tiny_parent(tmp_path)
    parent_w = netadapt._load_model(parent).widths
    exact = latency.measure_widths

    def faster_when_pruned(table, widths, model_path=None):
        ms = exact(table, widths, model_path)
        return ms if widths == parent_w else 0.8 * ms

    monkeypatch.setattr(latency, "measure_widths", faster_when_pruned)
    for stop in ("table", "measured"):
        run = tmp_path / stop
        args = _prune_args(tmp_path, parent, "--stage", "search", "--stop-on", stop, "--run-dir", str(run))
        assert train_cli(args) == 0
    by_table = json.loads((tmp_path / "table" / "log.json").read_text())
    by_measure = json.loads((tmp_path / "measured" / "log.json").read_text())
    goal = json.loads((tmp_path / "measured" / "measured_goal.json").read_text())["goal_ms"]
    parent_ms = by_measure["iterations"][0]["predicted_ms"]
    assert goal == pytest.approx(0.7 * parent_ms)  # --target-ratio 0.7 of the parent, measured
    its = by_measure["iterations"][1:]
    assert its[-1]["measured_ms"] <= goal < min(s["measured_ms"] for s in its[:-1] or [{"measured_ms": 1e9}])
    assert its[-1]["predicted_ms"] > by_measure["target_ms"]  # the table alone would go on
    assert len(its) < len(by_table["iterations"]) - 1
