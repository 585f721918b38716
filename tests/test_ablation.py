"""The ablation runner: sweeps that score every epoch, resume, survive a divergence."""

import dataclasses
import math

import numpy as np
import pytest

from dcgan_tf import checkpoint, runlog
from dcgan_tf.health import monitor
from dcgan_tf.config import DCGANConfig, InputError
from dcgan_tf.groundtruth import scoring
from dcgan_tf.studies import ablation

DATA, N = "faces:256", 80  # N: just above the probes' 64 features, for a covariance
BASE = DCGANConfig(resolution=32, width=8, batch_size=64, epochs=1)
# The guideline switches (docs/paper_notes.md §3) the config had when the runner was written.
KNOWN_SWITCHES = ("g_batchnorm", "d_batchnorm", "bn_on_g_output", "bn_on_d_input", "pooling",
                  "hidden_dense", "g_leaky_relu", "d_relu", "g_sigmoid_output")


def _scores(run):
    return runlog.read_columns(run / scoring.SCORES_FILE)


def test_ablations_flip_each_guideline_switch_alone():
    broken = {name: DCGANConfig(**overrides).broken_guidelines()
              for name, overrides in ablation.ABLATIONS.items()}
    # One combination on purpose: the paper's first try, BN on every layer.
    assert sorted(broken.pop("bn_everywhere")) == ["bn_on_d_input", "bn_on_g_output"]
    assert all(len(b) <= 1 for b in broken.values()), broken
    flipped = [b[0] for b in broken.values() if b]
    names = [f.name for f in dataclasses.fields(DCGANConfig)]
    every_switch = names[names.index("g_batchnorm"):names.index("batch_size")]
    assert sorted(flipped) == sorted(every_switch)  # a switch added later is in by itself
    assert set(KNOWN_SWITCHES) <= set(flipped)
    assert ablation.ABLATIONS["paper"] == {}
    assert DCGANConfig(**ablation.ABLATIONS["no_g_batchnorm"]).g_batchnorm is False
    assert ablation.ABLATIONS["lr_1e-3"] == {"learning_rate": 1e-3}
    assert ablation.ABLATIONS["beta1_0.9"] == {"beta_1": 0.9}


def test_a_sweep_scores_every_run_and_resumes_without_retraining(tmp_path, capsys):
    out, names = tmp_path / "sweep", ["paper", "no_g_batchnorm"]
    ablation.run_ablation(names, 1, DATA, out, base=BASE, score_n=N)
    runs = [out / name / "seed0" for name in names]
    assert DCGANConfig.from_json(runs[1] / "config.json").g_batchnorm is False
    first = [_scores(run) for run in runs]
    for scores in first:
        np.testing.assert_array_equal(scores["epoch"], [1])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("[2/2] no_g_batchnorm seed 0: done, FD ") for line in lines)

    mtimes = [(run / checkpoint.CHECKPOINT).stat().st_mtime_ns for run in runs]
    statuses = ablation.run_ablation(names, 1, DATA, out, base=BASE, score_n=N)
    assert [s["skipped"] for s in statuses] == [True, True]
    assert [(run / checkpoint.CHECKPOINT).stat().st_mtime_ns for run in runs] == mtimes
    assert [_scores(run)["fd"].tolist() for run in runs] == [s["fd"].tolist() for s in first]

    # A larger budget resumes each run: its first epoch is neither retrained nor repeated.
    ablation.run_ablation(names, 1, DATA, out, base=BASE, epochs=2, score_n=N)
    for run, before in zip(runs, first):
        scores = _scores(run)
        np.testing.assert_array_equal(scores["epoch"], [1, 2])
        assert scores["fd"][0] == before["fd"][0]
        assert scores["train_seconds"][1] > scores["train_seconds"][0]
        assert checkpoint.saved_epoch(run) == 2


class _NaNAfterFirstEpoch(scoring.ScoreLog):
    """Scores as usual, then (for the "nan" config) poisons G after epoch 1's checkpoint."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.path.parent.parent.name == "nan" and epoch == 0:
            weight = self.model.generator.trainable_weights[0]
            weight.assign(np.full(weight.shape, np.nan, np.float32))


def test_a_diverging_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.setitem(ablation.ABLATIONS, "nan", {})
    monkeypatch.setattr(ablation, "ScoreLog", _NaNAfterFirstEpoch)
    out = tmp_path / "sweep"
    statuses = ablation.run_ablation(["nan", "paper"], [0], DATA, out, base=BASE, epochs=2,
                                     score_n=N)
    assert [s["status"] for s in statuses] == ["diverged", "done"]
    bad = out / "nan" / "seed0"
    assert "diverged" in ablation.read_status(bad)["message"]
    np.testing.assert_array_equal(_scores(bad)["epoch"], [1])  # its epoch before is kept
    assert monitor.read_flags(bad).get("divergence") == 2
    np.testing.assert_array_equal(_scores(out / "paper" / "seed0")["epoch"], [1, 2])

    mtime = (bad / checkpoint.CHECKPOINT).stat().st_mtime_ns
    again = ablation.run_ablation(["nan"], [0], DATA, out, base=BASE, epochs=2, score_n=N)
    assert again[0]["skipped"] and again[0]["status"] == "diverged"
    assert (bad / checkpoint.CHECKPOINT).stat().st_mtime_ns == mtime

    rows = ablation.collect(out)
    assert [(r["config"], r["epoch"], r["status"]) for r in rows] == [
        ("paper", 1, "done"), ("paper", 2, "done"), ("nan", 1, "diverged")]
    assert all(0 <= r["D(x)"] <= 1 and 0 <= r["d_real"] <= 1 for r in rows)
    assert rows[2]["flag_divergence"] == 2 and rows[0]["flag_divergence"] is None
    assert (out / "results.csv").read_text().count("\n") == 1 + len(rows)
    summary = {s["config"]: s for s in ablation.summarise(rows)}
    assert summary["nan"]["divergence"] == 1.0 and summary["nan"]["finished"] == 0
    assert math.isnan(summary["nan"]["fd_mean"])
    assert summary["paper"]["fd_mean"] == pytest.approx(rows[1]["fd"])


def test_summarise_against_numpy():
    rng = np.random.default_rng(0)
    rows = []
    for config in ("a", "b"):
        for seed in range(3):
            for epoch in (2, 3, 1):  # out of order: "final" must mean the last epoch
                rows.append({"config": config, "seed": seed, "epoch": epoch, "status": "done",
                             "fd": float(rng.uniform(10, 100)),
                             "train_seconds": 60.0 * epoch + seed,
                             **{f"flag_{s}": None for s in monitor.SIGNALS}})
    rows = [r for r in rows if not (r["config"] == "b" and r["seed"] == 2 and r["epoch"] == 3)]
    for r in rows:
        if r["config"] == "b" and r["seed"] == 2:
            r["status"] = "diverged"
        if r["config"] == "a" and r["seed"] == 1:
            r["flag_collapse"] = 2
    final = {(r["config"], r["seed"]): r for r in rows if r["epoch"] == 3}
    a = [final["a", s]["fd"] for s in range(3)]
    b = [final["b", s]["fd"] for s in range(2)]

    got = {s["config"]: s for s in ablation.summarise(rows)}
    assert got["a"]["fd_mean"] == pytest.approx(np.mean(a))
    assert got["a"]["fd_sd"] == pytest.approx(np.std(a, ddof=1))
    assert got["b"]["fd_mean"] == pytest.approx(np.mean(b))
    assert got["b"]["fd_sd"] == pytest.approx(np.std(b, ddof=1))
    assert (got["b"]["seeds"], got["b"]["finished"]) == (3, 2)
    assert got["a"]["collapse"] == pytest.approx(1 / 3) and got["b"]["collapse"] == 0
    assert got["b"]["divergence"] == pytest.approx(1 / 3) and got["a"]["divergence"] == 0
    assert got["a"]["minutes"] == pytest.approx(np.mean([180, 181, 182]) / 60)
    assert got["b"]["minutes"] == pytest.approx(np.mean([180, 181, 122]) / 60)
    # The late window of a 3-epoch run is epochs 2-3; b's diverged seed is left out.
    fd = {(r["config"], r["seed"], r["epoch"]): r["fd"] for r in rows}
    late_a = [(fd["a", s, 2] + fd["a", s, 3]) / 2 for s in range(3)]
    swing_b = [abs(fd["b", s, 3] - fd["b", s, 2]) for s in range(2)]
    assert got["a"]["late_from"] == 2
    assert got["a"]["late_mean"] == pytest.approx(np.mean(late_a))
    assert got["a"]["late_sd"] == pytest.approx(np.std(late_a, ddof=1))
    assert got["b"]["swing"] == pytest.approx(np.mean(swing_b))
    table = ablation.markdown(ablation.summarise(rows))
    line_a = next(line for line in table.splitlines() if line.startswith("| a |"))
    assert f"{np.mean(a):.1f} ± {np.std(a, ddof=1):.1f}" in line_a and "1/3" in line_a
    assert f"{np.mean(late_a):.1f} ± {np.std(late_a, ddof=1):.1f} (epochs 2+)" in line_a
    assert "(2 of 3 finished)" in table


def test_the_benchmark_runs_a_tiny_sweep_end_to_end(tmp_path, capsys, load_benchmark):
    from PIL import Image

    bench, out = load_benchmark("stability"), tmp_path / "stability"
    assert bench.main(["--configs", "paper", "nope", "--out", str(out)]) == 2
    assert "'nope'" in capsys.readouterr().err and not out.exists()
    code = bench.main(["--configs", "paper", "d_relu", "--seeds", "1", "--data", DATA,
                       "--epochs", "1", "--out", str(out), "--score-n", str(N),
                       "--profile", "small", "--width", "8"])
    assert code == 0
    printed = capsys.readouterr().out
    table = (out / "summary.md").read_text()
    assert table in printed
    assert [line.split(" | ")[0] for line in table.splitlines()[2:]] == ["| paper", "| d_relu"]
    assert DCGANConfig.from_json(out / "d_relu" / "seed0" / "config.json").d_relu is True
    for name in ("fd_curves.png", "final_grids.png"):
        with Image.open(out / name) as image:
            assert image.width > 300 and image.height > 200


def test_the_benchmark_trains_and_scores_at_64x64_when_asked(tmp_path, load_benchmark):
    bench, out = load_benchmark("stability"), tmp_path / "stability64"
    code = bench.main(["--configs", "d_relu", "--seeds", "1", "--data", DATA, "--epochs", "1",
                       "--out", str(out), "--score-n", str(N), "--profile", "small",
                       "--width", "8", "--resolution", "64"])
    assert code == 0
    run = out / "d_relu" / "seed0"
    cfg = DCGANConfig.from_json(run / "config.json")
    assert (cfg.resolution, cfg.d_relu, cfg.width) == (64, True, 8)
    rows = ablation.collect(out)
    assert len(rows) == 1 and np.isfinite(rows[0]["fd"])
    with pytest.raises(SystemExit):  # argparse: only the sizes DCGANConfig builds
        bench.main(["--configs", "paper", "--resolution", "48", "--out", str(out)])


def test_a_sweep_refuses_a_folder_trained_on_other_data_or_for_longer(tmp_path):
    out = tmp_path / "sweep"
    ablation.run_ablation(["paper"], 1, DATA, out, base=BASE, epochs=2, score_n=N)
    run = out / "paper" / "seed0"
    mtime = (run / checkpoint.CHECKPOINT).stat().st_mtime_ns
    # Every folder is checked before the first run trains: d_relu is not started.
    with pytest.raises(InputError, match="trained on 'faces:256', not on 'faces:300'") as err:
        ablation.run_ablation(["d_relu", "paper"], 1, "faces:300", out, base=BASE, epochs=2,
                              score_n=N)
    assert str(run) in str(err.value) and not (out / "d_relu").exists()
    with pytest.raises(InputError, match="holds 2 epochs, more than the 1") as err:
        ablation.run_ablation(["paper"], 1, DATA, out, base=BASE, epochs=1, score_n=N)
    assert str(run) in str(err.value)
    assert (run / checkpoint.CHECKPOINT).stat().st_mtime_ns == mtime
    again = ablation.run_ablation(["paper"], 1, DATA, out, base=BASE, epochs=2, score_n=N)
    assert again[0]["skipped"] and again[0]["epochs"] == checkpoint.saved_epoch(run) == 2


def test_a_diverged_run_is_reused_only_for_its_config_and_a_budget_it_diverged_in(
        tmp_path, monkeypatch):
    monkeypatch.setitem(ablation.ABLATIONS, "nan", {})
    monkeypatch.setattr(ablation, "ScoreLog", _NaNAfterFirstEpoch)
    out, bad = tmp_path / "sweep", tmp_path / "sweep" / "nan" / "seed0"
    status, = ablation.run_ablation(["nan"], [0], DATA, out, base=BASE, epochs=3, score_n=N)
    assert status["status"] == "diverged"
    # The epochs it saved (ablation.json), not the 3 asked for: it diverged in epoch 2.
    assert ablation.read_status(bad)["epochs"] == checkpoint.saved_epoch(bad) == 1
    with pytest.raises(InputError, match="cannot resume with a different config; changed: "
                                         "width 8 -> 16"):
        ablation.run_ablation(["nan"], [0], DATA, out, base=BASE.replace(width=16), epochs=3,
                              score_n=N)
    with pytest.raises(InputError, match="diverged in epoch 2, after the 1 epoch"):
        ablation.run_ablation(["nan"], [0], DATA, out, base=BASE, epochs=1, score_n=N)
    mtime = (bad / checkpoint.CHECKPOINT).stat().st_mtime_ns
    again, = ablation.run_ablation(["nan"], [0], DATA, out, base=BASE, epochs=4, score_n=N)
    assert again["skipped"] and again["status"] == "diverged"  # a longer budget: the same
    assert (bad / checkpoint.CHECKPOINT).stat().st_mtime_ns == mtime


def test_no_epochs_or_no_seeds_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="epochs must be positive, got 0"):
        ablation.run_ablation(["paper"], 1, DATA, tmp_path, base=BASE, epochs=0, score_n=N)
    with pytest.raises(InputError, match="no seeds"):
        ablation.run_ablation(["paper"], 0, DATA, tmp_path, base=BASE, score_n=N)
    assert not (tmp_path / "paper").exists()


def _final(config, seed, status, **values):
    return {"config": config, "seed": seed, "epoch": 1 if values else 0, "status": status,
            **{f"flag_{s}": None for s in monitor.SIGNALS}, **values}


def test_train_minutes_leave_out_seeds_without_a_training_time():
    rows = [_final("a", 0, "done", fd=50.0, train_seconds=120.0),
            _final("a", 1, "diverged"),  # diverged in its first epoch: no time, no rows
            _final("b", 0, "diverged")]
    got = {s["config"]: s for s in ablation.summarise(rows)}
    assert got["a"]["minutes"] == pytest.approx(2.0) and math.isnan(got["b"]["minutes"])
    cells = {line.split(" | ")[0]: line.split(" | ")[-1]
             for line in ablation.markdown(list(got.values())).splitlines()[2:]}
    assert cells == {"| a": "2.0 |", "| b": "– |"}


def _fake_run(out, config, seed, fds):
    """A run folder with a status, a scores.csv and one grid, as a finished sweep has."""
    from dcgan_tf import plots
    from dcgan_tf.fileio import write_json

    run = out / config / f"seed{seed}"
    write_json(run / ablation.STATUS_FILE, {"config": config, "seed": seed, "status": "done",
                                            "epochs": len(fds)})
    runlog.write_rows(run / scoring.SCORES_FILE,
                      [{"epoch": e, "fd": fd, "train_seconds": 10.0 * e}
                       for e, fd in enumerate(fds, 1)], ("epoch", "fd", "train_seconds"))
    plots.save_png(np.zeros((8, 8, 3), np.uint8), run / "samples" / "epoch_002.png")


def test_the_figures_draw_only_the_configs_and_seeds_asked_for(tmp_path, monkeypatch):
    from dcgan_tf import plots

    out, figures = tmp_path / "shared", []
    for config, seed, fds in (("paper", 0, [40, 30]), ("paper", 1, [400, 300]),
                              ("d_relu", 0, [50, 45]), ("pooling", 0, [90, 80])):
        _fake_run(out, config, seed, fds)
    save = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig)
                        or save(fig, path))
    summary, table = ablation.analyse(out, configs=["paper", "d_relu"], seeds=[0])
    curves, grids = figures
    ax = curves.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["paper", "d_relu"]
    assert [line.get_ydata().tolist() for line in ax.get_lines()] == [[40, 30], [50, 45]]
    assert [a.get_title() for a in grids.axes if a.get_title()] == [
        "paper (seed0, epoch 2)", "d_relu (seed0, epoch 2)"]
    assert [(s["config"], s["seeds"]) for s in summary] == [("paper", 1), ("d_relu", 1)]
    assert "pooling" not in table and "pooling" not in (out / "results.csv").read_text()


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs: '0' must be positive"),
    (["--seeds", "0"], "--seeds: '0' must be positive"),
    (["--score-n", "0"], "--score-n: '0' must be positive"),
    (["--score-n", "2.5"], "--score-n: expected a number, got '2.5'"),
    (["--score-n", "64"], "--score-n 64: the probe Frechet distance needs more images than "
                          "the probes' 64 features, i.e. at least 65"),
])
def test_the_benchmark_refuses_bad_numbers_in_one_line(args, message, tmp_path, capsys,
                                                       monkeypatch, load_benchmark):
    bench = load_benchmark("stability")
    monkeypatch.setattr(bench.ablation, "run_ablation", lambda *a, **k: pytest.fail("ran"))
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--configs", "paper", "--data", DATA, "--out", str(tmp_path / "s"), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and err.count("\n") == 1


def test_the_benchmark_takes_any_positive_score_n_for_data_without_probes(
        tmp_path, monkeypatch, load_benchmark):
    bench, calls = load_benchmark("stability"), []
    monkeypatch.setattr(bench.ablation, "run_ablation", lambda *a, **k: calls.append(k))
    monkeypatch.setattr(bench.ablation, "analyse", lambda *a, **k: calls.append(k) or ([], ""))
    assert bench.main(["--configs", "paper", "--seeds", "2", "--data", str(tmp_path),
                       "--out", str(tmp_path / "s"), "--score-n", "10"]) == 0
    assert calls[0]["score_n"] == 10
    assert calls[1] == {"configs": ["paper"], "seeds": [0, 1]}  # only this sweep is drawn
