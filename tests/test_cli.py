"""The command line: options and their help, the data source on resume, validation before a
run, exit codes, and what it prints."""

import argparse
import dataclasses
import json

import numpy as np
import pytest

from dcgan_tf import __main__ as entry
from dcgan_tf import cli
from dcgan_tf.config import DCGANConfig
from dcgan_tf.health import monitor


def parse(*argv):
    return cli.build_parser().parse_args(["train", *argv])


class FakeTrain:
    """Stands in for dcgan_tf.train.train: records its call, writes what a run would."""

    def __init__(self, epochs_done=None, source_recorded=None, raises=None):
        self.calls, self.epochs_done = [], epochs_done
        self.source_recorded, self.raises = source_recorded, raises

    def __call__(self, cfg, source, run_dir, *, resume=False, cache=True, **kwargs):
        self.calls.append(dict(cfg=cfg, source=source, run_dir=run_dir, resume=resume,
                               cache=cache, strategy=kwargs.get("strategy")))
        if self.raises is not None:
            raise self.raises
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.epochs_done is not None:
            np.savez(run_dir / "checkpoint.npz", epoch=np.array(self.epochs_done))
        if self.source_recorded is not None:
            (run_dir / "data.json").write_text(json.dumps({"source": self.source_recorded}))


@pytest.fixture
def fake_train(monkeypatch):
    def install(**kwargs):
        fake = FakeTrain(**kwargs)
        monkeypatch.setattr("dcgan_tf.train.train", fake)
        return fake
    return install


@pytest.fixture
def fake_score(monkeypatch):
    calls = []

    class Report:
        def summary(self):
            return "SCORED"

    def score_run(run_dir, name="faces", n=2000):
        calls.append((name, n))
        return Report()

    monkeypatch.setattr("dcgan_tf.groundtruth.scoring.score_run", score_run)
    return calls


def old_run(folder, epochs_done, **cfg):
    folder.mkdir(parents=True)
    DCGANConfig.profile("small", **cfg).to_json(folder / "config.json")
    np.savez(folder / "checkpoint.npz", epoch=np.array(epochs_done))
    return folder


# --------------------------------------------------------------------------- whole runs


def test_cli_train_then_sample(tmp_path, capsys):
    run = tmp_path / "cli"
    code = cli.main(["train", "--data", "digits", "--out", str(run), "--epochs", "1",
                     "--width", "8", "--batch-size", "128"])
    assert code == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["channels"] == 1 and cfg["resolution"] == 32 and cfg["width"] == 8
    grid = str(tmp_path / "g.png")
    assert cli.main(["sample", "--run", str(run), "--n", "9", "--out", grid]) == 0
    from PIL import Image

    from dcgan_tf import plots
    from dcgan_tf.train import sample

    with Image.open(grid) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        png = np.asarray(im)
    # 3 x 3 samples of 32 px with 2-pixel borders, enlarged twice: (3 * 34 + 2) * 2 a side.
    assert png.shape == (208, 208, 3)
    want = plots.grid(sample(run, 9, 0))  # --seed defaults to 0
    np.testing.assert_array_equal(png, want.repeat(2, axis=0).repeat(2, axis=1))
    assert not np.array_equal(png[4:68, 4:68], png[4:68, 72:136])  # 9 different samples
    assert cli.main(["train", "--data", "digits", "--out", str(run), "--epochs", "1"]) == 2
    assert "already holds a checkpoint" in capsys.readouterr().err


def test_cli_resume_keeps_the_data_source(tmp_path, capsys):
    run = str(tmp_path / "digits")
    small = ["--width", "8", "--batch-size", "128"]
    assert cli.main(["train", "--data", "digits", "--out", run, "--epochs", "1", *small]) == 0
    assert cli.main(["train", "--out", run, "--resume", "--epochs", "2"]) == 0
    assert json.loads((tmp_path / "digits" / "data.json").read_text())["source"] == "digits"
    assert json.loads((tmp_path / "digits" / "config.json").read_text())["channels"] == 1
    out = capsys.readouterr().out
    assert "trained in" in out and "probe Frechet" not in out  # digits are not scored
    assert cli.main(["train", "--data", "faces", "--out", run, "--resume",
                     "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "digits" in err and "faces" in err


@pytest.mark.parametrize("argv,message", [
    (["train", "--data", "/no/such/folder", "--out", "x"], "no such folder"),
    (["sample", "--run", "/no/such/run"], "not a run folder"),
])
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()  # a bad source leaves no half-made run folder


def test_cli_bad_arguments_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--resolution", "48"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "invalid choice" in err and len(err.splitlines()) == 1


# --------------------------------------------------------------------------- data source


def test_a_fresh_run_without_data_trains_on_faces(tmp_path, fake_train, fake_score):
    fake = fake_train(epochs_done=10)
    assert cli.main(["train", "--out", str(tmp_path / "run")]) == 0
    call, = fake.calls
    assert call["source"] == "faces" and call["cfg"].channels == 3 and not call["resume"]
    assert fake_score == [("faces", 2000)]


def test_resume_without_data_lets_train_use_the_recorded_source(tmp_path, fake_train,
                                                                fake_score, capsys):
    run = old_run(tmp_path / "run", 1, channels=1, width=8)
    fake = fake_train(epochs_done=3, source_recorded="rooms:300")
    assert cli.main(["train", "--out", str(run), "--resume", "--epochs", "3"]) == 0
    call, = fake.calls
    assert call["source"] is None and call["resume"]
    assert call["cfg"] == DCGANConfig.profile("small", channels=1, width=8, epochs=3)
    # Scored against what the run trained on (recorded by train), not the default.
    assert fake_score == [("rooms", 2000)]
    assert "SCORED" in capsys.readouterr().out


@pytest.mark.parametrize("source,channels", [
    ("digits", 1), ("mnist", 1), ("tfds:mnist", 1), ("tfds:cifar10", 3), ("faces:500", 3),
    ("tfds:celeb_a", 3),
])
def test_channels_follow_the_source(source, channels, tmp_path):
    args = parse("--data", source, "--out", str(tmp_path / "new"))
    assert cli._config(args, source).channels == channels
    assert cli._config(parse("--data", source, "--channels", "3", "--out",
                             str(tmp_path / "new")), source).channels == 3


def test_nothing_to_train_says_so(tmp_path, fake_train, fake_score, capsys):
    run = old_run(tmp_path / "run", 10)
    fake_train()  # a finished run: train() has nothing to add
    assert cli.main(["train", "--out", str(run), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "nothing to train" in out and "10 epochs" in out
    assert "trained in" not in out and fake_score == []


def test_cache_option_reaches_train(tmp_path, fake_train):
    fake = fake_train(epochs_done=1)
    for i, choice in enumerate(("auto", "memory", "disk", "none")):
        assert cli.main(["train", "--data", "digits", "--out", str(tmp_path / str(i)),
                         "--cache", choice]) == 0
    assert [c["cache"] for c in fake.calls] == ["auto", "memory", "disk", "none"]
    assert parse().cache == "auto"


# --------------------------------------------------------------------------- validation


def test_probe_frechet_distance_needs_more_images_than_features():
    """A covariance of n samples has rank n - 1 at most: full rank needs n > FEATURES."""
    from dcgan_tf.groundtruth import probes

    trunk = probes.build_model("faces", 32).get_layer("features")
    assert trunk.units == probes.FEATURES == 64
    rng = np.random.default_rng(0)
    rank = lambda n: np.linalg.matrix_rank(np.cov(rng.standard_normal((n, 64)), rowvar=False))
    assert rank(64) == 63 and rank(65) == 64


def test_score_n_too_small_is_refused_before_training(tmp_path, fake_train, capsys):
    fake = fake_train(epochs_done=1)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--out", str(tmp_path / "run"), "--score-n", "64"])
    assert exit_info.value.code == 2 and fake.calls == []
    err = capsys.readouterr().err.strip()
    assert "--score-n" in err and "65" in err and len(err.splitlines()) == 1
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--score-n", "65",
                     "--no-score"]) == 0


def test_score_n_is_not_checked_for_runs_that_are_not_scored(tmp_path, fake_train):
    fake_train(epochs_done=1)
    assert cli.main(["train", "--out", str(tmp_path / "a"), "--score-n", "10",
                     "--no-score"]) == 0
    assert cli.main(["train", "--data", "digits", "--out", str(tmp_path / "b"),
                     "--score-n", "10"]) == 0


def test_a_bug_is_exit_1_with_the_debug_hint_and_bad_input_is_2(tmp_path, monkeypatch,
                                                                 capsys):
    """A plain ValueError from deep inside (a bug) is not 'bad usage': 1, with the hint."""
    from dcgan_tf import train as train_module
    from dcgan_tf.config import InputError

    def boom(*args, **kwargs):
        raise ValueError("shapes (3,) and (4,) not aligned")

    monkeypatch.setattr(train_module, "train", boom)
    assert cli.main(["train", "--out", str(tmp_path / "r"), "--no-score"]) == 1
    assert "--debug" in capsys.readouterr().err

    def bad_input(*args, **kwargs):
        raise InputError("runs/x was trained on digits, not on faces")

    monkeypatch.setattr(train_module, "train", bad_input)
    assert cli.main(["train", "--out", str(tmp_path / "r"), "--no-score"]) == 2
    assert "trained on digits" in capsys.readouterr().err


def test_unscorable_channels_are_refused_before_training(tmp_path, fake_train, capsys):
    fake = fake_train(epochs_done=1)
    assert cli.main(["train", "--data", "faces", "--channels", "1", "--out",
                     str(tmp_path / "run")]) == 2
    assert fake.calls == [] and "--no-score" in capsys.readouterr().err
    assert cli.main(["train", "--data", "faces", "--channels", "1", "--no-score", "--out",
                     str(tmp_path / "run")]) == 0


# --------------------------------------------------------------------------- help and exits


def train_options():
    sub = next(a for a in cli.build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    return [a for a in sub.choices["train"]._actions if a.dest != "help"]


def test_every_train_option_states_its_default_or_profile_values():
    small, full = DCGANConfig.profile("small"), DCGANConfig.profile("full")
    fields = {f.name for f in dataclasses.fields(DCGANConfig)}
    knobs = {*switches(), "learning_rate", "beta_1"}  # state the paper's value instead
    options = train_options()
    assert len(options) >= 30
    for action in options:
        assert action.help, action.dest
        if action.dest in fields and action.dest not in knobs:
            value = lambda cfg: str(getattr(cfg, action.dest)).lower()
            assert f"small: {value(small)}, full: {value(full)}" in action.help.lower(), \
                action.dest
    cache, = [a for a in options if a.dest == "cache"]
    assert "2 GiB" in cache.help


def test_exit_code_table_is_documented():
    from dcgan_tf.cliargs import EXIT_CODES

    assert set(EXIT_CODES) == {0, 1, 2, 130}
    epilog = cli.build_parser().epilog
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in epilog
    assert "0    " in cli.__doc__ and "130  " in cli.__doc__


@pytest.mark.parametrize("error,code", [
    ("DataError", 2), (FileNotFoundError("gone"), 2), (FileExistsError("there"), 2),
    ("InputError", 2), (ValueError("bug"), 1), ("TrainingDiverged", 1),
    (RuntimeError("boom"), 1), (KeyError("bug"), 1), (KeyboardInterrupt(), 130),
])
def test_exit_codes_and_debug_tracebacks(error, code, tmp_path, fake_train, capsys):
    if error == "DataError":
        from dcgan_tf.data import DataError
        error = DataError("unreadable")
    elif error == "TrainingDiverged":
        from dcgan_tf.callbacks import TrainingDiverged
        error = TrainingDiverged("nan")
    elif error == "InputError":
        from dcgan_tf.config import InputError
        error = InputError("runs/x was trained on digits")
    fake_train(raises=error)
    argv = ["train", "--data", "digits", "--out", str(tmp_path / "run")]
    assert cli.main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    if code == 1 and not type(error).__name__ == "TrainingDiverged":
        assert type(error).__name__ in err and "--debug" in err  # a bug: say how to see it
    assert cli.main([*argv, "--debug"]) == code
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in __call__" in err


def test_sample_interrupt_does_not_talk_about_checkpoints(monkeypatch, capsys):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("dcgan_tf.train.sample", interrupted)
    assert cli.main(["sample", "--run", "x"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "checkpoint" not in err


# --------------------------------------------------------------------------- guideline knobs


def switches():
    """Every field broken_guidelines() can name, found by flipping each boolean field."""
    paper = DCGANConfig()
    found = []
    for f in dataclasses.fields(DCGANConfig):
        value = getattr(paper, f.name)
        flipped = isinstance(value, bool) and paper.replace(**{f.name: not value})
        if flipped and flipped.broken_guidelines():
            found.append(f.name)
    return found


def test_every_guideline_switch_has_a_flag_named_from_it(tmp_path):
    assert len(switches()) == 10 and "global_pooling" in switches()
    paper = DCGANConfig()
    options = {a.dest: a for a in train_options()}
    for switch in switches():
        on = getattr(paper, switch)  # the paper's value; the flag sets the other one
        flag = ("--no-" if on else "--") + switch.replace("_", "-")
        assert options[switch].option_strings == [flag], switch
        args = parse(flag, "--out", str(tmp_path / "new"))
        cfg = cli._config(args, "faces")
        assert getattr(cfg, switch) is (not on) and cfg.broken_guidelines() == [switch]
        help_line = options[switch].help
        assert "\n" not in help_line and len(help_line) < 160, flag
        assert f"{switch}: paper {on}, {not on} breaks the guideline" in help_line, flag


def test_learning_rate_and_beta1_flags_name_the_papers_good_and_bad_values(tmp_path):
    cfg = cli._config(parse("--lr", "1e-3", "--beta1", "0.9", "--out", str(tmp_path)),
                      "faces")
    assert (cfg.learning_rate, cfg.beta_1) == (1e-3, 0.9)
    assert cfg.broken_guidelines() == []
    options = {a.dest: a for a in train_options()}
    # docs/paper_notes.md §4: Adam 0.0002 (0.001 was too high), beta1 0.5 (0.9 oscillated).
    assert options["learning_rate"].option_strings == ["--lr"]
    assert options["beta_1"].option_strings == ["--beta1"]
    lr, beta1 = options["learning_rate"].help, options["beta_1"].help
    assert "paper 0.0002, 0.001 (too high) breaks the guideline" in lr
    assert "paper 0.5, 0.9 (it oscillated) breaks the guideline" in beta1


def test_help_lists_every_knob(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    paper = DCGANConfig()
    for switch in switches():
        prefix = "--no-" if getattr(paper, switch) else "--"
        assert prefix + switch.replace("_", "-") in text
    assert "--lr" in text and "--beta1" in text


@pytest.mark.parametrize("argv,message", [
    (["--lr", "0"], "positive number, got 0.0"),
    (["--lr", "-0.001"], "positive number, got -0.001"),
    (["--lr", "nan"], "positive number, got nan"),
    (["--lr", "inf"], "positive number, got inf"),
    (["--lr", "fast"], "expected a number, got 'fast'"), (["--beta1", "1"], "[0, 1), got 1.0"),
    (["--beta1", "-0.1"], "[0, 1), got -0.1"), (["--beta1", "nan"], "[0, 1), got nan"),
])
def test_bad_learning_rate_or_beta1_is_refused_in_one_line(argv, message, tmp_path,
                                                           fake_train, capsys):
    fake = fake_train(epochs_done=1)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--data", "digits", "--out", str(tmp_path / "run"), *argv])
    assert exit_info.value.code == 2 and fake.calls == []
    err = capsys.readouterr().err.strip()
    assert f"argument {argv[0]}" in err and message in err and len(err.splitlines()) == 1


def test_unset_flags_keep_a_resumed_runs_settings(tmp_path, fake_train):
    run = old_run(tmp_path / "run", 1, d_relu=True, g_batchnorm=False, learning_rate=1e-3,
                  beta_1=0.9)
    fake = fake_train(epochs_done=3, source_recorded="digits")
    args = parse("--out", str(run), "--resume")
    assert all(getattr(args, k) is None for k in (*switches(), "learning_rate", "beta_1"))
    assert cli.main(["train", "--out", str(run), "--resume", "--epochs", "3"]) == 0
    call, = fake.calls
    assert call["cfg"] == DCGANConfig.profile("small", d_relu=True, g_batchnorm=False,
                                              learning_rate=1e-3, beta_1=0.9, epochs=3)


def test_the_run_start_names_the_broken_guidelines(tmp_path, fake_train, capsys):
    fake_train(epochs_done=1)
    assert cli.main(["train", "--data", "digits", "--out", str(tmp_path / "a"), "--d-relu",
                     "--pooling"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "guidelines broken on purpose: pooling, d_relu" in lines
    assert cli.main(["train", "--data", "digits", "--out", str(tmp_path / "b"), "--lr", "1e-3",
                     "--no-g-batchnorm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "guidelines broken on purpose: g_batchnorm, learning_rate 0.001" in lines
    assert cli.main(["train", "--data", "digits", "--out", str(tmp_path / "c")]) == 0
    assert "guidelines broken" not in capsys.readouterr().out


def test_a_run_records_its_knobs_and_resume_refuses_to_change_them(tmp_path, capsys):
    run = tmp_path / "knobs"
    tiny = ["--data", "digits", "--out", str(run), "--width", "8", "--batch-size", "128"]
    knobs = ["--d-relu", "--global-pooling", "--lr", "1e-3", "--beta1", "0.9"]
    assert entry.main(["train", *tiny, "--epochs", "1", *knobs]) == 0
    # python -m dcgan_tf watches every run: its verdict closes the run, as health.json has it.
    flags = monitor.read_flags(run)
    expected = ", ".join(f"{s} from epoch {e}" for s, e in flags.items()) or "nothing flagged"
    assert f"health monitor: {expected};" in capsys.readouterr().out
    recorded = json.loads((run / "config.json").read_text())
    paper = dataclasses.asdict(DCGANConfig())
    changed = {k for k in switches() + ["learning_rate", "beta_1"] if recorded[k] != paper[k]}
    assert changed == {"d_relu", "global_pooling", "learning_rate", "beta_1"}
    assert (recorded["learning_rate"], recorded["beta_1"]) == (1e-3, 0.9)
    log = (run / "log.csv").read_text().splitlines()
    header, row = log[0].split(","), log[1].split(",")
    assert float(row[header.index("d_lr")]) == pytest.approx(1e-3)  # reached the optimizer
    capsys.readouterr()
    # A flag that changes a recorded switch or setting: train()'s config check refuses it.
    for flag in (["--pooling"], ["--lr", "2e-4"]):
        assert cli.main(["train", "--out", str(run), "--resume", "--epochs", "2", *flag]) == 2
        err = capsys.readouterr().err
        assert "cannot resume with a different config" in err, err
        assert ("pooling False -> True" if flag == ["--pooling"] else
                "learning_rate 0.001 -> 0.0002") in err
    # No flags: the run goes on with what it recorded.
    assert cli.main(["train", "--out", str(run), "--resume", "--epochs", "2"]) == 0
    assert json.loads((run / "config.json").read_text()) == {**recorded, "epochs": 2}
    assert "guidelines broken on purpose: d_relu, global_pooling, learning_rate 0.001, " \
           "beta_1 0.9" in capsys.readouterr().out.splitlines()


def test_gpu_options_reach_the_config_and_train(tmp_path, fake_train):
    import tensorflow as tf

    fake = fake_train(epochs_done=1)
    out = tmp_path / "gpu"
    assert cli.main(["train", "--data", "digits", "--out", str(out), "--no-score",
                     "--xla", "on", "--strategy", "mirrored"]) == 0
    call, = fake.calls
    assert call["cfg"].xla is True
    assert isinstance(call["strategy"], tf.distribute.MirroredStrategy)
    assert cli.main(["train", "--data", "digits", "--out", str(tmp_path / "b"),
                     "--no-score"]) == 0
    assert fake.calls[-1]["cfg"].xla == "auto"  # the profiles' default
    assert fake.calls[-1]["strategy"] is tf.distribute.get_strategy()
