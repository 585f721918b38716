"""Guided backpropagation through D (Springenberg et al. 2014; docs/paper_notes.md §6.2).

The paper shows that features of the trained discriminator respond to beds and windows,
while those of a randomly initialised D of the same architecture respond to nothing in
particular. To see what one unit responds to, its gradient is taken back to the input image
with every activation's backward pass *guided*: the gradient passes a unit only where that
unit's forward input was positive AND the gradient arriving from above is positive. Plain
gradients also carry "this pixel would lower the unit" evidence; the guided rule keeps only
the pixels that excite it, which is what makes the pictures readable.

LeakyReLU: the forward pass is unchanged (the unit sees exactly the activations the trained
D computes), but in the backward pass the negative side's slope (0.2) is dropped, so the
rule is the same as for ReLU. Keeping 0.2 * gradient there would let pixels that push a
unit's input below zero through, the very evidence the guided rule exists to remove.

BatchNorm runs in inference mode, so every image's gradient is independent of the others in
its batch. The trained D is never changed: the guided network is a rebuilt copy.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from dcgan_tf.config import InputError
from dcgan_tf.data import to_model_range, to_uint8
from dcgan_tf.inference import batches
from dcgan_tf.plots import grid, new_figure, save_figure
from dcgan_tf.studies.features import (conv_activations, copy_model, fresh_copy,
                                       with_dataset_batchnorm)


def _guided_relu(x, slope: float):
    """max(x, slope * x) forward; the guided rule backward (slope dropped, see above)."""

    @tf.custom_gradient
    def f(x):
        def grad(dy):
            # Only where the forward input was positive and the upstream gradient is too.
            return dy * tf.cast(x > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)

        return tf.where(x > 0, x, x * slope), grad

    return f(x)


class GuidedActivation(keras.layers.Layer):
    """ReLU (slope 0) or LeakyReLU forward; guided backward (negative slope dropped)."""

    def __init__(self, negative_slope: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def call(self, x):
        return _guided_relu(x, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


def _slope(layer) -> float | None:
    """The negative slope of a (Leaky)ReLU layer, None for any other layer."""
    if isinstance(layer, keras.layers.LeakyReLU):
        return float(layer.get_config()["negative_slope"])
    if isinstance(layer, keras.layers.ReLU):
        cfg = layer.get_config()
        if cfg.get("max_value") is not None or cfg.get("threshold", 0.0) != 0.0:
            raise InputError(f"{layer.name}: only plain ReLU / LeakyReLU can be guided")
        return float(cfg.get("negative_slope", 0.0))
    return None


def guided_model(discriminator: keras.Model, bn_images=None,
                 pixel_range=(-1.0, 1.0)) -> keras.Model:
    """A copy of D whose (Leaky)ReLU layers have guided gradients, same names and weights.

    With `bn_images` (uint8) its BatchNorm statistics are those of these images
    (features.with_dataset_batchnorm); otherwise D's moving averages. D is not changed.
    """
    source = (with_dataset_batchnorm(discriminator, bn_images, pixel_range)
              if bn_images is not None else copy_model(discriminator))

    def swap(layer):
        slope = _slope(layer)
        if slope is None:
            return layer.__class__.from_config(layer.get_config())
        return GuidedActivation(slope, name=layer.name)

    guided = keras.models.clone_model(source, clone_function=swap)
    guided.set_weights(source.get_weights())  # activations own no weights: lists line up
    return guided


def random_discriminator(discriminator: keras.Model) -> keras.Model:
    """A freshly initialised D of the same architecture (the paper's baseline; unseeded:
    keras.utils.set_random_seed makes it repeatable)."""
    return fresh_copy(discriminator)


def default_layer(discriminator: keras.Model) -> str:
    """D's last conv activation: the highest features, the ones the paper visualises."""
    return conv_activations(discriminator)[-1].name


@dataclasses.dataclass
class Unit:
    """One unit's maximal response: `channel` of `layer` at (row, col) of image `index`."""

    layer: str
    channel: int
    index: int
    row: int
    col: int
    value: float


def _tap(model: keras.Model, layer: str) -> keras.Model:
    return keras.Model(model.input, model.get_layer(layer).output)


def layer_responses(model: keras.Model, images, layer: str, pixel_range=(-1.0, 1.0),
                    batch_size: int = 128) -> np.ndarray:
    """The activations (n, h, w, c) of `layer` for uint8 `images`, BN in inference mode."""
    tap = _tap(model, layer)
    out = [np.asarray(tap(to_model_range(batch, pixel_range), training=False), np.float32)
           for batch in batches(images, batch_size)]
    return np.concatenate(out)


def top_units(model: keras.Model, images, layer: str | None = None, channels=range(6),
              k: int = 8, pixel_range=(-1.0, 1.0)) -> dict[int, list[Unit]]:
    """Per channel, the k images (distinct) with the largest response anywhere, strongest
    first, each at the position of its maximum."""
    layer = layer or default_layer(model)
    acts = layer_responses(model, images, layer, pixel_range)
    n, h, w, _ = acts.shape
    result = {}
    for c in channels:
        flat = acts[..., c].reshape(n, h * w)
        best_pos = flat.argmax(1)  # one position per image: its strongest response
        best = flat[np.arange(n), best_pos]
        order = np.argsort(-best, kind="stable")[:k]
        result[c] = [Unit(layer, int(c), int(i), int(best_pos[i] // w), int(best_pos[i] % w),
                          float(best[i])) for i in order]
    return result


def unit_gradients(guided: keras.Model, images, units: list[Unit],
                   pixel_range=(-1.0, 1.0)) -> np.ndarray:
    """Guided backprop from each unit (one channel at one position) to its own image:
    float32 (len(units), H, W, C) in the model's input range.

    The units' activations are summed into one scalar: with BN in inference mode each
    image only reaches its own unit, so one backward pass gives every unit's gradient.
    """
    if not units:
        raise InputError("unit_gradients needs at least one unit")
    layers = {u.layer for u in units}
    if len(layers) != 1:
        raise InputError(f"units from several layers {sorted(layers)}; pass one layer's")
    tap = _tap(guided, units[0].layer)
    x = tf.Variable(to_model_range(np.stack([images[u.index] for u in units]), pixel_range))
    where = tf.constant([[i, u.row, u.col, u.channel] for i, u in enumerate(units)])
    with tf.GradientTape() as tape:
        act = tf.cast(tap(x, training=False), tf.float32)
        target = tf.reduce_sum(tf.gather_nd(act, where))
    return tape.gradient(target, x).numpy()


def guided_units(discriminator: keras.Model, images, layer: str | None = None,
                 channels=range(6), k: int = 8, bn_images=None,
                 pixel_range=(-1.0, 1.0)) -> tuple[dict[int, list[Unit]], dict[int, np.ndarray]]:
    """Top units per channel and their guided gradients, for one D: (units, gradients)."""
    guided = guided_model(discriminator, bn_images, pixel_range)
    units = top_units(guided, images, layer, channels, k, pixel_range)
    grads = {c: unit_gradients(guided, images, us, pixel_range) for c, us in units.items()}
    return units, grads


def energy_share(gradients, masks) -> dict[str, float]:
    """Share of guided-backprop energy inside `masks`, against the masks' share of the image.

    Energy per pixel is the squared gradient summed over colour channels (squares, so a
    few strong pixels dominate as they do in the pictures). Shares are per image, then
    averaged; images whose gradient is all zero are left out. Returns share, se (its
    standard error over the images), chance (mean mask area over the same images) and n
    (images counted).
    """
    g = np.asarray(gradients, np.float64)
    m = np.asarray(masks, bool)
    if g.shape[:3] != m.shape:
        raise InputError(f"gradients {g.shape} and masks {m.shape} differ in (n, H, W)")
    energy = (g ** 2).sum(-1)
    total = energy.sum((1, 2))
    ok = total > 0
    if not ok.any():
        return {"share": float("nan"), "se": float("nan"), "chance": float("nan"), "n": 0}
    share = (energy * m).sum((1, 2))[ok] / total[ok]
    se = share.std(ddof=1) / np.sqrt(len(share)) if len(share) > 1 else float("nan")
    return {"share": float(share.mean()), "se": float(se), "chance": float(m[ok].mean()),
            "n": int(ok.sum())}


def gradient_images(gradients) -> np.ndarray:
    """Gradients as uint8 pictures: each scaled by its own largest |value|, grey is zero."""
    g = np.asarray(gradients, np.float32)
    scale = np.abs(g).max(axis=(1, 2, 3), keepdims=True)
    return to_uint8(g / np.where(scale > 0, scale, 1.0), (-1.0, 1.0))


def unit_figure(images, results: dict, path=None, k: int | None = None):
    """Per channel (row) and per D (column, e.g. {"trained": ..., "random": ...}): the top
    images, each with its guided gradient beside it. `results` maps a title to the
    (units, gradients) pair of guided_units."""
    titles = list(results)
    channels = list(results[titles[0]][0])
    k = k or len(results[titles[0]][0][channels[0]])
    # Each panel is one strip of 2k square pictures: size the figure to the strips, so
    # the pictures fill it instead of floating in white space.
    strip = 6.0  # inches per panel's width
    fig, axes = new_figure(path, len(channels), len(titles),
                           (strip * len(titles), len(channels) * (strip / (2 * k) + 0.3)))
    axes = np.asarray(axes).reshape(len(channels), len(titles))
    for col, title in enumerate(titles):
        units, grads = results[title]
        for row, c in enumerate(channels):
            us = units[c][:k]
            pictures = gradient_images(grads[c][:len(us)])
            pairs = [p for u, g in zip(us, pictures) for p in (images[u.index], g)]
            ax = axes[row, col]
            ax.imshow(grid(np.stack(pairs), ncols=2 * len(us)), interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"{title} D, {us[0].layer} channel {c}", fontsize=8)
    return save_figure(fig, path)
