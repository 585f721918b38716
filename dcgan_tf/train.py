"""train() and sample(): the whole run, as the command line and the notebooks call it.

A run folder holds everything about one run:
  config.json         the DCGANConfig
  data.json           the data source, so a resumed run trains on the same data
  checkpoint.npz      both networks, both optimizers, the noise RNG, the epoch (resumable)
  history/            the sampling generator of each of the last 5 epochs (sample --epoch)
  generator.keras     that generator as a plain Keras model (keras.saving.load_model)
  fixed_noise.npy     the z behind every sample grid
  samples/epoch_*.png the fixed-noise grid after each epoch; progress.gif at the end
  log.csv, steps.csv  per-epoch losses and learning rates, per-step losses; loss.png plots them
  health.csv/.json    with monitor=watch (dcgan_tf.health): its signals, verdicts, health.png
  tb/                 TensorBoard logs
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf import callbacks as cb
from dcgan_tf import checkpoint, devices, plots, seeds
from dcgan_tf.config import DCGANConfig, InputError
from dcgan_tf.data import make_dataset, to_uint8
from dcgan_tf.fileio import atomic_write, read_json, write_json
from dcgan_tf.gan import DCGAN
from dcgan_tf.prior import sample_z

N_FIXED = 64  # cells in the sample grid
RESUME_MAY_CHANGE = ("epochs", "xla", "steps_per_execution")
DEFAULT_SOURCE = "faces"
DATA_FILE = "data.json"
ARRAY = "<array>"  # data.json's name for a source passed in memory
# What a fresh run replaces; anything else in the folder (the user's own files) stays.
# (The health monitor starts its own files afresh.)
RUN_FILES = ("fixed_noise.npy", "steps.csv", "log.csv", "loss.png", "progress.gif",
             "report.json", DATA_FILE, checkpoint.EXPORT)
RUN_GLOBS = ("samples/epoch_*.png", "tb/**/events.out.tfevents.*",
             f"{checkpoint.HISTORY}/generator_epoch_*.npz")


@contextlib.contextmanager
def dtype_policy(cfg: DCGANConfig):
    """Build layers under mixed_float16 when the config asks for it, then restore."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if cfg.mixed_precision else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def keras_verbose(progress: bool) -> str | int:
    """Keras' fit verbosity for the kit's one progress flag: a bar, or silence."""
    return "auto" if progress else 0


def build_gan(cfg: DCGANConfig, strategy=None, steps_per_epoch: int | None = None) -> DCGAN:
    """A compiled DCGAN, created inside the strategy's scope (the default: one device);
    cfg.steps_per_execution fitted to `steps_per_epoch` (devices.steps_per_call)."""
    strategy = strategy or tf.distribute.get_strategy()
    jit = devices.jit_compile(cfg.xla, strategy)  # before building: a refusal costs nothing
    per_call = devices.steps_per_call(cfg.steps_per_execution, steps_per_epoch, strategy)
    with strategy.scope(), dtype_policy(cfg):
        gan = DCGAN(cfg)
        gan.compile(jit_compile=jit, steps_per_execution=per_call)
    return gan


def fixed_noise(cfg: DCGANConfig, n: int = N_FIXED, seed: int | None = None) -> np.ndarray:
    """Latent vectors from the prior, from a numpy RNG (kept apart from the training noise)."""
    seed = cfg.seed + seeds.FIXED_NOISE_OFFSET if seed is None else seed
    return sample_z(cfg, n, seed)


def describe_source(source) -> dict:
    """data.json's record of a source: its name or path, or the shape of an array."""
    if isinstance(source, (str, os.PathLike)):
        src = str(source)
        # A folder is recorded by its absolute path, so a resume from elsewhere finds it.
        return {"source": str(Path(src).resolve()) if Path(src).exists() else src}
    images = np.asarray(source[0] if isinstance(source, tuple) else source)
    return {"source": ARRAY, "shape": list(images.shape), "dtype": str(images.dtype)}


def _show(record: dict) -> str:
    if record["source"] == ARRAY:
        return f"{ARRAY!r} (an in-memory array {tuple(record['shape'])} {record['dtype']})"
    return repr(record["source"])


def recorded_source(run_dir):
    """The data source recorded in a run folder: a name or path, "<array>", or None."""
    path = Path(run_dir) / DATA_FILE
    return read_json(path)["source"] if path.is_file() else None


def _resume_source(source, run_dir: Path):
    """The source a resumed run trains on: the recorded one, which `source` must match."""
    path = run_dir / DATA_FILE
    if not path.is_file():  # a run folder from before data.json
        if source is None:
            raise InputError(f"{run_dir}: no {DATA_FILE} records what this run trained on; "
                             "give its data source again (source= / --data)")
        return source
    recorded = read_json(path)
    if source is None:
        if recorded["source"] == ARRAY:
            raise InputError(f"{run_dir} was trained on {_show(recorded)}: pass the same "
                             "array again as the source to resume it")
        return recorded["source"]
    if describe_source(source) != recorded:
        raise InputError(f"{run_dir} was trained on {_show(recorded)}, not on "
                         f"{_show(describe_source(source))}: resume it with its own data (or none, "
                         "to use the recorded one), or train into another run folder")
    return source


def _start_clean(run_dir: Path) -> None:
    """Remove what an earlier run without a checkpoint left, before a fresh run writes."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for pattern in RUN_GLOBS:
        for path in run_dir.glob(pattern):
            path.unlink()


def check_same_config(saved: DCGANConfig, given: DCGANConfig, run_dir: Path) -> None:
    """InputError naming every field in which `given` differs from `saved`, but epochs and
    how steps are run (xla, steps_per_execution), which may change with the machine."""
    diff = [f.name for f in dataclasses.fields(saved) if f.name not in RESUME_MAY_CHANGE
            and getattr(saved, f.name) != getattr(given, f.name)]
    if diff:
        raise InputError(
            f"{run_dir}: cannot resume with a different config; changed: "
            + ", ".join(f"{k} {getattr(saved, k)!r} -> {getattr(given, k)!r}" for k in diff)
        )


def train(cfg: DCGANConfig, source=None, run_dir="runs/faces", *, resume: bool = False,
          strategy=None, progress: bool = True, extra_callbacks=(),
          cache: bool | str | os.PathLike = "auto", monitor=None) -> DCGAN:
    """Train a DCGAN on `source` (see dcgan_tf.data) into `run_dir`; returns the model.

    resume=True continues from the run folder's checkpoint (networks, optimizers, noise RNG,
    epoch) up to cfg.epochs, on the data recorded in data.json (source=None) or on `source`,
    which must be that data. Without resume an existing checkpoint is an error, never
    overwritten. A fresh run trains on "faces" unless told otherwise, and replaces whatever
    an earlier run without a checkpoint left in the folder. `cache`: see make_dataset.
    `monitor(source, cfg, run_dir, start_epoch)` builds a callback that watches the run,
    such as the training-health monitor: monitor=dcgan_tf.health.watch.
    """
    run_dir = Path(run_dir)
    has_ckpt = checkpoint.exists(run_dir)
    if has_ckpt and not resume:
        raise FileExistsError(
            f"{run_dir} already holds a checkpoint: resume it (resume=True / --resume) or "
            "choose another run folder"
        )
    start = checkpoint.saved_epoch(run_dir) if resume else 0
    if start > 0:
        if (run_dir / "config.json").exists():
            check_same_config(DCGANConfig.from_json(run_dir / "config.json"), cfg, run_dir)
        source = _resume_source(source, run_dir)
    elif source is None:
        source = DEFAULT_SOURCE
    if start >= cfg.epochs:
        print(f"{run_dir}: already trained for {start} epochs (epochs={cfg.epochs}); "
              "nothing to do")
        return load_run(run_dir, strategy)
    strategy = strategy or tf.distribute.get_strategy()
    devices.jit_compile(cfg.xla, strategy)  # a refused combination stops before any work
    # Before seeding: the health monitor's probes (trained once per cache) seed on their own.
    watcher = monitor(source, cfg, run_dir, start) if monitor is not None else None
    # Seed first: tf.data's shuffle seeds combine with TF's global seed, so building the
    # pipeline before seeding made a run depend on what the process had seeded before.
    keras.utils.set_random_seed(cfg.seed)
    # Read the data before touching the run folder: a bad source leaves nothing behind.
    # uint8 batches: a quarter of float32's bytes cross to the device; the step scales them.
    batches, steps = make_dataset(source, cfg, start_epoch=start, epochs=cfg.epochs,
                                  cache=cache, scaled=False)
    z_fixed = _prepare_folder(run_dir, cfg, source, fresh=start == 0)
    if progress:
        print(devices.describe(strategy))
    slow = devices.cpu_warning(cfg, steps * cfg.batch_size)
    if slow:
        print(slow)
    gan = build_gan(cfg, strategy, steps)
    if progress and gan.steps_per_execution != cfg.steps_per_execution:
        print(f"steps per call: {gan.steps_per_execution} (of {cfg.steps_per_execution} asked "
              f"for; an epoch has {steps} steps, on {strategy.num_replicas_in_sync} replica(s))")
    gan.keep_steps(steps)  # per-step values stay on the device until the epoch ends
    if start > 0:
        checkpoint.restore(gan, run_dir)
    else:  # the grid before any training: the reference point of the GIF
        grid = plots.grid(to_uint8(gan.generate(z_fixed), cfg.pixel_range))
        plots.save_png(grid, run_dir / "samples" / "epoch_000.png", 2)
    callbacks = run_callbacks(run_dir, cfg, steps, start, z_fixed, watcher)
    gan.fit(batches, epochs=cfg.epochs, initial_epoch=start, steps_per_epoch=steps,
            callbacks=[*callbacks, *extra_callbacks], verbose=keras_verbose(progress),
            shuffle=False)
    return gan


def run_callbacks(run_dir: Path, cfg: DCGANConfig, steps: int, start: int, z_fixed,
                  watcher=None) -> list:
    """The callbacks of a run, in the order they must run. None has a per-step hook: each
    step's values come from the model's StepBuffer once per epoch, so they stay right with
    several steps per execution, when Keras reports only every k-th step."""
    return [
        cb.LearningRates(),  # first: the callbacks below write the rates it adds
        cb.StepLog(run_dir, steps, start),  # resets the step buffer: before its readers
        *([watcher] if watcher else []),  # before NaNGuard: it records a divergence
        cb.NaNGuard(),  # before anything saves or draws the diverged weights
        cb.SampleGrid(z_fixed, run_dir, cfg.pixel_range),
        keras.callbacks.TensorBoard(str(run_dir / "tb"), write_graph=False),
        cb.EpochCheckpoint(run_dir),
    ]


def _prepare_folder(run_dir: Path, cfg: DCGANConfig, source, fresh: bool) -> np.ndarray:
    """Write config.json and data.json (after a clean start if fresh); the fixed noise."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        _start_clean(run_dir)
    cfg.to_json(run_dir / "config.json")
    if not (run_dir / DATA_FILE).exists():
        write_json(run_dir / DATA_FILE, describe_source(source))
    noise_file = run_dir / "fixed_noise.npy"
    if not noise_file.exists():
        with atomic_write(noise_file) as f:
            np.save(f, fixed_noise(cfg))
    return np.load(noise_file)


def train_or_load(cfg: DCGANConfig, source=None, run_dir="runs/faces", **kwargs) -> DCGAN:
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


def sample(run_dir, n: int = 64, seed: int = 0, epoch: int | None = None) -> np.ndarray:
    """n uint8 images from a run's generator (after `epoch`, if history/ kept it; else the
    last), for latent vectors drawn with `seed`."""
    gan = load_run(run_dir)
    if epoch is not None:
        checkpoint.load_generator(gan, run_dir, epoch)
    z = fixed_noise(gan.cfg, n, seed)
    return to_uint8(gan.generate(z), gan.cfg.pixel_range)
