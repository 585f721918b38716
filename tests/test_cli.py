"""The command line: options and their help, the data source on resume, validation before a
run, exit codes, and what it prints."""

import argparse
import dataclasses
import json

import numpy as np
import pytest

from dcgan_tf import cli
from dcgan_tf.config import DCGANConfig


def parse(*argv):
    return cli.build_parser().parse_args(["train", *argv])


class FakeTrain:
    """Stands in for dcgan_tf.train.train: records its call, writes what a run would."""

    def __init__(self, epochs_done=None, source_recorded=None, raises=None):
        self.calls, self.epochs_done = [], epochs_done
        self.source_recorded, self.raises = source_recorded, raises

    def __call__(self, cfg, source, run_dir, *, resume=False, cache=True, **kwargs):
        self.calls.append(dict(cfg=cfg, source=source, run_dir=run_dir, resume=resume,
                               cache=cache))
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

    monkeypatch.setattr("dcgan_tf.report.score_run", score_run)
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
    assert (tmp_path / "g.png").is_file()
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
    from dcgan_tf import probes

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
    options = train_options()
    assert len(options) >= 18
    for action in options:
        assert action.help, action.dest
        if action.dest in fields:
            value = lambda cfg: str(getattr(cfg, action.dest)).lower()
            assert f"small: {value(small)}, full: {value(full)}" in action.help.lower(), \
                action.dest
    cache, = [a for a in options if a.dest == "cache"]
    assert "2 GiB" in cache.help


def test_exit_code_table_is_documented():
    assert set(cli.EXIT_CODES) == {0, 1, 2, 130}
    epilog = cli.build_parser().epilog
    for code, meaning in cli.EXIT_CODES.items():
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
