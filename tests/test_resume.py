"""Reusing a run folder: mixed-precision resume, the recorded data source, clean fresh starts,
and logs that neither lose nor repeat rows around a divergence or an interrupt."""

import json
import re

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from dcgan_tf import callbacks, checkpoint
from dcgan_tf import train as train_module
from dcgan_tf.callbacks import TrainingDiverged
from dcgan_tf.runlog import read_columns
from dcgan_tf.train import load_run, sample, train


@pytest.fixture(scope="module")
def digits():
    return np.round(load_digits().images[:192] * 255 / 16).astype(np.uint8)[..., None]


def state(gan):
    return [w.numpy() for w in gan.generator.weights + gan.discriminator.weights
            + gan.d_optimizer.variables + gan.g_optimizer.variables] + [
        gan.noise_seed.state.numpy()]


def assert_same_state(a, b):
    assert len(state(a)) == len(state(b))
    for x, y in zip(state(a), state(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_mixed_precision_run_saves_loads_and_resumes_exactly(tmp_path):
    # The paper's digits at batch 128: 14 float16 steps per epoch, slow but bearable on a CPU.
    from dcgan_tf.config import DCGANConfig

    cfg = DCGANConfig(resolution=32, width=8, batch_size=128, epochs=2, channels=1,
                      mixed_precision=True)
    straight = train(cfg, "digits", tmp_path / "straight", progress=False)
    run = tmp_path / "resumed"
    first = train(cfg.replace(epochs=1), "digits", run, progress=False)
    loaded = load_run(run)
    assert_same_state(first, loaded)  # the loss scales and their step counters included
    scales = [v for v in loaded.d_optimizer.variables if v.path.endswith("dynamic_scale")]
    assert len(scales) == 1  # built once, not once per build call
    assert sample(run, n=4).shape == (4, 32, 32, 1)
    resumed = train(cfg, None, run, resume=True, progress=False)
    assert_same_state(straight, resumed)


def test_resume_trains_on_the_recorded_source(tiny_cfg, digits, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(tiny_cfg.replace(epochs=1), "digits", run, progress=False)
    assert json.loads((run / "data.json").read_text())["source"] == "digits"
    seen = []
    real = train_module.make_dataset
    monkeypatch.setattr(train_module, "make_dataset",
                        lambda source, *a, **k: seen.append(source) or real(source, *a, **k))
    train(tiny_cfg, None, run, resume=True, progress=False)
    assert seen == ["digits"]


def test_resume_with_another_source_names_both(tiny_cfg, tmp_path):
    run = tmp_path / "run"
    train(tiny_cfg.replace(epochs=1), "digits", run, progress=False)
    with pytest.raises(ValueError, match=r"'digits'.*'faces:256'"):
        train(tiny_cfg, "faces:256", run, resume=True, progress=False)
    assert checkpoint.saved_epoch(run) == 1


def test_an_array_run_must_be_given_its_array_again(tiny_cfg, digits, tmp_path):
    run = tmp_path / "run"
    train(tiny_cfg.replace(epochs=1), digits, run, progress=False)
    assert json.loads((run / "data.json").read_text())["source"] == "<array>"
    with pytest.raises(ValueError, match="in-memory array"):
        train(tiny_cfg, None, run, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"'<array>'.*'digits'"):
        train(tiny_cfg, "digits", run, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"\(192, 8, 8, 1\).*\(96, 8, 8, 1\)"):
        train(tiny_cfg, digits[:96], run, resume=True, progress=False)
    train(tiny_cfg, digits, run, resume=True, progress=False)
    assert checkpoint.saved_epoch(run) == 2


def test_a_fresh_run_without_a_source_trains_on_faces(tiny_cfg, tmp_path, monkeypatch):
    class Stop(Exception):
        pass

    def fake_make_dataset(source, *args, **kwargs):
        raise Stop(source)

    monkeypatch.setattr(train_module, "make_dataset", fake_make_dataset)
    with pytest.raises(Stop, match="^faces$"):
        train(tiny_cfg, None, tmp_path / "run", progress=False)


def test_a_diverged_epoch_keeps_its_steps_up_to_the_bad_one(tiny_cfg, digits, tmp_path):
    # An absurd learning rate with no momentum damping blows the weights up within steps.
    cfg = tiny_cfg.replace(learning_rate=1e12, beta_1=0.0, epochs=3)
    run = tmp_path / "nan"
    with pytest.raises(TrainingDiverged, match="last checkpoint") as info:
        train(cfg, digits, run, progress=False)
    assert (run / "steps.csv").is_file() and (run / "loss.png").is_file()
    steps = read_columns(run / "steps.csv")
    bad = ~(np.isfinite(steps["d_loss"]) & np.isfinite(steps["g_loss"]))
    assert bad[-1] and not bad[:-1].any()  # every step up to and including the bad one
    assert steps["step"].tolist() == list(range(1, len(bad) + 1))
    epoch, step = re.search(r"epoch (\d+), step (\d+)", str(info.value)).groups()
    assert (int(epoch) - 1) * 12 + int(step) == len(bad)  # 192 images, batches of 16


def test_an_interrupt_between_log_and_checkpoint_repeats_no_row(tiny_cfg, digits, tmp_path,
                                                                monkeypatch):
    cfg = tiny_cfg.replace(epochs=3)
    train(cfg, digits, tmp_path / "straight", progress=False)

    real_save = checkpoint.save

    def interrupted_save(gan, run_dir, epoch):
        if epoch == 2:  # the logs of epoch 2 are written, its checkpoint is not
            raise KeyboardInterrupt
        return real_save(gan, run_dir, epoch)

    run = tmp_path / "run"
    monkeypatch.setattr(callbacks.checkpoint, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, digits, run, progress=False)
    monkeypatch.undo()
    assert checkpoint.saved_epoch(run) == 1
    assert read_columns(run / "log.csv")["epoch"].tolist() == [1, 2]
    train(cfg, digits, run, resume=True, progress=False)

    for name, key in (("log.csv", "epoch"), ("steps.csv", "step")):
        got = read_columns(run / name)
        want = read_columns(tmp_path / "straight" / name)
        assert got[key].tolist() == want[key].tolist(), name
        for column in want:
            np.testing.assert_allclose(got[column], want[column], rtol=1e-4, atol=1e-5)


def test_a_reused_folder_without_checkpoint_starts_clean(tiny_cfg, digits, tmp_path):
    run = tmp_path / "run"
    train(tiny_cfg.replace(z_dim=8, epochs=2), digits, run, progress=False)
    (run / "checkpoint.npz").unlink()  # a run that left its files but no checkpoint
    (run / "report.json").write_text("{}")
    (run / "notes.txt").write_text("the user's own file")

    train(tiny_cfg.replace(z_dim=16, epochs=1), digits, run, progress=False)
    assert np.load(run / "fixed_noise.npy").shape == (64, 16)
    assert read_columns(run / "steps.csv")["step"].tolist() == list(range(1, 13))
    assert read_columns(run / "log.csv")["epoch"].tolist() == [1]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_000.png",
                                                                   "epoch_001.png"]
    assert Image.open(run / "progress.gif").n_frames == 2
    assert len(list((run / "tb").rglob("events.out.tfevents.*"))) == 1
    assert not (run / "report.json").exists()  # it scored another run
    assert (run / "notes.txt").read_text() == "the user's own file"
