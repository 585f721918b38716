"""health.png: the monitor's signals per epoch, each panel with the line it is judged against."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from dcgan_tf.plots import new_figure, save_figure
from dcgan_tf.runlog import read_columns


def health_figure(health_csv, path=None, thresholds: dict | None = None):
    """The health monitor's signals per epoch (dcgan_tf.monitor), each with the thresholds
    it is judged against (dashed grey, named in the legend)."""
    fig, axes = new_figure(path, 2, 3, (15, 6.8))
    cols = read_columns(health_csv)
    for ax, (keys, labels, lines) in zip(axes.ravel(), _health_panels(cols, thresholds or {})):
        for key in keys:
            if key in cols and np.isfinite(cols[key]).any():
                ax.plot(cols["epoch"], cols[key], marker="o", label=key)
        for label, y in lines:
            if np.ndim(y):  # one value per epoch
                ax.plot(cols["epoch"], y, color="grey", ls="--", lw=0.8, label=label)
            else:
                ax.axhline(y, color="grey", ls="--", lw=0.8, label=label)
        ax.set(xlabel="epoch", **labels)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="best", fontsize=8)
    return save_figure(fig, path)


def _health_panels(cols: dict, t: dict) -> list:
    """health_figure's panels: (columns, Axes.set arguments, [(label, threshold)]), a
    threshold being one value or one per epoch; those `t` or `cols` lack are left out."""
    def given(*pairs):  # (label, key of t) -> (label, value) for the keys t has
        return [(label, t[k]) for label, k in pairs if k in t]

    factor, margin = t.get("explode_factor"), t.get("saturation_margin")
    exploding = [(f"divergence: {k[0].upper()} above", factor * cols[k][0])
                 for k in ("d_grad_norm", "g_grad_norm")
                 if factor is not None and k in cols and np.isfinite(cols[k][0])]
    saturating = [("saturation flagged above", cols["saturation_real"] + margin)] \
        if margin is not None and "saturation_real" in cols else []
    return [
        (("diversity_pixels", "diversity_probes"),
         dict(ylabel="diversity / real data's", title="Diversity (collapse below the line)"),
         given(("collapse below", "collapse_below"))),
        (("d_real", "d_fake"), dict(ylabel="mean sigmoid output", title="D(x) and D(G(z))"),
         given(("D wins: D(x) above", "d_wins_above"),
               ("D wins: D(G(z)) below", "d_wins_fake_below"))),
        (("swing",),
         dict(ylabel="per epoch, in data spreads", title="Swing of fixed-noise samples"),
         given(("oscillation above", "swing_above"))),
        (("saturation", "saturation_real"),
         dict(ylabel="share of pixels at +-1", title="Saturation"), saturating),
        (("d_grad_norm", "g_grad_norm"),
         dict(ylabel="gradient norm (log scale)", title="Gradient norms", yscale="log"),
         exploding),
        (("loss_std",), dict(ylabel="sd of D's loss over the epoch's steps",
                             title="Spread of D's loss within each epoch"), []),
    ]
