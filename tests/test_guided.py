"""Guided backpropagation (dcgan_tf.studies.guided) against a hand-written numpy reference."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcgan_tf.config import DCGANConfig
from dcgan_tf.models import build_discriminator
from dcgan_tf.studies import guided


def _tiny_net(seed=0, first="leaky"):
    """6x6x2 -> conv 3x3 (3) -> LeakyReLU/ReLU -> conv 3x3 (2) -> ReLU -> dense 1."""
    keras.utils.set_random_seed(seed)
    x = inp = keras.Input((6, 6, 2), name="image")
    x = keras.layers.Conv2D(3, 3, name="conv1")(x)
    x = (keras.layers.LeakyReLU(0.2, name="act1") if first == "leaky"
         else keras.layers.ReLU(name="act1"))(x)
    x = keras.layers.Conv2D(2, 3, name="conv2")(x)
    x = keras.layers.ReLU(name="act2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(1, name="logit")(x)
    model = keras.Model(inp, out)
    # Biases away from zero so some units sit on the negative side of their activation.
    model.set_weights([w + np.random.default_rng(seed).normal(0, 0.3, w.shape)
                       for w in model.get_weights()])
    return model


# ----------------------------------------------------------------- numpy reference


def _conv(x, k, b):
    kh, kw, _, co = k.shape
    h, w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((h, w, co))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.tensordot(x[i:i + kh, j:j + kw], k, axes=3) + b
    return out


def _conv_back(dout, k, in_shape):
    kh, kw = k.shape[:2]
    dx = np.zeros(in_shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dx[i:i + kh, j:j + kw] += np.tensordot(k, dout[i, j], axes=([3], [0]))
    return dx


def _guide(z, dy):
    return dy * (z > 0) * (dy > 0)


def _reference(model, x, unit=None):
    """Guided gradient of the logit (unit=None) or of act2[row, col, ch] w.r.t. x."""
    k1, b1, k2, b2, wd, _ = [w.astype(np.float64) for w in model.get_weights()]
    z1 = _conv(x, k1, b1)
    slope = 0.2 if isinstance(model.get_layer("act1"), keras.layers.LeakyReLU) else 0.0
    h1 = np.where(z1 > 0, z1, slope * z1)
    z2 = _conv(h1, k2, b2)
    if unit is None:
        dh2 = wd[:, 0].reshape(z2.shape)
    else:
        dh2 = np.zeros(z2.shape)
        dh2[unit] = 1.0
    dz2 = _guide(z2, dh2)
    dh1 = _conv_back(dz2, k2, h1.shape)
    dz1 = _guide(z1, dh1)
    return _conv_back(dz1, k1, x.shape)


def _plain_gradient(model, x):
    xv = tf.Variable(x[None].astype(np.float32))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(model(xv, training=False))
    return tape.gradient(y, xv).numpy()[0]


def _guided_gradient(model, x):
    return _plain_gradient(guided.guided_model(model), x)


@pytest.mark.parametrize("first", ["leaky", "relu"])
def test_guided_gradient_matches_numpy_reference(first):
    model = _tiny_net(1, first)
    for s in range(3):
        x = np.random.default_rng(10 + s).normal(0, 1, (6, 6, 2))
        np.testing.assert_allclose(_guided_gradient(model, x), _reference(model, x),
                                   rtol=1e-4, atol=1e-5)


def test_unit_gradients_match_reference_for_single_units():
    model = _tiny_net(2)
    rng = np.random.default_rng(3)
    raw = rng.normal(0, 1, (4, 6, 6, 2))
    images = np.clip(np.round((raw + 1) * 127.5), 0, 255).astype(np.uint8)
    x = images.astype(np.float64) / 127.5 - 1.0  # to_model_range for (-1, 1)
    units = [guided.Unit("act2", c, i, r, q, 0.0)
             for i, (r, q, c) in enumerate([(0, 0, 0), (1, 0, 1), (0, 1, 1), (1, 1, 0)])]
    got = guided.unit_gradients(guided.guided_model(model), images, units)
    for i, u in enumerate(units):
        want = _reference(model, x[i], (u.row, u.col, u.channel))
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-5)


def test_rule_bites_only_above_the_first_activation():
    model = _tiny_net(4, "relu")
    x = np.random.default_rng(5).normal(0, 1, (6, 6, 2))
    plain, guided_grad = _plain_gradient(model, x), _guided_gradient(model, x)
    assert not np.allclose(plain, guided_grad, atol=1e-6)  # negative upstream signals cut
    # A unit of act1 receives a one-hot (positive) upstream gradient: guided == plain.
    images = np.full((1, 6, 6, 2), 200, np.uint8)
    images[0, 2:4, 1:5] = 20
    z = images[0].astype(np.float32) / 127.5 - 1
    tap = keras.Model(model.inputs, model.get_layer("act1").output)
    xv = tf.Variable(z[None])
    with tf.GradientTape() as tape:
        a = tap(xv)
        target = a[0, 1, 1, 0]
    plain_unit = tape.gradient(target, xv).numpy()
    got = guided.unit_gradients(guided.guided_model(model), images,
                                [guided.Unit("act1", 0, 0, 1, 1, 0.0)])
    np.testing.assert_allclose(got, plain_unit, rtol=1e-5, atol=1e-7)


def test_trained_model_untouched_and_forward_unchanged():
    cfg = DCGANConfig(resolution=32, width=8)
    d = build_discriminator(cfg)
    images = np.random.default_rng(6).integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    before = [w.copy() for w in d.get_weights()]
    g = guided.guided_model(d)
    x = images[:4].astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(g(x, training=False), d(x, training=False), atol=1e-5)
    units, grads = guided.guided_units(d, images, k=3, bn_images=images)
    assert [type(layer).__name__ for layer in g.layers if layer.name.startswith("act")] == \
        ["GuidedActivation"] * 3
    for a, b in zip(before, d.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sorted(units) == list(range(6)) and grads[0].shape == (3, 32, 32, 3)
    rand = guided.random_discriminator(d)
    assert not np.allclose(rand.get_layer("conv1").get_weights()[0],
                           d.get_layer("conv1").get_weights()[0])


def test_top_units_are_the_maxima():
    cfg = DCGANConfig(resolution=32, width=8)
    d = build_discriminator(cfg)
    images = np.random.default_rng(7).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    acts = guided.layer_responses(d, images, "act2")
    units = guided.top_units(d, images, "act2", channels=[1, 5], k=4)
    for c, us in units.items():
        per_image = acts[..., c].reshape(12, -1).max(1)
        assert [u.index for u in us] == list(np.argsort(-per_image, kind="stable")[:4])
        for u in us:
            assert acts[u.index, u.row, u.col, c] == pytest.approx(per_image[u.index])
            assert u.value == pytest.approx(per_image[u.index])


def test_energy_share_counts_squared_gradient_inside_masks():
    g = np.zeros((3, 4, 4, 3))
    g[0, 0, 0] = [1, 1, 1]  # energy 3, inside
    g[0, 3, 3, 0] = np.sqrt(3)  # energy 3, outside
    g[1, 1, 1, 2] = 2.0  # energy 4, inside: share 1
    masks = np.zeros((3, 4, 4), bool)
    masks[:, :2, :2] = True  # a quarter of each image
    out = guided.energy_share(g, masks)  # image 2 has no energy: left out
    # shares 0.5 and 1: sd 0.3536, standard error sd / sqrt(2) = 0.25
    assert out == {"share": pytest.approx(0.75), "se": pytest.approx(0.25),
                   "chance": pytest.approx(0.25), "n": 2}
    with pytest.raises(ValueError, match="differ"):
        guided.energy_share(g, masks[:, :3])


def test_unit_figure_writes_png(tmp_path):
    cfg = DCGANConfig(resolution=32, width=8)
    d = build_discriminator(cfg)
    images = np.random.default_rng(8).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    results = {"trained": guided.guided_units(d, images, channels=[0, 1], k=2),
               "random": guided.guided_units(guided.random_discriminator(d), images,
                                             channels=[0, 1], k=2)}
    guided.unit_figure(images, results, tmp_path / "units.png")
    assert (tmp_path / "units.png").stat().st_size > 1000
    pictures = guided.gradient_images(results["trained"][1][0])
    assert pictures.dtype == np.uint8 and pictures.shape == (2, 32, 32, 3)
