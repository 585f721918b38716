"""Whole runs: the run folder, exact resume, crash-safe checkpoints, the NaN guard."""

import json

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from dcgan_tf import checkpoint
from dcgan_tf.health import monitor
from dcgan_tf.callbacks import TrainingDiverged
from dcgan_tf.data import make_dataset
from dcgan_tf.gan import LOGGED
from dcgan_tf.runlog import read_columns
from dcgan_tf.train import build_gan, load_run, sample, train


@pytest.fixture(scope="module")
def digits():
    return np.round(load_digits().images[:192] * 255 / 16).astype(np.uint8)[..., None]


class InterruptAt(keras.callbacks.Callback):
    """Simulates Ctrl-C (or a killed Colab runtime) in the middle of an epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


def weights(gan):
    """Every variable a run's result is: G, D, both optimisers' state and the noise seed."""
    groups = {"G": gan.generator.weights, "D": gan.discriminator.weights,
              "D's optimiser": gan.d_optimizer.variables,
              "G's optimiser": gan.g_optimizer.variables}
    empty = [name for name, group in groups.items() if not group]
    assert not empty, f"nothing to compare in {empty}"  # an empty zip would pass anything
    return [w.numpy() for group in groups.values() for w in group] + [
        gan.noise_seed.state.numpy()]


def test_run_folder_holds_everything(tiny_cfg, digits, tmp_path):
    run = tmp_path / "run"
    train(tiny_cfg, digits, run, progress=False, monitor=monitor.watch)
    for name in ("config.json", "checkpoint.npz", "fixed_noise.npy", "steps.csv", "log.csv",
                 "loss.png", "progress.gif", "samples/epoch_000.png", "samples/epoch_002.png",
                 "health.csv", "health.json", "health.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "config.json").read_text())["width"] == 8
    steps = (run / "steps.csv").read_text().splitlines()
    assert len(steps) == 1 + 2 * (192 // 16)
    assert checkpoint.saved_epoch(run) == 2
    imgs = sample(run, n=5, seed=1)
    assert imgs.shape == (5, 32, 32, 1) and imgs.dtype == np.uint8


def test_step_log_recovers_per_step_losses(tiny_cfg, digits, tmp_path):
    """steps.csv, recovered from Keras' running means, holds each step's own losses: those
    train_on_batch reports when it replays the run one batch at a time."""
    run = tmp_path / "run"
    train(tiny_cfg, digits, run, progress=False)
    # The same batches, weights and noise as train(): seeded, then data, then the model.
    keras.utils.set_random_seed(tiny_cfg.seed)
    batches, steps = make_dataset(digits, tiny_cfg, epochs=tiny_cfg.epochs)
    gan = build_gan(tiny_cfg)
    replay = [gan.train_on_batch(x, return_dict=True) for x in batches]

    logged, epochs = read_columns(run / "steps.csv"), read_columns(run / "log.csv")
    assert len(replay) == 2 * steps
    assert logged["step"].tolist() == list(range(1, 2 * steps + 1))
    for key in LOGGED:
        own = np.array([r[key] for r in replay])
        np.testing.assert_allclose(logged[key], own, rtol=1e-4, atol=1e-5, err_msg=key)
        np.testing.assert_allclose(epochs[key], own.reshape(2, steps).mean(axis=1), rtol=1e-4)
    assert len(set(logged["d_loss"].round(6))) == 2 * steps  # really per step, not per epoch


def test_both_learning_rates_reach_log_csv_and_tensorboard(tiny_cfg, digits, tmp_path):
    import tensorflow as tf

    run = tmp_path / "run"
    gan = train(tiny_cfg.replace(learning_rate=3e-4), digits, run, progress=False,
                monitor=monitor.watch)
    assert gan.optimizer is None  # no phantom optimizer for Keras to report
    log = read_columns(run / "log.csv")
    np.testing.assert_allclose(log["d_lr"], [3e-4, 3e-4], rtol=1e-6)
    np.testing.assert_allclose(log["g_lr"], [3e-4, 3e-4], rtol=1e-6)
    scalars = {}
    for events in (run / "tb").rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    np.testing.assert_allclose(scalars["epoch_d_lr"], [3e-4, 3e-4], rtol=1e-6)
    np.testing.assert_allclose(scalars["epoch_g_lr"], [3e-4, 3e-4], rtol=1e-6)
    assert "epoch_learning_rate" not in scalars, sorted(scalars)
    # The health monitor's signals reach TensorBoard too, as health.csv has them.
    health = read_columns(run / "health.csv")
    assert health["epoch"].tolist() == [1, 2]
    for key in ("diversity_pixels", "swing", "fd_pixels", "g_grad_norm"):
        np.testing.assert_allclose(scalars[f"epoch_health/{key}"], health[key], rtol=1e-5)
    np.testing.assert_allclose(health["d_real"], log["D(x)"], rtol=1e-6)


def test_the_health_monitor_leaves_training_unchanged(tiny_cfg, digits, tmp_path):
    """The monitor reads images and renders fixed z, but draws no TF randomness: a run with
    it ends with exactly the weights of a run without it."""
    watched = train(tiny_cfg, digits, tmp_path / "watched", progress=False,
                    monitor=monitor.watch)
    plain = train(tiny_cfg, digits, tmp_path / "plain", progress=False)
    assert (tmp_path / "watched" / "health.csv").is_file()
    assert not (tmp_path / "plain" / "health.csv").exists()
    for a, b in zip(weights(watched), weights(plain), strict=True):
        np.testing.assert_array_equal(a, b)


def test_interrupted_run_resumes_to_the_same_result(tiny_cfg, digits, tmp_path):
    cfg = tiny_cfg.replace(epochs=3)
    straight = train(cfg, digits, tmp_path / "straight", progress=False)

    run = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, digits, run, progress=False, extra_callbacks=[InterruptAt(epoch=1, batch=5)])
    assert checkpoint.saved_epoch(run) == 1
    resumed = train(cfg, digits, run, resume=True, progress=False)

    for a, b in zip(weights(straight), weights(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    log = (run / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["1", "2", "3"]  # no epoch lost or doubled


def test_a_run_does_not_depend_on_what_the_process_seeded_before(tiny_cfg, digits, tmp_path):
    # A notebook trains after other cells have seeded TF; the run must still be the same.
    import tensorflow as tf

    cfg = tiny_cfg.replace(epochs=1)
    results = []
    for i, history in enumerate((123, 456)):
        tf.random.set_seed(history)
        results.append(weights(train(cfg, digits, tmp_path / f"run{i}", progress=False)))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_crash_while_saving_keeps_the_last_good_checkpoint(tiny_cfg, digits, tmp_path,
                                                           monkeypatch):
    run = tmp_path / "run"
    gan = train(tiny_cfg.replace(epochs=1), digits, run, progress=False)
    good = weights(gan)

    def dying_savez(f, **arrays):  # writes half a file, then the machine "dies"
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", dying_savez)
    with pytest.raises(OSError, match="disk full"):
        train(tiny_cfg.replace(epochs=2), digits, run, resume=True, progress=False)
    monkeypatch.undo()
    assert checkpoint.saved_epoch(run) == 1
    for a, b in zip(good, weights(load_run(run)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_refuses_a_different_model(tiny_cfg, digits, tmp_path):
    train(tiny_cfg.replace(epochs=1), digits, tmp_path, progress=False)
    with pytest.raises(ValueError, match="width 8 -> 16"):
        train(tiny_cfg.replace(width=16), digits, tmp_path, resume=True, progress=False)
    with pytest.raises(FileExistsError, match="resume"):
        train(tiny_cfg, digits, tmp_path, progress=False)


def test_nan_loss_stops_with_a_clear_message(tiny_cfg, digits, tmp_path):
    # An absurd learning rate with no momentum damping blows the weights up within steps.
    cfg = tiny_cfg.replace(learning_rate=1e12, beta_1=0.0, epochs=3)
    with pytest.raises(TrainingDiverged, match="last checkpoint"):
        train(cfg, digits, tmp_path / "nan", progress=False, monitor=monitor.watch)
    assert "divergence" in monitor.read_flags(tmp_path / "nan")  # recorded before the stop


class StepReports(keras.callbacks.Callback):
    """Counts the steps Keras reports to callbacks: each report turns the step's logs into
    Python numbers, a wait for the device."""

    def __init__(self):
        super().__init__()
        self.reports = 0

    def on_train_batch_end(self, batch, logs=None):
        self.reports += 1


@pytest.mark.parametrize("per_execution", [1, 4])
def test_the_host_waits_once_per_execution_and_every_step_is_logged(tiny_cfg, digits,
                                                                     tmp_path, per_execution):
    probe = StepReports()
    cfg = tiny_cfg.replace(steps_per_execution=per_execution)
    train(cfg, digits, tmp_path / "run", progress=False, monitor=monitor.watch,
          extra_callbacks=[probe])
    steps = 2 * (192 // 16)  # 12 steps an epoch, a multiple of 4
    assert probe.reports == steps // per_execution
    assert read_columns(tmp_path / "run" / "steps.csv")["step"].tolist() == \
        list(range(1, steps + 1))
    assert len(read_columns(tmp_path / "run" / "health.csv")["epoch"]) == 2


def test_several_steps_per_execution_train_the_same_run(tiny_cfg, digits, tmp_path, capsys):
    """Keras runs whole calls, across epoch boundaries otherwise: 5 steps per call over 12
    steps an epoch would start epoch 2 three batches early. The run uses 4, which divide
    12, and trains, logs and uses every batch as one step per call does."""
    one = train(tiny_cfg, digits, tmp_path / "one", progress=False)
    five = train(tiny_cfg.replace(steps_per_execution=5), digits, tmp_path / "five")
    assert five.steps_per_execution == 4
    assert "steps per call: 4 (of 5 asked for; an epoch has 12 steps" in capsys.readouterr().out
    for a, b in zip(weights(one), weights(five), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    steps_one, steps_five = (read_columns(tmp_path / r / "steps.csv") for r in ("one", "five"))
    assert steps_five["step"].tolist() == list(range(1, 25))
    for key in LOGGED:
        np.testing.assert_allclose(steps_five[key], steps_one[key], rtol=1e-4, atol=1e-6)


def test_the_step_log_says_how_to_get_a_step_buffer(tiny_cfg, digits, tmp_path):
    from dcgan_tf.callbacks import StepLog
    from dcgan_tf.config import InputError

    gan = build_gan(tiny_cfg)  # not through train(): no step buffer
    batches, steps = make_dataset(digits, tiny_cfg, epochs=1)
    with pytest.raises(InputError, match=r"gan.keep_steps\(steps_per_epoch\)"):
        gan.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0,
                callbacks=[StepLog(tmp_path, steps)])
    gan.keep_steps(steps)  # after a fit: the step is traced again, writing to this buffer
    gan.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0,
            callbacks=[StepLog(tmp_path, steps)])
    assert len(read_columns(tmp_path / "steps.csv")["step"]) == steps
