"""Chapter 5's experiment end to end: the tasks, the D each one uses, every method, results.

A task names a labelled set, the run whose D is evaluated on it (trained without labels by
`train()`, reused when it exists) and the label counts. `evaluate` extracts each method's
features once per call (float16 .npy files in OUT), then for every label count and draw trains
the L2-SVM (dcgan_tf.studies.linear_eval) and writes one row per result to OUT/results.csv (and
each extraction's speed to OUT/extraction.csv); a re-run skips the rows already there.
Methods:

  dcgan       features of the trained D (BatchNorm statistics of the training images)
  random_d    the same architecture with its initial random weights, same statistics
  pixels      the images themselves, scaled to G's range
  supervised  D's architecture trained from scratch on the drawn labels only (no SVM)
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np

from dcgan_tf import seeds
from dcgan_tf.config import DCGANConfig, InputError, profile_name
from dcgan_tf.data import load_images, to_model_range
from dcgan_tf.groundtruth import procedural
from dcgan_tf.models import build_discriminator
from dcgan_tf.paths import runs_dir
from dcgan_tf.plots import new_figure, save_figure
from dcgan_tf.runlog import append_rows, read_rows
from dcgan_tf.studies import features, linear_eval
from dcgan_tf.train import train_or_load

METHODS = ("dcgan", "random_d", "pixels", "supervised")
SVM_METHODS = METHODS[:3]  # the ones scored by an SVM on stored features (cheap per draw)
EVAL_SEED = seeds.REPRESENTATION_EVAL  # the labelled drawn set
FIELDS = ("task", "method", "labels", "per_class", "draw", "accuracy", "chance", "C",
          "seconds")


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    run: object  # profile -> (config, source, run folder name)
    label: str  # the label key of the labelled set
    per_class: tuple  # label counts per class (None: every pool image)
    data: str  # "digits", "faces:N", "rooms:N" (drawn with EVAL_SEED) or "tfds:NAME"
    n_val: int
    n_test: int = 0  # 0: the data set's own test split


def _arrays(ds):
    images, labels = [], []
    for image, lab in ds.as_numpy_iterator():
        images.append(image)
        labels.append(lab)
    return np.stack(images), labels


def labelled_set(task: Task, cfg: DCGANConfig, seed: int = 0):
    """(uint8 images at cfg's size, int labels, Splits) for a task."""
    kind, _, count = task.data.partition(":")
    if kind in procedural.NAMES:
        images, labels = procedural.load(kind, int(count), seed=EVAL_SEED, size=cfg.resolution)
        y = np.asarray(labels[task.label]).astype(np.int64)
        return images, y, linear_eval.stratified_splits(y, task.n_val, task.n_test, seed)
    if task.data == "digits":
        images, labels = _arrays(load_images("digits", cfg.resolution, cfg.channels,
                                             with_labels=True, cache="none"))
        y = np.array([lab[task.label] for lab in labels], np.int64)
        return images, y, linear_eval.stratified_splits(y, task.n_val, task.n_test, seed)
    train, train_labels = _arrays(load_images(task.data, cfg.resolution, cfg.channels,
                                              with_labels=True, cache="none"))
    test, test_labels = _arrays(load_images(task.data, cfg.resolution, cfg.channels,
                                            split="test", with_labels=True, cache="none"))
    y = np.array([lab[task.label] for lab in train_labels + test_labels], np.int64)
    inner = linear_eval.stratified_splits(y[:len(train)], task.n_val, 0, seed)
    splits = linear_eval.Splits(pool=inner.pool, val=inner.val,
                                test=np.arange(len(train), len(y)))
    return np.concatenate([train, test]), y, splits


def method_features(method, gan, images, bn_rows, path=None, progress=False):
    """Feature rows of every image for an SVM method, float16 (memory-mapped with `path`)."""
    cfg = gan.cfg
    if method == "pixels":
        flat = np.asarray(to_model_range(images, cfg.pixel_range)).reshape(len(images), -1)
        return flat.astype(np.float16)
    if method == "dcgan":
        d = gan.discriminator
    elif method == "random_d":
        keras.utils.set_random_seed(cfg.seed)
        d = build_discriminator(cfg)  # the initialisation D started from (N(0, 0.02))
    else:
        raise InputError(f"{method!r} has no features; SVM methods: dcgan, random_d, pixels")
    model = features.extractor(d, images[np.sort(bn_rows)], cfg.pixel_range)
    return features.extract(model, images, cfg.pixel_range, path=path, progress=progress)


def evaluate(task: Task, out_dir=None, methods=METHODS, draws: int = 3, profile=None,
             per_class=None, supervised_steps: int = 500, progress: bool = True) -> list[dict]:
    """Every method x label count x draw of one task; rows of results (also in CSV)."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise InputError(f"unknown methods {sorted(unknown)}; expected some of {METHODS}")
    cfg, source, folder = task.run(profile or profile_name())
    out = Path(out_dir) if out_dir else runs_dir() / "representation"
    out.mkdir(parents=True, exist_ok=True)
    gan = train_or_load(cfg, source, runs_dir() / folder, progress=False)
    images, labels, splits = labelled_set(task, gan.cfg)
    done = {(r["task"], r["method"], r["per_class"], r["draw"])
            for r in read_rows(out / "results.csv")}
    rows = []
    for method in methods:
        feats = None
        for k in per_class or task.per_class:
            for draw in range(draws):
                key = (task.name, method, str(k), str(draw))
                if key in done:
                    continue
                if feats is None and method != "supervised":
                    feats = _timed_features(task, method, gan, images, splits, out, progress)
                rows.append(_one(task, method, k, draw, gan, images, labels, splits, feats,
                                 supervised_steps))
                append_rows(out / "results.csv", rows[-1:], FIELDS)
    return rows


def _timed_features(task, method, gan, images, splits, out, progress):
    """method_features, cached in OUT, with its speed logged to OUT/extraction.csv."""
    start = time.perf_counter()
    feats = method_features(method, gan, images, splits.pool, out / f"{task.name}_{method}.npy",
                            progress)
    seconds = time.perf_counter() - start
    append_rows(out / "extraction.csv", [{
        "task": task.name, "method": method, "images": len(images), "dim": feats.shape[1],
        "seconds": round(seconds, 2), "images_per_s": round(len(images) / seconds, 1)}],
        ("task", "method", "images", "dim", "seconds", "images_per_s"))
    return feats


def _one(task, method, k, draw, gan, images, labels, splits, feats, steps) -> dict:
    start = time.perf_counter()
    train_rows = (splits.pool if k is None else
                  linear_eval.balanced_draw(labels, splits.pool, k, seed=draw))
    c = ""
    if method == "supervised":
        acc = linear_eval.supervised_accuracy(gan.discriminator, images, labels, train_rows,
                                              splits, gan.cfg.pixel_range, steps, seed=draw)
    else:
        acc, c = linear_eval.svm_accuracy(feats, labels, train_rows, splits, seed=draw)
    test = labels[splits.test]
    chance = np.bincount(test - test.min()).max() / len(test)  # always the commonest class
    return {"task": task.name, "method": method, "labels": len(train_rows),
            "per_class": k, "draw": draw, "accuracy": acc, "chance": chance, "C": c,
            "seconds": round(time.perf_counter() - start, 2)}


def summary(rows) -> list[dict]:
    """One row per (task, method, labels): mean accuracy, sd and interval over the draws,
    and chance (the test split's commonest class)."""
    groups: dict[tuple, list[float]] = {}
    chance = {}
    for r in rows:
        key = (r["task"], r["method"], int(r["labels"]))
        groups.setdefault(key, []).append(float(r["accuracy"]))
        chance[r["task"]] = float(r["chance"])
    order = lambda item: (item[0][0], item[0][2], METHODS.index(item[0][1]))  # noqa: E731
    return [{"task": t, "method": m, "labels": n, "chance": chance[t],
             **linear_eval.summarise(a)} for (t, m, n), a in sorted(groups.items(), key=order)]


def verdicts(summary_rows, method: str = "dcgan") -> list[str]:
    """Per task and label count, how `method` compares with each other method: "beats" or
    "loses to" when the mean +- 1.96 sd intervals do not overlap, else "is level with"."""
    by = {}
    for r in summary_rows:
        by.setdefault((r["task"], r["labels"]), {})[r["method"]] = r
    lines = []
    for (task, n), rows in by.items():
        if method not in rows:
            continue
        mine, words = rows[method], []
        for other in (m for m in METHODS if m != method and m in rows):
            theirs = rows[other]
            word = ("beats" if mine["low"] > theirs["high"] else
                    "loses to" if mine["high"] < theirs["low"] else "is level with")
            words.append(f"{word} {other}")
        lines.append(f"{task}, {n} labels: {method} " + ", ".join(words))
    return lines


def markdown(summary_rows) -> str:
    """The summary as a markdown table, accuracy in percent."""
    lines = ["| task | labels | method | accuracy % (mean ± 1.96 sd) | chance % | draws |",
             "|---|---:|---|---|---:|---:|"]
    for r in summary_rows:
        lines.append(f"| {r['task']} | {r['labels']} | {r['method']} | {100 * r['mean']:.1f} "
                     f"± {196 * r['sd']:.1f} | {100 * r['chance']:.0f} | {r['draws']} |")
    return "\n".join(lines)


def accuracy_figure(summary_rows, path=None):
    """Accuracy against the number of labels, one line per method, one panel per task; the
    dashed line is chance."""
    tasks = sorted({r["task"] for r in summary_rows})
    fig, axes = new_figure(path, 1, len(tasks), (4.2 * len(tasks), 3.6))
    for ax, task in zip(axes, tasks):
        for method in METHODS:
            mine = sorted((r for r in summary_rows if r["task"] == task
                           and r["method"] == method), key=lambda r: r["labels"])
            if mine:
                ax.errorbar([r["labels"] for r in mine], [100 * r["mean"] for r in mine],
                            yerr=[196 * r["sd"] for r in mine], marker="o", capsize=3,
                            label=method)
        chance = next(r["chance"] for r in summary_rows if r["task"] == task)
        ax.axhline(100 * chance, color="grey", ls="--", lw=1, label="chance")
        ax.set(xscale="log", xlabel="labelled images", ylabel="test accuracy %", title=task)
        counts = sorted({r["labels"] for r in summary_rows if r["task"] == task})
        ax.set_xticks(counts, [str(n) for n in counts])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)
