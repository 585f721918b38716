"""D as a feature extractor: the pooled pyramid, dataset BatchNorm statistics, extraction."""

import keras
import numpy as np
import pytest

from dcgan_tf.config import DCGANConfig
from dcgan_tf.data import to_model_range
from dcgan_tf.models import build_discriminator
from dcgan_tf.studies import features

CFG = DCGANConfig(resolution=32, width=8, batch_size=16)


@pytest.fixture(scope="module")
def d():
    keras.utils.set_random_seed(3)
    return build_discriminator(CFG)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    # Structured, not uniform noise: a bright square at a random place on a dark ground.
    x = np.full((40, 32, 32, 3), 30, np.uint8)
    for i, (r, c) in enumerate(rng.integers(0, 24, (40, 2))):
        x[i, r:r + 8, c:c + 8] = rng.integers(120, 255, 3)
    return x


def test_features_are_each_activation_max_pooled_to_4x4(d, images):
    """Against numpy: every act layer's maps, max over each 4x4 grid cell, concatenated."""
    acts = features.conv_activations(d)
    taps = keras.Model(d.inputs, [a.output for a in acts])
    x = to_model_range(images[:5])
    maps = [np.asarray(m) for m in taps(x, training=False)]
    expected = []
    for m in maps:
        n, h, w, c = m.shape
        cell = h // 4
        pooled = m.reshape(n, 4, cell, 4, cell, c).max(axis=(2, 4)) if h > 4 else m
        expected.append(pooled.reshape(n, -1))
    expected = np.concatenate(expected, axis=1)
    got = np.asarray(features.feature_model(d)(x, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got.shape[1] == sum(row[-1] for row in features.feature_layout(d))
    # 32x32 at width 8: 16x16x8, 8x8x16 and 4x4x32 maps, each 4x4 after pooling.
    assert [row[-1] for row in features.feature_layout(d)] == [128, 256, 512]


def test_dataset_statistics_are_the_training_mode_statistics_and_d_is_untouched(d, images):
    """With one batch holding every image, inference with the stored statistics must equal
    training mode on that batch; and the trained D's own moving averages do not move."""
    before = [w.copy() for w in d.get_weights()]
    x = to_model_range(images)
    copy = features.with_dataset_batchnorm(d, images, batch_size=len(images))
    reference = features.copy_model(d)(x, training=True)
    np.testing.assert_allclose(np.asarray(copy(x, training=False)), np.asarray(reference),
                               rtol=1e-4, atol=1e-4)
    for a, b in zip(before, d.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_statistics_average_the_batches(d, images):
    """The first BN layer's input does not depend on BN: its stored mean is the mean of
    per-batch means computed independently in numpy."""
    bn = next(l for l in d.layers if isinstance(l, keras.layers.BatchNormalization))
    tap = keras.Model(d.inputs, bn.input)
    per_batch = [np.asarray(tap(to_model_range(images[s:s + 16]))).mean((0, 1, 2))
                 for s in range(0, len(images), 16)]
    copy = features.with_dataset_batchnorm(d, images, batch_size=16)
    got = copy.get_layer(bn.name).moving_mean.numpy()
    np.testing.assert_allclose(got, np.mean(per_batch, 0), rtol=1e-4, atol=1e-6)


def test_extract_to_disk_matches_memory_and_leaves_no_temporary_file(d, images, tmp_path):
    model = features.extractor(d, images)
    in_memory = features.extract(model, images, batch_size=7)
    on_disk = features.extract(model, images, batch_size=16, path=tmp_path / "f.npy")
    assert isinstance(on_disk, np.memmap) and on_disk.dtype == np.float16
    np.testing.assert_array_equal(np.asarray(on_disk), in_memory)
    assert [p.name for p in tmp_path.iterdir()] == ["f.npy"]
    assert model.rate > 0


def test_a_d_without_conv_activations_is_refused():
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    with pytest.raises(ValueError, match="act1"):
        features.conv_activations(plain)
