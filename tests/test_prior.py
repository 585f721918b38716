"""The one prior sampler, numpy and in-graph, against the distributions' closed forms."""

import keras
import numpy as np
import pytest

from dcgan_tf.prior import sample_prior, typical_norm


@pytest.mark.parametrize("prior, mean_sq", [("uniform", 1 / 3), ("normal", 1.0)])
def test_numpy_and_keras_draws_follow_the_prior(prior, mean_sq):
    a = sample_prior(4000, 50, prior, seed=1)
    b = np.asarray(sample_prior(4000, 50, prior, seed=keras.random.SeedGenerator(1)))
    for z in (a, b):
        assert z.shape == (4000, 50) and z.dtype == np.float32
        # E z^2 is 1/3 for U(-1, 1) and 1 for N(0, 1); 200k draws give about +-0.005.
        assert abs(float(np.mean(z**2)) - mean_sq) < 0.02
        if prior == "uniform":
            assert z.min() >= -1.0 and z.max() <= 1.0 and z.min() < -0.99
        else:
            assert z.min() < -3.5  # unbounded, unlike the uniform


def test_numpy_draws_are_those_of_default_rng():
    """Pinned to numpy's own generator so seeded figures of earlier runs stay valid."""
    ref = np.random.default_rng(7).uniform(-1.0, 1.0, (3, 10)).astype(np.float32)
    np.testing.assert_array_equal(sample_prior(3, 10, "uniform", seed=7), ref)


def test_keras_draws_advance_the_seed_generator():
    gen = keras.random.SeedGenerator(3)
    first = np.asarray(sample_prior(2, 4, seed=gen))
    second = np.asarray(sample_prior(2, 4, seed=gen))
    assert not np.array_equal(first, second)


def test_unknown_prior_is_an_error_naming_it():
    with pytest.raises(ValueError, match="cauchy"):
        sample_prior(2, 3, "cauchy")


@pytest.mark.parametrize("prior", ["uniform", "normal"])
def test_typical_norm_matches_draws(prior):
    mean, sd = typical_norm(100, prior)
    norms = np.linalg.norm(sample_prior(20000, 100, prior, seed=2), axis=1)
    assert abs(norms.mean() - mean) < 0.02 * mean
    assert abs(norms.std() - sd) < 0.1 * sd
