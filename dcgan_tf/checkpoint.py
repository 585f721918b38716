"""Checkpoints that capture a whole run: both networks, both optimizers, the noise RNG, the epoch.

checkpoint.npz holds every variable keyed by its path ("generator/project/kernel",
"d_optimizer/inner/conv1_kernel_momentum"), so a Keras upgrade that lists variables in
another order still loads each into its own place. Beside it, history/ keeps the generator
that draws samples after each of the last KEEP_EPOCHS epochs (pick the best epoch, not only
the last), and generator.keras is that generator as a plain Keras model, which
keras.saving.load_model opens without this kit. Every file is written through
dcgan_tf.fileio (temporary file, fsync, atomic rename): a crash while saving leaves the
previous one untouched.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np

from dcgan_tf.config import InputError
from dcgan_tf.fileio import atomic_path, atomic_write

CHECKPOINT, HISTORY, EXPORT = "checkpoint.npz", "history", "generator.keras"
KEEP_EPOCHS = 5  # generators kept in history/: about 14 MB each at 64x64, width 64
_BY_POSITION = re.compile(r"^[a-z_]+/\d{3}$")  # the keys of checkpoints before path keys


def _groups(gan) -> dict[str, list]:
    groups = {
        "generator": gan.generator.weights,  # includes BN moving statistics
        "discriminator": gan.discriminator.weights,
        "d_optimizer": gan.d_optimizer.variables,  # iterations, Adam moments (, loss scale)
        "g_optimizer": gan.g_optimizer.variables,
        "noise": [gan.noise_seed.state],
    }
    if gan.g_ema is not None:  # the weight average (cfg.g_ema) is state too
        groups["g_ema"] = gan.g_ema.weights
    return groups


def _path(variable, optimizer=None) -> str:
    """A variable's path without its optimizer's name: Keras numbers auto-named objects per
    process ("adam", "adam_2", ...), so the loading run's names differ from the saving one's.
    """
    path = variable.path
    if optimizer is not None:
        inner = getattr(optimizer, "inner_optimizer", None)
        for owner, role in ((optimizer, ""), (inner, "inner/")):
            if owner is not None and path.startswith(owner.name + "/"):
                return role + path[len(owner.name) + 1:]
    return path


def _variables(gan) -> dict[str, object]:
    """Every piece of state a resumed run needs, keyed by group and path."""
    out = {}
    for group, variables in _groups(gan).items():
        optimizer = getattr(gan, group) if group.endswith("optimizer") else None
        for v in variables:
            key = f"{group}/{_path(v, optimizer)}"
            if key in out:
                raise InputError(f"two variables share the checkpoint key {key!r}")
            out[key] = v
    return out


def _by_position(gan) -> dict[str, object]:
    """The keys older checkpoints used: each variable by its position in its group."""
    return {f"{group}/{i:03d}": v for group, variables in _groups(gan).items()
            for i, v in enumerate(variables)}


def _write_npz(path: Path, arrays: dict) -> None:
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def save(gan, run_dir, epoch: int) -> Path:
    """Write the state after `epoch` completed epochs, the epoch's generator in history/
    (the oldest beyond KEEP_EPOCHS removed) and generator.keras."""
    run_dir = Path(run_dir)
    arrays = {k: np.asarray(v.numpy()) for k, v in _variables(gan).items()}
    _write_npz(run_dir / CHECKPOINT, arrays | {"epoch": np.array(epoch, np.int64)})
    sampler = {_path(w): np.asarray(w.numpy()) for w in gan.sampler.weights}
    _write_npz(run_dir / HISTORY / f"generator_epoch_{epoch:03d}.npz", sampler)
    for old in history(run_dir)[:-KEEP_EPOCHS]:
        (run_dir / HISTORY / f"generator_epoch_{old:03d}.npz").unlink()
    export(gan, run_dir / EXPORT)
    return run_dir / CHECKPOINT


def export(gan, path) -> Path:
    """The generator that draws samples, as a .keras file any Keras 3 opens on its own."""
    with atomic_path(path, suffix=".keras") as tmp:  # Keras wants the suffix in the name
        gan.sampler.save(tmp)
    return Path(path)


def history(run_dir) -> list[int]:
    """The epochs whose generator history/ holds, oldest first."""
    files = (Path(run_dir) / HISTORY).glob("generator_epoch_*.npz")
    return sorted(int(f.stem.rsplit("_", 1)[1]) for f in files)


def load_generator(gan, run_dir, epoch: int) -> keras.Model:
    """Set the sampling generator of `gan` to the one history/ kept after `epoch`."""
    path = Path(run_dir) / HISTORY / f"generator_epoch_{epoch:03d}.npz"
    if not path.is_file():
        raise InputError(f"{path}: no generator kept for epoch {epoch}; kept: "
                         f"{history(run_dir) or 'none'}")
    with np.load(path) as saved:
        _assign(path, {_path(w): w for w in gan.sampler.weights}, saved)
    return gan.sampler


def exists(run_dir) -> bool:
    return (Path(run_dir) / CHECKPOINT).is_file()


def saved_epoch(run_dir) -> int:
    """Completed epochs recorded in a run folder's checkpoint (0 if there is none)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        return 0
    with np.load(path) as ckpt:
        return int(ckpt["epoch"])


def _assign(path: Path, variables: dict, saved) -> None:
    keys = set(saved.files) - {"epoch"}
    if keys != set(variables):
        missing, extra = sorted(set(variables) - keys), sorted(keys - set(variables))
        raise InputError(
            f"{path} does not match this model (was it saved with another config?): "
            f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {extra[:3]}{'...' if len(extra) > 3 else ''}")
    for key, var in variables.items():
        value = saved[key]
        if tuple(value.shape) != tuple(var.shape):
            raise InputError(f"{path}: {key} has shape {value.shape}, model has {var.shape}")
        var.assign(value)


def restore(gan, run_dir) -> int:
    """Load a checkpoint into a compiled DCGAN; returns the number of completed epochs."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume from")
    gan.build_optimizers()
    with np.load(path) as ckpt:
        old = any(_BY_POSITION.match(k) for k in ckpt.files)
        _assign(path, _by_position(gan) if old else _variables(gan), ckpt)
        return int(ckpt["epoch"])
