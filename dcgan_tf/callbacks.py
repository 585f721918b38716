"""Keras callbacks for a GAN run: sample grids, per-step loss log, checkpoints, a NaN guard."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from PIL import Image

from dcgan_tf import checkpoint, plots
from dcgan_tf.config import InputError
from dcgan_tf.data import to_uint8
from dcgan_tf.gan import LOGGED
from dcgan_tf.runlog import append_rows, keep_rows

RATES = ("d_lr", "g_lr")  # added to each epoch's logs by LearningRates


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class SampleGrid(keras.callbacks.Callback):
    """Renders the same fixed noise after every epoch, and a progress GIF at the end.

    Fixed noise makes the grids comparable: each cell follows one z through training.
    """

    def __init__(self, fixed_z, run_dir, pixel_range=(-1.0, 1.0), scale: int = 2):
        super().__init__()
        self.fixed_z = np.asarray(fixed_z, np.float32)
        self.dir = Path(run_dir) / "samples"
        self.pixel_range = pixel_range
        self.scale = scale

    def on_epoch_end(self, epoch, logs=None):
        images = to_uint8(self.model.generate(self.fixed_z), self.pixel_range)
        plots.save_png(plots.grid(images), self.dir / f"epoch_{epoch + 1:03d}.png", self.scale)

    def on_train_end(self, logs=None):
        files = sorted(self.dir.glob("epoch_*.png"))
        if files:
            frames = [np.asarray(Image.open(f).convert("RGB")) for f in files]
            plots.save_gif(frames, self.dir.parent / "progress.gif")


class LearningRates(keras.callbacks.Callback):
    """Adds both optimizers' current learning rates (d_lr, g_lr) to each epoch's logs.

    List it before StepLog and TensorBoard: they then write the rates to log.csv and tb/.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.model.learning_rates())


def step_buffer(model):
    """The model's StepBuffer, or an error saying how to get one."""
    if getattr(model, "step_buffer", None) is None:
        raise InputError("these callbacks read each step from the model's step buffer: call "
                         "gan.keep_steps(steps_per_epoch) before fit() (train() does)")
    return model.step_buffer


def epoch_steps(model) -> tuple[dict[str, np.ndarray], tuple[int, str, float] | None]:
    """The epoch's per-step values (the model's StepBuffer) and, if a loss became
    non-finite, (1-based step, loss name, value) at the first such step (else None): the
    values stop there, as what came after it is not training."""
    values = step_buffer(model).read()
    finite = np.isfinite(values["d_loss"]) & np.isfinite(values["g_loss"])
    if finite.all():
        return values, None
    step = int(np.flatnonzero(~finite)[0]) + 1
    key = "d_loss" if not np.isfinite(values["d_loss"][step - 1]) else "g_loss"
    return {k: v[:step] for k, v in values.items()}, (step, key, float(values[key][step - 1]))


class StepLog(keras.callbacks.Callback):
    """Appends every step's losses to steps.csv, epoch means to log.csv; redraws loss.png.

    The steps come from the model's StepBuffer once per epoch, so every step is logged
    whatever the steps per call. A run resumed at `start_epoch` first drops the rows
    logged after that epoch's checkpoint, which it is about to train again. A diverged
    epoch keeps its steps up to the bad one and no epoch row.
    """

    def __init__(self, run_dir, steps_per_epoch: int, start_epoch: int = 0):
        super().__init__()
        self.path = Path(run_dir) / "steps.csv"
        self.epoch_path = Path(run_dir) / "log.csv"
        self.figure = Path(run_dir) / "loss.png"
        self.steps_per_epoch = steps_per_epoch
        self.start_epoch = start_epoch

    def on_train_begin(self, logs=None):
        # Left by an interrupt between the log write and the checkpoint, or by a divergence.
        keep_rows(self.path, "step", self.start_epoch * self.steps_per_epoch)
        keep_rows(self.epoch_path, "epoch", self.start_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        step_buffer(self.model).reset()  # first: every reader of the buffer is listed after it

    def on_epoch_end(self, epoch, logs=None):
        values, bad = epoch_steps(self.model)
        first = epoch * self.steps_per_epoch + 1
        rows = [{"step": first + i, **{k: float(v[i]) for k, v in values.items()}}
                for i in range(len(values["d_loss"]))]
        append_rows(self.path, rows, ["step", *LOGGED])
        plots.loss_figure(self.path, self.figure)
        if bad is None:
            append_rows(self.epoch_path, [{"epoch": epoch + 1, **(logs or {})}],
                        ["epoch", *LOGGED, *RATES])


class NaNGuard(keras.callbacks.Callback):
    """Stops at the end of an epoch in which a loss became NaN or infinite, before its
    weights are saved, with a message naming the step and saying what to try."""

    def on_epoch_end(self, epoch, logs=None):
        _, bad = epoch_steps(self.model)
        if bad is not None:
            step, key, value = bad
            raise TrainingDiverged(
                f"{key} became {value} in epoch {epoch + 1}, step {step}. "
                "Training diverged; the last checkpoint (end of the previous epoch) is "
                "intact. Try a lower learning rate, the paper's guideline settings, or "
                "mixed_precision=False."
            )


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole run state after every epoch (atomic: a crash keeps the last one)."""

    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs=None):
        checkpoint.save(self.model, self.run_dir, epoch + 1)
