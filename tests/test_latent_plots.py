"""Chapter 3's figures (dcgan_tf.studies.latent_plots) draw what latent and latent_measures compute."""

import keras
import numpy as np
import pytest

from dcgan_tf.config import DCGANConfig
from dcgan_tf.models import build_generator
from dcgan_tf.studies import latent, latent_plots
from dcgan_tf.studies.latent_measures import Arithmetic, Walks


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


def test_arithmetic_and_smoothness_figures_draw_every_setting(tmp_path):
    settings = {"3-exemplar means": {"share": 0.5}, "single exemplars": {"share": 0.25},
                "pixel space, 3-exemplar means": {"share": 0.0}}
    res = {"x = smiling man": Arithmetic("x = smiling man", {}, [], 0.2, settings)}
    fig = latent_plots.arithmetic_figure(res, tmp_path / "a.png")
    ax = fig.axes[0]
    assert [round(p.get_height(), 2) for p in ax.patches] == [0.5, 0.25, 0.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "3-exemplar means", "single exemplars", "pixels"]
    walks = Walks({m: {"pixels": np.array([1.2, 3.0, np.nan]), "features": np.array([1.1, 2.0]),
                       "mid_norm": 5.0} for m in ("linear", "slerp")}, 3, 10, (5.7, 0.3))
    latent_plots.smoothness_figure(walks, tmp_path / "s.png")
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("a.png", "s.png"))


def test_show_rows_lays_rows_out_as_rows():
    from dcgan_tf import plots

    images = np.zeros((2, 3, 4, 4, 3), np.uint8)
    images[1] = 255  # the second row white
    ax = plots.show_rows(images)
    picture = ax.get_images()[0].get_array()
    assert picture.shape[:2] == (2 * 6 + 2, 3 * 6 + 2)  # 2 rows, 3 columns, 2-pixel borders
    assert (picture[2:6, 2:6] == 0).all() and (picture[8:12, 2:6] == 255).all()
