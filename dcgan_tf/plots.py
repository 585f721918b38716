"""Image grids and figures. Plotting boilerplate lives here so notebooks stay readable."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from dcgan_tf.config import InputError
from dcgan_tf.fileio import atomic_write
from dcgan_tf.runlog import read_columns


def grid(images, ncols: int | None = None, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 images (N, H, W, C) into one (rows*H, cols*W, 3) picture with a border."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"grid expects uint8 images, got {images.dtype}; see data.to_uint8")
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    n, h, w, _ = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), pad_value, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h,
            pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return out


def save_png(image: np.ndarray, path, scale: int = 1) -> Path:
    """Save a uint8 picture; `scale` enlarges it with nearest-neighbour for small samples."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(image)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    with atomic_write(path) as f:  # the GIF at the end reads every grid back
        im.save(f, format="PNG")
    return path


def save_gif(frames: list[np.ndarray], path, ms_per_frame: int = 400) -> Path:
    """An animated GIF from equally sized uint8 pictures (the last frame lingers)."""
    if not frames:
        raise InputError("save_gif needs at least one frame")
    ims = [Image.fromarray(f) for f in frames]
    durations = [ms_per_frame] * (len(ims) - 1) + [ms_per_frame * 4]
    with atomic_write(path) as f:
        ims[0].save(f, format="GIF", save_all=True, append_images=ims[1:],
                    duration=durations, loop=0)
    return Path(path)


def show_images(images, title: str | None = None, ncols: int | None = None, ax=None,
                scale: float = 1.0):
    """Show uint8 images as one grid in a matplotlib figure (or on a given axis)."""
    picture = grid(images, ncols)
    if ax is None:
        h, w = picture.shape[:2]
        _, ax = plt.subplots(figsize=(scale * w / 40 + 0.5, scale * h / 40 + 0.5))
    ax.imshow(picture, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_png(path, width: float = 14):
    """Show a PNG written by the kit (a figure or a grid) at `width` inches, axes off."""
    image = plt.imread(path)
    h, w = image.shape[:2]
    fig = plt.figure(figsize=(width, width * h / w))
    plt.imshow(image)
    plt.axis("off")
    return fig


def show_rows(images, title: str | None = None, scale: float = 1.0, ax=None):
    """A grid whose rows are the first axis of `images` (rows, cols, H, W, C)."""
    images = np.asarray(images)
    rows, cols = images.shape[:2]
    return show_images(images.reshape(rows * cols, *images.shape[2:]), title, cols, ax=ax,
                       scale=scale)


def rows_figure(rows: dict, path=None, k: int = 8):
    """One titled strip per entry of `rows` ({title: uint8 images}), the first k of each:
    real beside generated, the same z under several variants."""
    fig, axes = new_figure(path, len(rows), 1, (1.1 * k + 0.5, 1.3 * len(rows) + 0.3))
    for ax, (title, x) in zip(axes, rows.items()):
        ax.imshow(grid(np.asarray(x)[:k], ncols=k), interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    if len(y) < k or k < 2:
        return y
    kernel = np.ones(k) / k
    return np.convolve(np.pad(y, (k // 2, k - 1 - k // 2), mode="edge"), kernel, mode="valid")


def loss_figure(steps_csv, path=None):
    """Per-step D and G losses, and D(x) vs D(G(z)), smoothed, from a run's steps.csv."""
    fig, (ax1, ax2) = new_figure(path, 1, 2, (11, 3.6))
    cols = read_columns(steps_csv)
    if cols:
        step = cols["step"]
        k = max(1, len(step) // 50)
        for key, colour in (("d_loss", "tab:blue"), ("g_loss", "tab:orange")):
            ax1.plot(step, cols[key], colour, alpha=0.25, lw=0.8)
            ax1.plot(step, _smooth(cols[key], k), colour, label=key)
        for key, colour in (("D(x)", "tab:green"), ("D(G(z))", "tab:red")):
            ax2.plot(step, cols[key], colour, alpha=0.25, lw=0.8)
            ax2.plot(step, _smooth(cols[key], k), colour, label=key)
    ax1.set(xlabel="step", ylabel="loss", title="Losses (faint: per step)")
    ax2.set(xlabel="step", ylabel="mean sigmoid output", ylim=(0, 1),
            title="D on real vs generated batches")
    ax2.axhline(0.5, color="grey", lw=0.6, ls="--")
    for ax in (ax1, ax2):
        ax.legend(loc="best")
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def new_figure(path, nrows: int, ncols: int, figsize):
    """A figure and its axes: a bare Figure when saving to a file (no pyplot state, so a
    callback writing a PNG cannot disturb a notebook's inline plots), pyplot otherwise."""
    if path is not None:
        fig = Figure(figsize=figsize)
        return fig, np.atleast_1d(fig.subplots(nrows, ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize)
    return fig, np.atleast_1d(axes)


def save_figure(fig, path):
    """Lay out `fig` and, if `path` is given, save it there atomically; returns the figure."""
    fig.tight_layout()
    if path is not None:
        with atomic_write(path) as f:
            fig.savefig(f, dpi=100, format=Path(path).suffix.lstrip(".") or "png")
    return fig
