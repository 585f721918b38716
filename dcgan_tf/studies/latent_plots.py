"""Chapter 3's figures: the Fig. 7 panel, arithmetic success against chance, walk smoothness.

They draw what dcgan_tf.studies.latent computes and dcgan_tf.studies.latent_measures
measures; the notebook and the benchmark show the same pictures.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dcgan_tf.plots import new_figure, save_figure, show_images
from dcgan_tf.studies import latent


def fig7(G, exemplars, title: str = "", seed: int = 0, path=None):
    """Rows A, B, C of exemplar z, the 3x3 outputs around Y = A - B + C (Fig. 7) and the
    same sum in pixels. Returns (figure, the 9 outputs as uint8 images)."""
    a, b, c = exemplars
    out = latent.render(G, latent.fig7_grid(latent.arithmetic(a, b, c), rng=seed))
    pixel = latent.pixel_arithmetic(*(latent.render(G, x) for x in (a, b, c)))
    fig = Figure(figsize=(9, 3.2)) if path else plt.figure(figsize=(9, 3.2))
    grid = fig.add_gridspec(3, 3, width_ratios=[len(a), 3, 1.2])
    for row, (x, label) in enumerate(zip((a, b, c), ("A", "- B", "+ C"))):
        ax = fig.add_subplot(grid[row, 0])
        show_images(latent.render(G, x), ncols=len(x), ax=ax)
        ax.text(-0.04, 0.5, label, transform=ax.transAxes, ha="right", va="center")
    show_images(out, "= Y, and 8 neighbours", ncols=3, ax=fig.add_subplot(grid[:, 1]))
    show_images(pixel[None], "in pixels", ncols=1, ax=fig.add_subplot(grid[:, 2]))
    if title:
        fig.suptitle(title, y=1.06)  # above the middle panel's own title
    return save_figure(fig, path), out


SETTING_COLOURS = ("C0", "C1", "C7")  # 3-exemplar mean, single exemplar, pixels


def arithmetic_figure(arithmetic: dict, path=None):
    """Per sum: the success share of each setting (3-exemplar mean, single exemplar, pixels)
    as bars, with chance (random samples that already match the target) as a dashed line."""
    names = list(arithmetic)
    fig, axes = new_figure(path, 1, len(names), (4.2 * len(names), 3.4))
    for ax, name in zip(axes, names):
        res = arithmetic[name]
        labels = list(res.settings)
        shares = [res.settings[s]["share"] for s in labels]
        ax.bar(range(len(labels)), shares, color=SETTING_COLOURS[:len(labels)])
        ax.axhline(res.chance, ls="--", color="k", label=f"chance {res.chance:.2f}")
        ax.set_xticks(range(len(labels)), [s.replace("pixel space, 3-exemplar means",
                                                     "pixels") for s in labels], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of outputs with the target")
        ax.set_title(name.split(" = ")[-1], fontsize=9)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def smoothness_figure(walks, path=None):
    """Max/mean step ratio of every walk segment, lerp beside slerp, in pixels and in probe
    features (1 is a perfectly even walk; a jump shows as a large ratio)."""
    spaces = ("pixels", "features")
    fig, axes = new_figure(path, 1, len(spaces), (4.2 * len(spaces), 3.2))
    methods = list(walks.methods)
    for ax, space in zip(axes, spaces):
        data = [np.asarray(walks.methods[m][space]) for m in methods]
        ax.boxplot([d[np.isfinite(d)] for d in data], showmeans=True)
        ax.set_xticks(range(1, len(methods) + 1), methods)
        ax.axhline(1.0, ls=":", color="k")
        ax.set_ylabel("largest step / mean step")
        ax.set_title(f"walk smoothness in {'probe features' if space == 'features' else space}"
                     f" ({len(data[0])} segments)", fontsize=9)
    return save_figure(fig, path)
