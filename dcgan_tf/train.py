"""train() and sample(): the whole run, as the command line and the notebooks call it.

A run folder holds everything about one run:
  config.json         the DCGANConfig
  checkpoint.npz      both networks, both optimizers, the noise RNG, the epoch (resumable)
  fixed_noise.npy     the z behind every sample grid
  samples/epoch_*.png the fixed-noise grid after each epoch; progress.gif at the end
  log.csv, steps.csv  per-epoch and per-step losses; loss.png plots them
  tb/                 TensorBoard logs
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf import callbacks as cb
from dcgan_tf import checkpoint, plots
from dcgan_tf.config import DCGANConfig
from dcgan_tf.data import make_dataset, to_uint8
from dcgan_tf.gan import DCGAN

N_FIXED = 64  # cells in the sample grid


@contextlib.contextmanager
def dtype_policy(cfg: DCGANConfig):
    """Build layers under mixed_float16 when the config asks for it, then restore."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if cfg.mixed_precision else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_gan(cfg: DCGANConfig, strategy=None) -> DCGAN:
    """A compiled DCGAN, created inside the strategy's scope (the default: one device)."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope(), dtype_policy(cfg):
        gan = DCGAN(cfg)
        gan.compile(jit_compile=cfg.xla)
    return gan


def fixed_noise(cfg: DCGANConfig, n: int = N_FIXED, seed: int | None = None) -> np.ndarray:
    """Latent vectors from the prior, from a numpy RNG (kept apart from the training noise)."""
    rng = np.random.default_rng(cfg.seed + 1 if seed is None else seed)
    if cfg.z_prior == "normal":
        return rng.standard_normal((n, cfg.z_dim)).astype(np.float32)
    return rng.uniform(-1.0, 1.0, (n, cfg.z_dim)).astype(np.float32)


def _check_resume_config(saved: DCGANConfig, given: DCGANConfig, run_dir: Path):
    diff = [f.name for f in dataclasses.fields(saved)
            if f.name != "epochs" and getattr(saved, f.name) != getattr(given, f.name)]
    if diff:
        raise ValueError(
            f"{run_dir}: cannot resume with a different config; changed: "
            + ", ".join(f"{k} {getattr(saved, k)!r} -> {getattr(given, k)!r}" for k in diff)
        )


def train(cfg: DCGANConfig, source="faces", run_dir="runs/faces", *, resume: bool = False,
          strategy=None, verbose="auto", extra_callbacks=(), cache: bool | str = True) -> DCGAN:
    """Train a DCGAN on `source` (see dcgan_tf.data) into `run_dir`; returns the model.

    resume=True continues from the run folder's checkpoint (networks, optimizers, noise RNG,
    epoch) up to cfg.epochs; without it an existing checkpoint is an error, never overwritten.
    """
    run_dir = Path(run_dir)
    has_ckpt = checkpoint.exists(run_dir)
    if has_ckpt and not resume:
        raise FileExistsError(
            f"{run_dir} already holds a checkpoint: resume it (resume=True / --resume) or "
            "choose another run folder"
        )
    if resume and has_ckpt and (run_dir / "config.json").exists():
        _check_resume_config(DCGANConfig.from_json(run_dir / "config.json"), cfg, run_dir)
    start = checkpoint.saved_epoch(run_dir) if resume else 0
    if start >= cfg.epochs:
        print(f"{run_dir}: already trained for {start} epochs (epochs={cfg.epochs}); "
              "nothing to do")
        return load_run(run_dir, strategy)
    # Seed first: tf.data's shuffle seeds combine with TF's global seed, so building the
    # pipeline before seeding made a run depend on what the process had seeded before.
    keras.utils.set_random_seed(cfg.seed)
    # Read the data before touching the run folder: a bad source leaves nothing behind.
    batches, steps = make_dataset(source, cfg, start_epoch=start, epochs=cfg.epochs,
                                  cache=cache)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.to_json(run_dir / "config.json")

    gan = build_gan(cfg, strategy)
    if start > 0:
        checkpoint.restore(gan, run_dir)
    noise_file = run_dir / "fixed_noise.npy"
    if not noise_file.exists():
        np.save(noise_file, fixed_noise(cfg))
    z_fixed = np.load(noise_file)
    if start == 0:  # the grid before any training: the reference point of the GIF
        grid = plots.grid(to_uint8(gan.generate(z_fixed), cfg.pixel_range))
        plots.save_png(grid, run_dir / "samples" / "epoch_000.png", 2)
    callbacks = [
        cb.NaNGuard(),
        cb.StepLog(run_dir, steps),
        cb.SampleGrid(z_fixed, run_dir, cfg.pixel_range),
        keras.callbacks.TensorBoard(str(run_dir / "tb"), write_graph=False),
        cb.EpochCheckpoint(run_dir),
        *extra_callbacks,
    ]
    gan.fit(batches, epochs=cfg.epochs, initial_epoch=start, steps_per_epoch=steps,
            callbacks=callbacks, verbose=verbose, shuffle=False)
    return gan


def train_or_load(cfg: DCGANConfig, source="faces", run_dir="runs/faces", **kwargs) -> DCGAN:
    """Train into run_dir, or resume it, or just load it if it already has cfg.epochs epochs.

    Notebooks call this so re-running a chapter (or a later chapter) reuses a finished run.
    """
    if checkpoint.exists(run_dir):
        return train(cfg, source, run_dir, resume=True, **kwargs)
    return train(cfg, source, run_dir, **kwargs)


def load_run(run_dir, strategy=None) -> DCGAN:
    """The DCGAN of a run folder, with its last checkpoint loaded."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no config.json)")
    cfg = DCGANConfig.from_json(run_dir / "config.json")
    gan = build_gan(cfg, strategy)
    checkpoint.restore(gan, run_dir)
    return gan


def sample(run_dir, n: int = 64, seed: int = 0) -> np.ndarray:
    """n uint8 images from a run's generator, for latent vectors drawn with `seed`."""
    gan = load_run(run_dir)
    z = fixed_noise(gan.cfg, n, seed)
    return to_uint8(gan.generate(z), gan.cfg.pixel_range)
