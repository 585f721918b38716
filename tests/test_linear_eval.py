"""The linear-SVM protocol: splits, balanced label draws, standardisation, C on val."""

import numpy as np
import pytest

from dcgan_tf.studies import linear_eval


def blobs(n=600, dim=40, classes=3, gap=3.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centres = rng.normal(0, 1, (classes, dim)) * gap
    return (centres[y] + rng.normal(0, 1, (n, dim))).astype(np.float16), y


def test_splits_are_disjoint_stratified_and_cover_every_row():
    y = np.repeat([0, 1, 2], [300, 200, 100])
    s = linear_eval.stratified_splits(y, n_val=60, n_test=120, seed=1)
    rows = np.concatenate([s.pool, s.val, s.test])
    assert sorted(rows) == list(range(600))
    assert len(s.test) == 120 and len(s.val) == 60
    assert np.bincount(y[s.test]).tolist() == [60, 40, 20]
    with pytest.raises(ValueError, match="no pool"):
        linear_eval.stratified_splits(y, 300, 300)


def test_balanced_draws_have_k_per_class_from_the_pool_and_differ_by_seed():
    y = np.repeat([0, 1], [70, 30])
    pool = np.arange(10, 100)
    a = linear_eval.balanced_draw(y, pool, 5, seed=0)
    assert np.bincount(y[a]).tolist() == [5, 5] and set(a) <= set(pool)
    assert not np.array_equal(a, linear_eval.balanced_draw(y, pool, 5, seed=1))
    with pytest.raises(ValueError, match="class 1: 30 rows"):
        linear_eval.balanced_draw(y, pool, 35, seed=0)


def test_svm_separates_separable_classes_and_is_at_chance_on_random_labels():
    x, y = blobs()
    s = linear_eval.stratified_splits(y, 100, 200)
    train = linear_eval.balanced_draw(y, s.pool, 20, seed=0)
    acc, c = linear_eval.svm_accuracy(x, y, train, s)
    assert acc > 0.95 and c in linear_eval.C_GRID
    shuffled = np.random.default_rng(5).permutation(y)
    s = linear_eval.stratified_splits(shuffled, 100, 200)
    train = linear_eval.balanced_draw(shuffled, s.pool, 20, seed=0)
    acc, _ = linear_eval.svm_accuracy(x, shuffled, train, s)
    assert acc < 0.5  # chance is 1/3


def test_summary_interval():
    out = linear_eval.summarise([0.8, 0.9, 1.0])
    assert out["mean"] == pytest.approx(0.9) and out["sd"] == pytest.approx(0.1)
    assert out["low"] == pytest.approx(0.9 - 0.196) and out["draws"] == 3


def test_supervised_baseline_learns_an_easy_image_task():
    from dcgan_tf.config import DCGANConfig
    from dcgan_tf.models import build_discriminator

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 240)
    images = rng.integers(0, 60, (240, 32, 32, 3)).astype(np.uint8)
    images[y == 1, 8:24, 8:24] += 150  # class 1 has a bright square in the middle
    s = linear_eval.stratified_splits(y, 40, 80)
    train = linear_eval.balanced_draw(y, s.pool, 30, seed=0)
    d = build_discriminator(DCGANConfig(resolution=32, width=8))
    acc = linear_eval.supervised_accuracy(d, images, y, train, s, max_steps=150)
    assert acc > 0.9


def test_supervised_baseline_validates_on_a_step_count(monkeypatch):
    """With few labels a pass over them is a step or two: validating per pass made the
    baseline's cost the validation's (a 100-label draw validated 250 times in 500 steps)."""
    import keras

    from dcgan_tf.config import DCGANConfig
    from dcgan_tf.models import build_discriminator

    calls = []
    evaluate = keras.Model.evaluate
    monkeypatch.setattr(keras.Model, "evaluate",
                        lambda self, *a, **k: calls.append(1) or evaluate(self, *a, **k))
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 120)
    images = rng.integers(0, 255, (120, 32, 32, 3)).astype(np.uint8)
    s = linear_eval.stratified_splits(y, 20, 20)
    train = linear_eval.balanced_draw(y, s.pool, 10, seed=0)  # 20 labels: 1 step per pass
    d = build_discriminator(DCGANConfig(resolution=32, width=8))
    linear_eval.supervised_accuracy(d, images, y, train, s, max_steps=200)  # checks every 20
    assert 1 < len(calls) <= 200 // 20 + 1  # the checks (early stopping may cut them), + test
