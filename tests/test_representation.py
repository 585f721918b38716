"""Chapter 5's runner: tasks, their labelled sets, every method, resumable results."""

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
import tensorflow_datasets as tfds

from dcgan_tf.config import DCGANConfig, InputError
from dcgan_tf.course import runs
from dcgan_tf.runlog import read_rows
from dcgan_tf.studies import representation

TINY = DCGANConfig(resolution=32, channels=1, width=8, batch_size=64, epochs=1)


@pytest.fixture(scope="module")
def tiny_digits(tmp_path_factory):
    """A registered task whose run is a tiny digits DCGAN (trained once for the module)."""
    tmp_path = tmp_path_factory.mktemp("representation")
    task = dataclasses.replace(runs.TASKS["digits"], name="tiny_digits",
                               run=lambda profile=None: (TINY, "digits", "tiny_digits"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DCGAN_RUNS", str(tmp_path / "runs"))
        yield tmp_path, task


def test_every_method_is_scored_once_and_a_rerun_adds_nothing(tiny_digits):
    folder, task = tiny_digits
    out = folder / "rep"
    rows = representation.evaluate(task, out, draws=2, per_class=(5,),
                                   supervised_steps=20, progress=False)
    assert sorted((r["method"], r["draw"]) for r in rows) == sorted(
        (m, d) for m in representation.METHODS for d in range(2))
    assert all(r["labels"] == 50 for r in rows)  # 5 per class x 10 digits
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    assert all(abs(r["chance"] - 0.1) < 0.01 for r in rows)  # ten nearly equal classes
    assert len(read_rows(out / "results.csv")) == 8
    assert {r["method"] for r in read_rows(out / "extraction.csv")} == {"dcgan", "random_d",
                                                                         "pixels"}
    again = representation.evaluate(task, out, draws=2, per_class=(5,),
                                    supervised_steps=20, progress=False)
    assert again == [] and len(read_rows(out / "results.csv")) == 8
    trained = np.load(out / "tiny_digits_dcgan.npy", mmap_mode="r")
    random = np.load(out / "tiny_digits_random_d.npy", mmap_mode="r")
    assert trained.dtype == np.float16 and trained.shape == (1797, 896)
    assert not np.array_equal(np.asarray(trained[:50]), np.asarray(random[:50]))
    summary = representation.summary(read_rows(out / "results.csv"))
    assert {s["method"] for s in summary} == set(representation.METHODS)
    assert all(s["draws"] == 2 for s in summary)
    assert "| tiny_digits | 50 | dcgan |" in representation.markdown(summary)


def test_pixels_beat_chance_on_digits_with_fifty_labels_per_class(tiny_digits):
    """An independent sanity line: a linear SVM on raw digit pixels is far above 10%."""
    folder, task = tiny_digits
    rows = representation.evaluate(task, folder / "rep2", methods=("pixels",),
                                   draws=1, per_class=(50,), progress=False)
    assert rows[0]["accuracy"] > 0.8


def test_tfds_tasks_split_train_into_pool_and_val_and_test_is_the_test_split():
    task = dataclasses.replace(runs.TASKS["svhn"], n_val=8)
    cfg = DCGANConfig.profile("full", resolution=32)
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        images, labels, splits = representation.labelled_set(task, cfg)
    n_train = len(images) - len(splits.test)
    assert images.shape[1:] == (32, 32, 3) and images.dtype == np.uint8
    # Each class keeps its share of the 8 validation rows, rounded to the nearest row:
    # n_c * 8 / n_train for a class of n_c train rows (never a half here, n_train = 40).
    assert n_train == 40  # mock_data's num_examples
    counts = np.bincount(labels[:n_train], minlength=10)
    expected = [round(Fraction(8 * int(n), n_train)) for n in counts]
    assert np.bincount(labels[splits.val], minlength=10).tolist() == expected
    assert len(splits.val) == sum(expected) > 0
    assert len(set(splits.val)) == len(splits.val)
    assert not set(splits.pool) & set(splits.val)
    assert set(splits.pool) | set(splits.val) == set(range(n_train))
    assert list(splits.test) == list(range(n_train, len(images)))
    assert labels.dtype == np.int64 and len(labels) == len(images)


def test_unknown_task_and_method_are_named():
    with pytest.raises(InputError, match="'mnist'"):
        runs.task("mnist")
    with pytest.raises(InputError, match="kmeans"):
        representation.evaluate(runs.task("digits"), methods=("kmeans",))


def test_verdicts_call_a_win_only_when_the_intervals_do_not_overlap():
    def row(method, mean, sd):
        return {"task": "t", "labels": 10, "method": method, "mean": mean, "sd": sd,
                "low": mean - 1.96 * sd, "high": mean + 1.96 * sd}

    lines = representation.verdicts([row("dcgan", 0.90, 0.01), row("random_d", 0.80, 0.01),
                                     row("pixels", 0.89, 0.01), row("supervised", 0.99, 0.01)])
    assert lines == ["t, 10 labels: dcgan beats random_d, is level with pixels, "
                     "loses to supervised"]
