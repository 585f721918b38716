"""The figures that explain the model: loss gradients against autodiff, diagrams against the
built layers."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from dcgan_tf import models
from dcgan_tf.studies import diagrams  # noqa: E402

LOGITS = [-9.0, -4.0, -1.5, -0.2, 0.0, 0.7, 2.5, 6.0]


def autodiff_gradients(logits):
    """d/dlogit of log(1 - sigmoid(l)) and of -log(sigmoid(l)), by tf.GradientTape."""
    logit = tf.constant(logits, tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logit)
        p = tf.sigmoid(logit)
        saturating = tf.math.log(1.0 - p)
        non_saturating = -tf.math.log(p)
    grads = [tape.gradient(loss, logit).numpy() for loss in (saturating, non_saturating)]
    return p.numpy(), grads


def test_closed_form_gradients_equal_autodiff_through_a_sigmoid():
    p, (saturating, non_saturating) = autodiff_gradients(LOGITS)
    closed = diagrams.gan_loss_gradients(p)
    np.testing.assert_allclose(closed[0], saturating, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(closed[1], non_saturating, rtol=1e-9, atol=1e-12)


def test_saturating_gradient_vanishes_where_d_rejects_the_fakes():
    p, (saturating, non_saturating) = autodiff_gradients([-9.0])
    sat, non_sat = diagrams.gan_loss_gradients(p)
    assert abs(sat[0]) < 1e-3 and abs(non_sat[0]) > 0.999  # p = D(G(z)) ~ 1.2e-4
    assert np.isclose(sat[0], saturating[0]) and np.isclose(non_sat[0], non_saturating[0])


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_gradients_refuse_a_probability_outside_0_1(p):
    with pytest.raises(ValueError, match="D\\(G\\(z\\)\\)"):
        diagrams.gan_loss_gradients([0.5, p])


def shape_text(shape):
    return " x ".join(str(s) for s in shape)


def boxes_and_labels(ax):
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    labels = [t for t in ax.texts if not isinstance(t, Annotation)]
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    return boxes, sorted(labels, key=lambda t: -t.get_position()[1]), arrows


@pytest.mark.parametrize("build", [models.build_generator, models.build_discriminator])
def test_architecture_figure_draws_one_box_per_layer(build, tiny_cfg):
    model = build(tiny_cfg)
    fig, ax = plt.subplots()
    try:
        assert diagrams.architecture_figure(model, ax=ax) is fig
        boxes, labels, arrows = boxes_and_labels(ax)
        assert len(boxes) == len(labels) == len(model.layers)
        assert len(arrows) == len(model.layers) - 1
        for label, layer in zip(labels, model.layers):  # top to bottom, in layer order
            text = label.get_text()
            assert layer.name in text and type(layer).__name__ in text, text
            assert shape_text(layer.output.shape[1:]) in text, text
        # The last box shows what the model really returns for a batch.
        batch = np.zeros((2,) + tuple(model.inputs[0].shape[1:]), np.float32)
        assert shape_text(model(batch).shape[1:]) in labels[-1].get_text()
        assert f"{model.count_params():,}" in ax.get_title()
    finally:
        plt.close(fig)


def test_architecture_shapes_match_models_describe(tiny_cfg):
    model = models.build_generator(tiny_cfg.replace(resolution=64))
    fig, ax = plt.subplots()
    try:
        diagrams.architecture_figure(model, ax=ax)
        _, labels, _ = boxes_and_labels(ax)
        for label, (name, kind, shape) in zip(labels, diagrams.describe(model)):
            assert name in label.get_text() and shape_text(shape) in label.get_text()
        assert "64 x 64 x 1" in labels[-1].get_text()
    finally:
        plt.close(fig)


def test_figures_saved_to_a_file_leave_pyplot_alone(tiny_cfg, tmp_path):
    before = plt.get_fignums()
    model = models.build_discriminator(tiny_cfg)
    diagrams.architecture_figure(model, path=tmp_path / "d.png")
    diagrams.loss_gradient_figure(path=tmp_path / "grads.png")
    assert plt.get_fignums() == before
    for name in ("d.png", "grads.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png", "grads.png"]
