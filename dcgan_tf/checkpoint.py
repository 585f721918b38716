"""Checkpoints that capture a whole run: both networks, both optimizers, the noise RNG, the epoch.

One .npz file holds every variable by its position. It is written through dcgan_tf.fileio
(a temporary file, fsync, atomic rename): a crash while saving leaves the previous
checkpoint untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dcgan_tf.config import InputError
from dcgan_tf.fileio import atomic_write

CHECKPOINT = "checkpoint.npz"


def _variables(gan) -> dict[str, object]:
    """Every piece of state a resumed run needs, keyed by a stable name."""
    groups = {
        "generator": gan.generator.weights,  # includes BN moving statistics
        "discriminator": gan.discriminator.weights,
        "d_optimizer": gan.d_optimizer.variables,  # iterations, Adam moments (, loss scale)
        "g_optimizer": gan.g_optimizer.variables,
        "noise": [gan.noise_seed.state],
    }
    if gan.g_ema is not None:  # the weight average (cfg.g_ema) is state too
        groups["g_ema"] = gan.g_ema.weights
    # Keyed by position, not by name: Keras numbers its auto-named objects per process
    # ("adam", "adam_2", ...), so names differ between the saving and the loading run.
    return {f"{group}/{i:03d}": v for group, variables in groups.items()
            for i, v in enumerate(variables)}


def save(gan, run_dir, epoch: int) -> Path:
    """Write the state after `epoch` completed epochs; atomic (write, fsync, rename)."""
    final = Path(run_dir) / CHECKPOINT
    arrays = {k: np.asarray(v.numpy()) for k, v in _variables(gan).items()}
    arrays["epoch"] = np.array(epoch, np.int64)
    with atomic_write(final) as f:
        np.savez(f, **arrays)
    return final


def exists(run_dir) -> bool:
    return (Path(run_dir) / CHECKPOINT).is_file()


def saved_epoch(run_dir) -> int:
    """Completed epochs recorded in a run folder's checkpoint (0 if there is none)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        return 0
    with np.load(path) as ckpt:
        return int(ckpt["epoch"])


def restore(gan, run_dir) -> int:
    """Load a checkpoint into a compiled DCGAN; returns the number of completed epochs."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume from")
    gan.build_optimizers()
    variables = _variables(gan)
    with np.load(path) as ckpt:
        saved = set(ckpt.files) - {"epoch"}
        if saved != set(variables):
            missing, extra = sorted(set(variables) - saved), sorted(saved - set(variables))
            raise InputError(
                f"{path} does not match this model (was it saved with another config?): "
                f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                f"unexpected {extra[:3]}{'...' if len(extra) > 3 else ''}"
            )
        for key, var in variables.items():
            value = ckpt[key]
            if tuple(value.shape) != tuple(var.shape):
                raise InputError(
                    f"{path}: {key} ({var.path}) has shape {value.shape}, model has {var.shape}"
                )
            var.assign(value)
        return int(ckpt["epoch"])
