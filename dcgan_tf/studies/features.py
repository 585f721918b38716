"""The discriminator as a feature extractor (docs/paper_notes.md §5.1): D's conv features.

The paper's recipe: take every conv layer of D after its activation, max-pool each to a 4x4
grid, flatten and concatenate them; a linear L2-SVM on that vector classifies the images
(dcgan_tf.studies.linear_eval). Two details matter and are easy to get wrong:

* BatchNorm runs in inference mode with statistics that describe the training set: the
  mean of the per-batch statistics over it, as the authors computed them. The moving
  averages a run ends with describe only its last few dozen batches (momentum 0.9).
* The trained model is never changed: the statistics go into a copy of D.

Features are extracted in batches into a float16 array, on disk if a path is given, so 73k
SVHN images x 15k features need about 2 GB of disk and almost no RAM.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from dcgan_tf.config import InputError
from dcgan_tf.data import to_model_range
from dcgan_tf.fileio import atomic_path
from dcgan_tf.inference import batches

GRID = 4  # every layer's maps are max-pooled to GRID x GRID, as in the paper


def conv_activations(discriminator: keras.Model) -> list[keras.layers.Layer]:
    """D's activation layers that follow a conv layer, from the input up (names act1...)."""
    acts = [layer for layer in discriminator.layers if layer.name.startswith("act")]
    if not acts:
        raise InputError(f"{discriminator.name}: no activation layers named act1, act2, ...")
    return acts


def copy_model(model: keras.Model) -> keras.Model:
    """A copy with its own weights: whatever is done to it leaves `model` as it was."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def fresh_copy(model: keras.Model) -> keras.Model:
    """The same architecture with new weights: clone_model rebuilds every layer from its
    config, drawing from the same initialisers (keras.utils.set_random_seed repeats them)."""
    return keras.models.clone_model(model)


def with_dataset_batchnorm(discriminator: keras.Model, images, pixel_range=(-1.0, 1.0),
                           batch_size: int = 128) -> keras.Model:
    """A copy of D whose BatchNorm layers hold the mean, over the batches of `images` (uint8),
    of the statistics each layer computes in training mode, as D saw its data in training.

    D itself is not changed. A D without BatchNorm is returned as a plain copy.
    """
    d = copy_model(discriminator)
    bns = [layer for layer in d.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return d
    # One pass in training mode: each BN normalises with its own batch's statistics (as in
    # training), and the model returns every BN layer's input to take those statistics from.
    taps = keras.Model(d.inputs, [bn.input for bn in bns])
    sums = [[np.zeros(bn.input.shape[-1]), np.zeros(bn.input.shape[-1])] for bn in bns]
    n_batches = 0
    for batch in batches(images, batch_size):
        outs = taps(to_model_range(batch, pixel_range), training=True)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for acc, x in zip(sums, outs):
            mean, var = tf.nn.moments(tf.cast(x, tf.float32), axes=[0, 1, 2])
            acc[0] += mean.numpy()
            acc[1] += var.numpy()
        n_batches += 1
    if n_batches == 0:
        raise InputError("with_dataset_batchnorm needs at least one image")
    for bn, (mean_sum, var_sum) in zip(bns, sums):
        bn.moving_mean.assign(mean_sum / n_batches)
        bn.moving_variance.assign(var_sum / n_batches)
    return d


def feature_model(discriminator: keras.Model, grid: int = GRID) -> keras.Model:
    """image -> the paper's feature vector: every conv activation max-pooled to grid x grid
    (layers already at or below grid x grid are kept as they are), flattened, concatenated."""
    parts = []
    for act in conv_activations(discriminator):
        x, side = act.output, act.output.shape[1]
        if side > grid:
            if side % grid:
                raise InputError(f"{act.name}: side {side} is not a multiple of {grid}")
            x = keras.layers.MaxPooling2D(side // grid, name=f"{act.name}_pool")(x)
        parts.append(keras.layers.Flatten(name=f"{act.name}_flat")(x))
    out = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="features")(parts)
    return keras.Model(discriminator.inputs, out, name="d_features")


def feature_layout(discriminator: keras.Model, grid: int = GRID) -> list[tuple]:
    """(layer name, its maps' shape, pooled shape, features) per conv activation: what
    feature_model concatenates, for tables and the pyramid figure."""
    rows = []
    for act in conv_activations(discriminator):
        h, w, c = act.output.shape[1:]
        ph, pw = min(h, grid), min(w, grid)
        rows.append((act.name, (h, w, c), (ph, pw, c), ph * pw * c))
    return rows


def extractor(discriminator: keras.Model, images, pixel_range=(-1.0, 1.0),
              grid: int = GRID) -> keras.Model:
    """The feature model of a copy of D with BatchNorm statistics of `images` (its
    training images, uint8)."""
    return feature_model(with_dataset_batchnorm(discriminator, images, pixel_range), grid)


def extract(model: keras.Model, images, pixel_range=(-1.0, 1.0), batch_size: int = 256,
            path=None, progress: bool = False) -> np.ndarray:
    """Features of uint8 `images` (an array or anything sliceable) as float16, in batches.

    With `path` they are written to a .npy file (atomically, once complete) and returned
    memory-mapped, so a large set never sits in RAM. `model.rate` holds features/s after.
    """
    n, dim = len(images), int(model.output.shape[-1])
    start = time.perf_counter()
    if path is None:
        out = np.empty((n, dim), np.float16)
        _fill(model, images, out, pixel_range, batch_size, progress)
    else:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".tmp.npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(n, dim))
            _fill(model, images, out, pixel_range, batch_size, progress)
            out.flush()
            del out
        out = np.load(path, mmap_mode="r")
    model.rate = n / max(time.perf_counter() - start, 1e-9)  # images per second
    return out


def _fill(model, images, out, pixel_range, batch_size, progress):
    done = 0
    with tqdm(total=len(images), desc="features", unit="img", disable=not progress) as bar:
        for batch in batches(images, batch_size):
            feats = model(to_model_range(batch, pixel_range), training=False)
            out[done:done + len(batch)] = np.asarray(feats, np.float32).astype(np.float16)
            done += len(batch)
            bar.update(len(batch))
