"""fastdepth-ros adapt: the time split, a short run on a small bag of real frames that writes
every output and agrees with ``eval`` on the same files, resuming, and refused input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deps import need
from test_bag_to_folder import T0, real_frames

from fastdepth_ros.cli import main as cli_main
from fastdepth_ros.replay import bagio
from fastdepth_ros.replay.make_bag import write_rgbd_bag

need("torch")
from fastdepth_ros.training.adapt import (  # noqa: E402  (needs torch)
    ALPHA_KEY,
    SOURCE_BAG_KEY,
    SPLIT_KEY,
    AdaptError,
    time_split,
)

REPO = Path(__file__).resolve().parent.parent
SEC = 1_000_000_000


def test_time_split_holds_out_the_end_after_a_gap():
    stamps = [T0 + i * SEC // 10 for i in range(100)]  # 10 s at 10 Hz
    s = time_split(stamps, 0.2, 1.0)
    assert (s["held_out"]["first"], s["held_out"]["last"], s["held_out"]["frames"]) == ("00080", "00099", 20)
    # frames within 1 s before the first held-out one (t = 8.0 s) are dropped: 7.0 .. 7.9 s
    assert (s["train"]["first"], s["train"]["last"]) == ("00000", "00069")
    assert s["gap_frames"] == 10 and s["train"]["to_s"] == 6.9 and s["held_out"]["from_s"] == 8.0
    with pytest.raises(AdaptError, match="training frames"):
        time_split(stamps[:15], 0.2, 1.0)


@pytest.fixture(scope="module")
def bag60(realdata, tmp_path_factory) -> Path:
    """60 real kitchen frames at 10 Hz (6 s), JPEG colour, mcap."""
    frames, intr = real_frames(realdata, 60, every=6)
    bag = tmp_path_factory.mktemp("adapt") / "bag"
    write_rgbd_bag(bag, frames, intr, storage="mcap", rgb_format="jpeg")
    return bag


def _args(bag: Path, out: Path, init: Path, *extra: str) -> list:
    return [
        "adapt",
        "--bag",
        str(bag),
        "--out",
        str(out),
        "--init-from",
        str(init),
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--rendered-rooms",
        "8",
        "--heldout-rooms",
        "2",
        "--time-budget-min",
        "5",
        "--gap-s",
        "0.5",
        *extra,
    ]


def test_short_adapt_writes_everything_and_agrees_with_eval(
    bag60, tmp_path, shipped_model, capsys, monkeypatch, one_torch_thread
):
    import onnx

    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "adapted"
    assert cli_main(_args(bag60, out, shipped_model, "--threads", "1")) == 0
    printed = capsys.readouterr().out
    assert "ros2 launch fastdepth_ros depth.launch.py model:=%s" % (out / "model.onnx") in printed
    assert sorted(p.name for p in out.iterdir()) == ["card.md", "model.onnx", "montage.png", "report.json"]
    assert not list(tmp_path.glob(".adapted.partial*"))
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] == 3
    split = report["split"]
    assert split["held_out"]["frames"] == 12 and split["train"]["frames"] + split["gap_frames"] == 48
    for who in ("start", "adapted"):
        for key in ("delta1", "abs_rel", "rmse_m", "scaled_delta1"):
            assert 0.0 <= report["held_out"][who][key] < 10.0
    # the rule: best held-out δ1 among the αs that lose <= 0.03 on every generality set
    rows = report["alphas"]
    assert {r["alpha"] for r in rows} >= {0.0, 0.5, 1.0}
    for r in rows:
        assert r["eligible"] == (max(r["generality_loss"].values()) <= 0.03 + 1e-9)
        assert "heldout_rendered" in r["generality_delta1"]
    best = max((r for r in rows if r["eligible"]), key=lambda r: r["held_out_delta1"])
    assert report["wise_alpha"] == best["alpha"]
    # the ONNX carries what it was made from
    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert float(meta["fastdepth_ros.canonical_focal_px"]) > 0
    assert meta[SOURCE_BAG_KEY] == str(bag60.resolve())
    assert float(meta[ALPHA_KEY]) == report["wise_alpha"]
    assert json.loads(meta[SPLIT_KEY])["held_out"] == split["held_out"]
    card = (out / "card.md").read_text()
    assert "%.3f" % report["held_out"]["adapted"]["delta1"] in card and "montage.png" in card
    # `eval` on the same files gives the report's figures
    ev = tmp_path / "eval.json"
    assert (
        cli_main(
            [
                "eval",
                str(out / "model.onnx"),
                "--compare",
                str(shipped_model),
                "--folder",
                report["held_out"]["set"],
                "--no-nyu",
                "--heldout",
                "0",
                "--json",
                str(ev),
            ]
        )
        == 0
    )
    capsys.readouterr()
    result = json.loads(ev.read_text())
    name = [k for k, v in result.items() if isinstance(v, dict) and "delta1" in v and k != "compare"][0]
    for who, m in (("adapted", result[name]), ("start", result["compare"][name])):
        assert report["held_out"][who]["delta1"] == pytest.approx(m["delta1"], abs=1e-4)
        assert report["held_out"][who]["abs_rel"] == pytest.approx(m["absrel"], abs=1e-4)
        assert report["held_out"][who]["scaled_delta1"] == pytest.approx(
            m["median_scaled"]["delta1"], abs=1e-4
        )

    # a second run with the same settings resumes from the state: no new training
    out2 = tmp_path / "again"
    assert cli_main(_args(bag60, out2, shipped_model, "--threads", "1")) == 0
    assert "fine-tune finished before (3 steps)" in capsys.readouterr().out
    assert json.loads((out2 / "report.json").read_text())["held_out"] == report["held_out"]


def _refused(capsys, argv: list, out: Path, *words: str) -> None:
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("adapt: error:") and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    assert not out.exists()


def test_refuses_too_few_frames(realdata, tmp_path, shipped_model, capsys, monkeypatch):
    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path / "cache"))
    frames, intr = real_frames(realdata, 30, every=10)
    write_rgbd_bag(tmp_path / "bag", frames, intr)
    _refused(
        capsys,
        _args(tmp_path / "bag", tmp_path / "out", shipped_model),
        tmp_path / "out",
        "only 30",
        "at least 50",
    )


def test_refuses_missing_camera_info_and_bad_bags(realdata, tmp_path, shipped_model, capsys, monkeypatch):
    monkeypatch.setenv("FASTDEPTH_CACHE_DIR", str(tmp_path / "cache"))
    frames, _ = real_frames(realdata, 4, every=10)
    with bagio.BagWriter(tmp_path / "noinfo") as w:
        for f in frames:
            w.write("/rgb", bagio.IMAGE, f.t_ns, bagio.make_image(f.rgb8, "rgb8", f.t_ns, "c"))
            w.write("/depth", bagio.IMAGE, f.t_ns, bagio.make_image(f.depth_m, "32FC1", f.t_ns, "c"))
    out = tmp_path / "out"
    _refused(capsys, _args(tmp_path / "noinfo", out, shipped_model), out, "no camera_info")
    (tmp_path / "notabag").mkdir()
    _refused(capsys, _args(tmp_path / "notabag", out, shipped_model), out, "not a rosbag2 bag")
    _refused(capsys, _args(tmp_path / "noinfo", out, tmp_path / "nothing.onnx"), out, "--init-from")
    out.mkdir()
    assert cli_main(_args(tmp_path / "noinfo", out, shipped_model)) == 2
    assert "exists already" in capsys.readouterr().err


def test_budget_refits_when_the_machine_slows_down(monkeypatch, capsys):
    """adapt refits the step count every 20 steps: a run calibrated while the machine was quiet
    still ends within its budget when other jobs slow it down later (a simulated clock)."""
    from fastdepth_ros.training import train as train_mod

    clock = [0.0]
    monkeypatch.setattr(train_mod.time, "monotonic", lambda: clock[0])

    def run(refit_every: int) -> tuple:
        clock[0] = 0.0
        cfg = train_mod.TrainConfig(
            steps=1000, time_budget_min=1.0, calibration_steps=20, budget_refit_every=refit_every
        )
        budget = train_mod._Budget(cfg, 0)
        step = 0
        while step < cfg.steps:
            clock[0] += 1.0 if step < 20 else 2.0  # 1 s a step while calibrating, then 2 s
            step += 1
            budget.update(step)
        return step, clock[0]

    steps_once, end_once = run(0)
    steps_refit, end_refit = run(20)
    assert (steps_once, end_once) == (60, 100.0)  # fitted once at 1 step/s: 40 s over the budget
    assert end_refit <= 62.0 and steps_refit < steps_once
    capsys.readouterr()


def test_interrupted_adapt_resumes_where_it_stopped(bag60, tmp_path, shipped_model):
    """Ctrl-C during the fine-tune: one line, exit 130, no output directory; the same command
    again resumes from the last checkpoint (every 10 steps) and finishes the planned steps."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "FASTDEPTH_CACHE_DIR": str(tmp_path / "cache")}
    state, out = tmp_path / "state", tmp_path / "out"
    argv = [sys.executable, "-m", "fastdepth_ros.cli", *_args(bag60, out, shipped_model, "--threads", "1")]
    argv[argv.index("--max-steps") + 1] = "40"
    argv += ["--state-dir", str(state)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = state / "run" / "last.pth"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), "no checkpoint before the run ended"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "adapt: interrupted; run the same command again to resume"
    assert not out.exists()
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr
    assert "resuming the fine-tune at step" in again.stdout
    resumed_at = int(again.stdout.split("resuming the fine-tune at step ")[1].split()[0])
    assert 10 <= resumed_at < 40
    assert json.loads((out / "report.json").read_text())["steps"] == 40
