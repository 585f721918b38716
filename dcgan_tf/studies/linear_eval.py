"""The paper's linear evaluation (docs/paper_notes.md §5.1, §5.2): an L2-SVM on fixed features.

The protocol, as the authors' SVHN script ran it:

* a labelled pool (the training split), a validation split and a held-out test split;
* a class-balanced draw of k labels per class from the pool, repeated over several draws;
* scikit-learn's LinearSVC (squared hinge loss, L2 penalty) on the features as they are
  (the authors did not rescale them), its C chosen on the validation split from a grid;
  accuracy on the test split;
* mean and spread over the draws (mean +- 1.96 sd).

Features can stay memory-mapped on disk: only the drawn, validation and test rows are ever
read into RAM.
The same-architecture supervised baseline (the paper's 28.87% SVHN comparator) is
`supervised_accuracy`: D's layers with a softmax head, trained on the drawn labels only.
"""

from __future__ import annotations

import dataclasses
import warnings

import keras
import numpy as np
import tensorflow as tf
from sklearn.svm import LinearSVC

from dcgan_tf.config import InputError
from dcgan_tf.data import to_model_range
from dcgan_tf.studies.features import fresh_copy

# The authors searched 1e-4 to 1e-2; one decade more lets pixels find their C. Larger C
# rarely wins and makes liblinear crawl (minutes on 1,000 pixel rows that do not separate).
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1)


@dataclasses.dataclass(frozen=True)
class Splits:
    """Row indices into one labelled set: the pool labels are drawn from, val, test."""

    pool: np.ndarray
    val: np.ndarray
    test: np.ndarray


def stratified_splits(labels, n_val: int, n_test: int, seed: int = 0) -> Splits:
    """Split rows into pool / val / test, each with the classes' proportions (test first)."""
    labels = np.asarray(labels)
    if n_val + n_test >= len(labels):
        raise InputError(f"n_val + n_test = {n_val + n_test} leaves no pool of "
                         f"{len(labels)} labelled images")
    rng = np.random.default_rng(seed)
    parts = {"val": [], "test": [], "pool": []}
    share_val, share_test = n_val / len(labels), n_test / len(labels)
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        k_test, k_val = round(share_test * len(rows)), round(share_val * len(rows))
        parts["test"].append(rows[:k_test])
        parts["val"].append(rows[k_test:k_test + k_val])
        parts["pool"].append(rows[k_test + k_val:])
    return Splits(**{k: np.sort(np.concatenate(v)) for k, v in parts.items()})


def balanced_draw(labels, rows, per_class: int, seed: int) -> np.ndarray:
    """`per_class` rows of every class, drawn without replacement from `rows`."""
    labels, rng = np.asarray(labels), np.random.default_rng(seed)
    drawn = []
    for c in np.unique(labels[rows]):
        of_c = rows[labels[rows] == c]
        if len(of_c) < per_class:
            raise InputError(f"class {c}: {len(of_c)} rows in the pool, {per_class} asked for")
        drawn.append(rng.choice(of_c, per_class, replace=False))
    return np.sort(np.concatenate(drawn))


def _rows(features, rows) -> np.ndarray:
    return np.asarray(features[np.sort(rows)], np.float32)


def svm_accuracy(features, labels, train_rows, splits: Splits, c_grid=C_GRID,
                 seed: int = 0) -> tuple[float, float]:
    """(test accuracy, chosen C) of LinearSVC trained on `train_rows`, C picked on val."""
    labels = np.asarray(labels)
    train_rows = np.sort(train_rows)
    x, y = _rows(features, train_rows), labels[train_rows]
    x_val, y_val = _rows(features, splits.val), labels[np.sort(splits.val)]
    best = None
    for c in c_grid:
        svm = LinearSVC(C=c, loss="squared_hinge", penalty="l2", dual=True, max_iter=5000,
                        random_state=seed)
        with warnings.catch_warnings():  # liblinear's "did not converge" at large C
            warnings.simplefilter("ignore")
            svm.fit(x, y)
        score = float((svm.predict(x_val) == y_val).mean())
        if best is None or score > best[0]:
            best = (score, c, svm)
    _, c, svm = best
    x_test = _rows(features, splits.test)
    return float((svm.predict(x_test) == labels[np.sort(splits.test)]).mean()), c


def summarise(accuracies) -> dict:
    """Mean, sd and the mean +- 1.96 sd interval of per-draw accuracies."""
    a = np.asarray(accuracies, np.float64)
    sd = float(a.std(ddof=1)) if len(a) > 1 else 0.0
    mean = float(a.mean())
    return {"mean": mean, "sd": sd, "low": mean - 1.96 * sd, "high": mean + 1.96 * sd,
            "draws": len(a)}


def supervised_model(discriminator: keras.Model, n_classes: int, seed: int) -> keras.Model:
    """D's architecture with fresh weights and a softmax over n_classes in place of the
    logit: the same CNN trained with labels only (the paper's supervised comparator)."""
    keras.utils.set_random_seed(seed)
    fresh = fresh_copy(discriminator)
    top = fresh.get_layer("logit").input
    out = keras.layers.Dense(n_classes, activation="softmax", name="classes")(top)
    return keras.Model(fresh.inputs, out, name="supervised_d")


def supervised_accuracy(discriminator, images, labels, train_rows, splits: Splits,
                        pixel_range=(-1.0, 1.0), max_steps: int = 1500, seed: int = 0,
                        learning_rate: float = 1e-3, eval_every: int = 20) -> float:
    """Test accuracy of D's architecture trained from scratch on `train_rows` only, with
    Adam for at most `max_steps` steps, validated every `eval_every` steps; the weights of
    the best validation accuracy are kept (training stops after 5 checks without a gain).

    The learning rate is Adam's usual 0.001, not the GAN's 0.0002: a classifier on a few
    hundred labels has no adversary to keep in balance, and the slower rate under-trains it.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    index = {c: i for i, c in enumerate(classes)}
    y = lambda rows: np.array([index[c] for c in labels[np.sort(rows)]])  # noqa: E731
    x = lambda rows: to_model_range(np.asarray(images[np.sort(rows)]), pixel_range)  # noqa
    model = supervised_model(discriminator, len(classes), seed)
    model.compile(keras.optimizers.Adam(learning_rate),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    # Validation runs on a step count, not per pass over the labels: with 100 labels a pass
    # is 2 steps, and validating after each one cost far more than the training did.
    train = (tf.data.Dataset.from_tensor_slices((x(train_rows), y(train_rows)))
             .shuffle(len(train_rows), seed=seed).repeat().batch(min(64, len(train_rows))))
    stop = keras.callbacks.EarlyStopping("val_accuracy", patience=5, mode="max",
                                         restore_best_weights=True)
    model.fit(train, steps_per_epoch=eval_every, epochs=max(1, max_steps // eval_every),
              verbose=0, shuffle=False,  # the dataset shuffles itself
              validation_data=(x(splits.val), y(splits.val)), callbacks=[stop])
    _, acc = model.evaluate(x(splits.test), y(splits.test), verbose=0)
    return float(acc)
