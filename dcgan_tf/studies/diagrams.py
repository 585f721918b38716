"""Figures that explain the model: a block diagram of a built network, and why G's loss is
non-saturating (chapter 0)."""

from __future__ import annotations

import keras
import numpy as np
from matplotlib.patches import FancyBboxPatch

from dcgan_tf.config import InputError
from dcgan_tf.plots import new_figure, save_figure
from dcgan_tf.studies.features import feature_layout


def describe(model: keras.Model) -> list[tuple[str, str, tuple]]:
    """(layer name, layer type, output shape) for every layer: a compact architecture table."""
    return [
        (layer.name, type(layer).__name__, tuple(layer.output.shape[1:]))
        for layer in model.layers
    ]


def guideline_checklist(generator: keras.Model, discriminator: keras.Model) -> list[tuple]:
    """(guideline, holds?, what the built networks actually contain), read off the layers."""
    g = [type(layer).__name__ for layer in generator.layers]
    d = [type(layer).__name__ for layer in discriminator.layers]
    g_out = generator.layers[-1].get_config().get("activation")
    first = d.index("Conv2D")
    d_input_block = d[first:first + 1 + d[first + 1:].index("LeakyReLU" if "LeakyReLU" in d
                                                          else "ReLU")]
    last = max(i for i, t in enumerate(g) if t in ("Conv2D", "Conv2DTranspose"))
    g_output_block = g[last:]
    d_head = d[next(i for i, t in enumerate(d) if t in ("Flatten", "GlobalAveragePooling2D")):]
    rows = [
        ("No pooling: strided convs in D, transposed convs in G",
         "MaxPooling2D" not in d and "UpSampling2D" not in g and "Conv2DTranspose" in g,
         f"D pooling layers: {d.count('MaxPooling2D')}, G transposed convs: "
         f"{g.count('Conv2DTranspose')}, G upsampling layers: {g.count('UpSampling2D')}"),
        ("No fully connected hidden layers",
         g.count("Dense") == 1 and d.count("Dense") == 1,
         f"Dense layers: G {g.count('Dense')} (the z projection), D {d.count('Dense')} "
         "(the output)"),
        ("BatchNorm in G, except its output layer",
         g.count("BatchNormalization") > 0 and "BatchNormalization" not in g_output_block,
         f"G BN layers: {g.count('BatchNormalization')}; output block: "
         f"{' > '.join(g_output_block)}"),
        ("BatchNorm in D, except its input layer",
         d.count("BatchNormalization") > 0 and "BatchNormalization" not in d_input_block,
         f"D BN layers: {d.count('BatchNormalization')}; input block: "
         f"{' > '.join(d_input_block)}"),
        ("ReLU in G, tanh output", "LeakyReLU" not in g and g_out == "tanh",
         f"G activations: {g.count('ReLU')} ReLU, {g.count('LeakyReLU')} LeakyReLU; "
         f"output: {g_out}"),
        ("LeakyReLU in D", "ReLU" not in d and "LeakyReLU" in d,
         f"D activations: {d.count('LeakyReLU')} LeakyReLU, {d.count('ReLU')} ReLU"),
        ("D's highest conv features flattened into its output, no global pooling",
         "Flatten" in d and "GlobalAveragePooling2D" not in d,
         f"D head: {' > '.join(d_head)}"),
    ]
    return rows

# Box colours by what a layer does: learned weights, normalisation, non-linearity, plumbing.
_WEIGHTED = ("Dense", "Conv2D", "Conv2DTranspose")
_ACTIVATIONS = ("ReLU", "LeakyReLU", "Activation")
_COLOURS = {"weights": "#9ecae1", "BatchNormalization": "#fdd0a2", "activation": "#c7e9c0",
            "other": "#e6e6e6"}


def _colour(kind: str) -> str:
    if kind in _WEIGHTED:
        return _COLOURS["weights"]
    if kind in _ACTIVATIONS:
        return _COLOURS["activation"]
    return _COLOURS.get(kind, _COLOURS["other"])


def _shape_text(shape) -> str:
    return " x ".join(str(s) for s in shape)


def architecture_figure(model, ax=None, path=None):
    """A block diagram of a built keras model: one box per layer of `model.layers` (name,
    type, output shape), top to bottom, with arrows between. Draws on `ax` if given, else on
    a new figure, saved to `path` if given; returns the figure.

    Colours: blue holds learned weights (Dense, convolutions), orange BatchNorm, green
    activations, grey reshaping and inputs.
    """
    rows = describe(model)
    if ax is None:
        fig, axes = new_figure(path, 1, 1, (4.2, 0.55 * len(rows) + 0.8))
        ax = axes[0]
    height = 0.7  # of the 1.0 each layer gets: the rest is room for the arrow
    for i, (name, kind, shape) in enumerate(rows):
        y = len(rows) - 1 - i  # the first layer on top
        ax.add_patch(_box(y, height, _colour(kind)))
        ax.text(0.5, y, f"{name}: {kind}\n{_shape_text(shape)}", ha="center", va="center",
                fontsize=8)
        if i:
            ax.annotate("", xy=(0.5, y + height / 2), xytext=(0.5, y + 1 - height / 2),
                        arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set(xlim=(0, 1), ylim=(-0.5, len(rows) - 0.5))
    ax.set_axis_off()
    ax.set_title(f"{model.name}: {model.count_params():,} parameters", fontsize=10)
    return save_figure(ax.figure, path)


def _box(y: float, height: float, colour: str):
    return _box_at(0.05, y, colour, 0.9, height)


def gan_loss_gradients(p):
    """Gradients with respect to D's logit of G's two losses, at D(G(z)) = p in (0, 1).

    Returns (saturating, non_saturating) arrays shaped like p. With l the logit of a fake
    and p = sigmoid(l), dp/dl = p (1 - p). Then

    * saturating, log(1 - p) (the minimax objective's, minimised by G):
      d/dl log(1 - p) = -1 / (1 - p) * p (1 - p) = -p;
    * non-saturating, -log p (G maximises log D(G(z)) instead):
      d/dl (-log p) = -(1 / p) * p (1 - p) = -(1 - p).

    Both are negative, so a gradient step on either raises D's logit of the fake. Early in
    training D rejects fakes easily (p -> 0): the saturating gradient -p then vanishes and G
    learns nothing, while the non-saturating one tends to -1, its largest.
    """
    p = np.asarray(p, dtype=np.float64)
    if not np.all((p > 0) & (p < 1)):  # also refuses NaN
        bad = p[~((p > 0) & (p < 1))]
        raise InputError(f"D(G(z)) must be in (0, 1) (open interval), got {bad.tolist()}")
    return -p, -(1.0 - p)


def loss_gradient_figure(path=None, rejects_below: float = 0.1):
    """G's saturating and non-saturating losses, and their gradients w.r.t. D's logit,
    against D(G(z)); shades p < rejects_below, where D easily rejects the fakes."""
    p = np.linspace(1e-3, 1 - 1e-3, 500)
    saturating, non_saturating = gan_loss_gradients(p)
    fig, (losses, grads) = new_figure(path, 1, 2, (11, 3.8))
    curves = ((np.log1p(-p), saturating, "tab:red",
               "saturating: minimise log(1 - D(G(z)))"),
              (-np.log(p), non_saturating, "tab:blue",
               "non-saturating: minimise -log D(G(z))"))
    for loss, grad, colour, label in curves:
        losses.plot(p, loss, colour, label=label)
        grads.plot(p, grad, colour, label=label)
    losses.set(xlabel="D(G(z))", ylabel="G's loss", ylim=(-5, 5), title="The two G losses")
    grads.set(xlabel="D(G(z))", ylabel="d loss / d logit", ylim=(-1.05, 0.05),
              title="Their gradients with respect to D's logit")
    for ax in (losses, grads):
        ax.axvspan(0, rejects_below, color="grey", alpha=0.15, lw=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    grads.annotate("D rejects the fakes:\nthe saturating\ngradient vanishes",
                   xy=(0.02, -0.02), xytext=(0.13, -0.5), fontsize=8, va="center",
                   arrowprops=dict(arrowstyle="->", lw=0.8))
    return save_figure(fig, path)


def feature_pyramid_figure(discriminator, path=None, grid: int = 4):
    """The paper's feature vector for a built D (docs/paper_notes.md §5.1): each conv
    activation, its max-pooled grid x grid copy, and their concatenation into the SVM's
    input. Saved to `path` if given; returns the figure."""
    rows = feature_layout(discriminator, grid)
    fig, axes = new_figure(path, 1, 1, (9.5, 1.1 * len(rows) + 1.2))
    ax = axes[0]
    total = sum(r[-1] for r in rows)
    mid = (len(rows) - 1) / 2
    for i, (name, shape, pooled, n) in enumerate(rows):
        y = len(rows) - 1 - i
        for x, text, colour in ((0.0, f"{name}\n{_shape_text(shape)}", _COLOURS["activation"]),
                                (1.35, f"max-pooled\n{_shape_text(pooled)} = {n:,}",
                                 _COLOURS["other"])):
            ax.add_patch(_box_at(x, y, colour))
            ax.text(x + 0.5, y, text, ha="center", va="center", fontsize=8)
        ax.annotate("", xy=(1.35, y), xytext=(1.0, y), arrowprops=dict(arrowstyle="->"))
        ax.annotate("", xy=(2.9, mid), xytext=(2.35, y), arrowprops=dict(arrowstyle="->"))
    ax.add_patch(_box_at(2.9, mid, _COLOURS["weights"]))
    ax.text(3.4, mid, f"concatenated\n{total:,} features\n-> linear L2-SVM", ha="center",
            va="center", fontsize=8)
    ax.set(xlim=(-0.1, 4.0), ylim=(-0.7, len(rows) - 0.3))
    ax.set_axis_off()
    ax.set_title(f"{discriminator.name}: the conv features the SVM reads", fontsize=10)
    return save_figure(fig, path)


def _box_at(x: float, y: float, colour: str, width: float = 1.0, height: float = 0.7):
    return FancyBboxPatch((x, y - height / 2), width, height, facecolor=colour,
                          edgecolor="#555555", lw=0.8, boxstyle="round,pad=0,rounding_size=0.1")
