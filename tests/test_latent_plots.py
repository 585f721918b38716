"""Chapter 3's figures (dcgan_tf.studies.latent_plots) draw what latent and latent_measures
compute."""

import keras
import numpy as np
import pytest

from dcgan_tf.config import DCGANConfig
from dcgan_tf.models import build_generator
from dcgan_tf.studies import latent, latent_plots
from dcgan_tf.studies.latent_measures import Arithmetic, Walks


def tiles(picture, n, ncols, size=32, pad=2):
    """The n images of a plots.grid picture, read back by position (borders must be white)."""
    nrows = -(-n // ncols)
    assert picture.shape == (nrows * (size + pad) + pad, ncols * (size + pad) + pad, 3)
    border = np.ones(picture.shape[:2], bool)
    out = []
    for i in range(n):
        y, x = (pad + j * (size + pad) for j in divmod(i, ncols))
        out.append(picture[y:y + size, x:x + size])
        border[y:y + size, x:x + size] = False
    assert (picture[border] == 255).all()
    return np.stack(out)


def boxes(ax):
    """Each boxplot box as drawn, by its x position: (lowest point, median, mean, highest)."""
    lines = {}
    for line in ax.lines:
        x = np.asarray(line.get_xdata(), float)
        if len(x) and line.get_linestyle() != ":":  # not the dotted y = 1 line
            lines.setdefault(round((x.min() + x.max()) / 2, 6), []).append(line)
    out = {}
    for pos, group in sorted(lines.items()):
        (median,) = [ln for ln in group if ln.get_color() == "C1"]
        (mean,) = [ln for ln in group if ln.get_marker() == "^"]
        ys = np.concatenate([np.asarray(ln.get_ydata(), float) for ln in group])
        out[pos] = (ys.min(), np.unique(median.get_ydata()).item(), mean.get_ydata()[0],
                    ys.max())
    return out


@pytest.fixture(scope="module")
def G():
    keras.utils.set_random_seed(0)
    return build_generator(DCGANConfig(resolution=32, width=8))


def test_fig7_outputs_are_the_grid_around_the_sum(G, tmp_path):
    z = latent.sample_prior(9, 100, "uniform", seed=1)
    a, b, c = z[:3], z[3:6], z[6:]
    fig, out = latent_plots.fig7(G, (a, b, c), "a title", seed=4, path=tmp_path / "f7.png")
    expected = latent.render(G, latent.fig7_grid(latent.arithmetic(a, b, c), rng=4))
    np.testing.assert_array_equal(out, expected)
    assert out.shape == (9, 32, 32, 3) and (tmp_path / "f7.png").stat().st_size > 1000
    # What the figure shows: rows A, B, C, the 3x3 outputs, and the sum in pixels.
    assert fig._suptitle.get_text() == "a title"
    assert [ax.get_title() for ax in fig.axes] == ["", "", "", "= Y, and 8 neighbours",
                                                   "in pixels"]
    assert [t.get_text() for ax in fig.axes[:3] for t in ax.texts] == ["A", "- B", "+ C"]
    shown = [np.asarray(ax.images[0].get_array()) for ax in fig.axes]
    rendered = [latent.render(G, x) for x in (a, b, c)]
    for picture, want in zip(shown[:3], rendered, strict=True):
        np.testing.assert_array_equal(tiles(picture, 3, 3), want)
    np.testing.assert_array_equal(tiles(shown[3], 9, 3), expected)
    pixels = sum(x.astype(np.float64).mean(0) * w for x, w in zip(rendered, (1, -1, 1)))
    np.testing.assert_array_equal(tiles(shown[4], 1, 1)[0],
                                  np.clip(np.round(pixels), 0, 255).astype(np.uint8))


def test_arithmetic_and_smoothness_figures_draw_every_setting(tmp_path):
    settings = {"3-exemplar means": {"share": 0.5}, "single exemplars": {"share": 0.25},
                "pixel space, 3-exemplar means": {"share": 0.0}}
    res = {"x = smiling man": Arithmetic("x = smiling man", {}, [], 0.2, settings)}
    fig = latent_plots.arithmetic_figure(res, tmp_path / "a.png")
    ax = fig.axes[0]
    assert [round(p.get_height(), 2) for p in ax.patches] == [0.5, 0.25, 0.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "3-exemplar means", "single exemplars", "pixels"]
    methods = {"linear": {"pixels": np.array([1.2, 3.0, np.nan]),
                          "features": np.array([1.1, 2.0]), "mid_norm": 5.0},
               "slerp": {"pixels": np.array([1.0, 1.5, 2.5]),
                         "features": np.array([1.3, 1.75]), "mid_norm": 5.0}}
    fig = latent_plots.smoothness_figure(Walks(methods, 3, 10, (5.7, 0.3)), tmp_path / "s.png")
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("a.png", "s.png"))
    assert [ax.get_title() for ax in fig.axes] == [
        "walk smoothness in pixels (3 segments)", "walk smoothness in probe features (2 segments)"]
    for ax, space in zip(fig.axes, ("pixels", "features"), strict=True):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["linear", "slerp"]
        (even,) = [line for line in ax.lines if line.get_linestyle() == ":"]
        assert list(even.get_ydata()) == [1.0, 1.0]
        # One box per method over its finite ratios (the NaN segment is left out): whiskers
        # from the smallest to the largest ratio, the median line and the mean marker.
        drawn = boxes(ax)
        assert list(drawn) == [1.0, 2.0]
        for pos, m in zip(drawn, ("linear", "slerp"), strict=True):
            x = methods[m][space][np.isfinite(methods[m][space])]
            assert drawn[pos] == pytest.approx((x.min(), np.median(x), x.mean(), x.max()))


def test_show_rows_lays_rows_out_as_rows():
    from dcgan_tf import plots

    images = np.zeros((2, 3, 4, 4, 3), np.uint8)
    images[1] = 255  # the second row white
    ax = plots.show_rows(images)
    picture = ax.get_images()[0].get_array()
    assert picture.shape[:2] == (2 * 6 + 2, 3 * 6 + 2)  # 2 rows, 3 columns, 2-pixel borders
    assert (picture[2:6, 2:6] == 0).all() and (picture[8:12, 2:6] == 255).all()
