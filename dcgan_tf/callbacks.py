"""Keras callbacks for a GAN run: sample grids, per-step loss log, checkpoints, a NaN guard."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from dcgan_tf import checkpoint, plots
from dcgan_tf.data import to_uint8
from dcgan_tf.runlog import append_rows, keep_rows

LOGGED = ("d_loss", "g_loss", "D(x)", "D(G(z))", "d_grad_norm", "g_grad_norm")
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


class StepValues:
    """Recovers each step's own values from the running means Keras reports.

    Keras' epoch metrics are means that reset each epoch; the value of step k is exactly
    k * mean_k - (k - 1) * mean_(k-1). Call `reset()` at an epoch's start.
    """

    def __init__(self, keys=LOGGED):
        self.keys = keys
        self.reset()

    def reset(self):
        self.prev = None

    def update(self, batch: int, logs) -> dict[str, float]:
        """The values of step `batch` (0-based within the epoch) from its logs."""
        means = {k: float(logs[k]) for k in self.keys if k in (logs or {})}
        k = batch + 1
        values = {key: m * k - (self.prev[key] * (k - 1) if self.prev else 0.0)
                  for key, m in means.items()}
        self.prev = means
        return values


class LearningRates(keras.callbacks.Callback):
    """Adds both optimizers' current learning rates (d_lr, g_lr) to each epoch's logs.

    List it before StepLog and TensorBoard: they then write the rates to log.csv and tb/.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.model.learning_rates())


class StepLog(keras.callbacks.Callback):
    """Appends every step's losses to steps.csv, epoch means to log.csv; redraws loss.png.

    A run resumed at `start_epoch` first drops the rows logged after that epoch's
    checkpoint, which it is about to train again.
    """

    def __init__(self, run_dir, steps_per_epoch: int, start_epoch: int = 0):
        super().__init__()
        self.path = Path(run_dir) / "steps.csv"
        self.epoch_path = Path(run_dir) / "log.csv"
        self.figure = Path(run_dir) / "loss.png"
        self.steps_per_epoch = steps_per_epoch
        self.start_epoch = start_epoch
        self.steps = StepValues()
        self.rows = []

    def on_train_begin(self, logs=None):
        # Left by an interrupt between the log write and the checkpoint, or by a divergence.
        keep_rows(self.path, "step", self.start_epoch * self.steps_per_epoch)
        keep_rows(self.epoch_path, "epoch", self.start_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.steps.reset()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        values = self.steps.update(batch, logs)
        self.rows.append({"step": self.epoch * self.steps_per_epoch + batch + 1, **values})

    def write_steps(self) -> None:
        """Append the steps logged since the last write to steps.csv and redraw loss.png."""
        append_rows(self.path, self.rows, ["step", *LOGGED])
        self.rows = []
        plots.loss_figure(self.path, self.figure)

    def on_epoch_end(self, epoch, logs=None):
        self.write_steps()
        append_rows(self.epoch_path, [{"epoch": epoch + 1, **(logs or {})}],
                    ["epoch", *LOGGED, *RATES])


class NaNGuard(keras.callbacks.Callback):
    """Stops at the first non-finite loss with a message saying what to try.

    `on_diverge` runs first (train() passes StepLog.write_steps, listed before this guard,
    so steps.csv and loss.png keep the diverged epoch up to the bad step).
    """

    def __init__(self, on_diverge=None):
        super().__init__()
        self.on_diverge = on_diverge
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for key in ("d_loss", "g_loss"):
            value = float((logs or {}).get(key, 0.0))
            if not math.isfinite(value):
                if self.on_diverge is not None:
                    self.on_diverge()
                raise TrainingDiverged(
                    f"{key} became {value} in epoch {self.epoch + 1}, step {batch + 1}. "
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
