"""De-duplication: pairwise precision / recall per method, and time against set size.

    python benchmarks/dedup.py                       # sizes 250 500 1000 2000
    python benchmarks/dedup.py --sizes 500 1000 --epochs 30

The sets come from synthetic.near_duplicate_set: distinct images (packaged photo tiles,
lfw_subset patches, random shapes) plus 30% altered copies (exact copy, JPEG quality 30-70,
1-3 px shift, brightness x0.8-1.2, resized to 0.5-2x) in known groups. A found pair is right
when both images are in the same true group. "hash" time is everything after training:
32x32 crops (or the pHash DCT), codes, buckets, exact-hash groups merged in (best of 3);
the autoencoder's training (a fixed number of epochs on the set itself) is timed apart.
"""

from __future__ import annotations

import collections
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from data_prep import dedup as D  # noqa: E402
from data_prep import synthetic  # noqa: E402

# Loaded before any timing, so the first run is not charged (after the kit, which sets
# TensorFlow's CPU options before TensorFlow loads).
import keras  # noqa: E402, F401
from dcgan_tf.cliargs import Parser, positive  # noqa: E402


def recall_by_kind(found, truth, kinds):
    """Recall of the pairs (original, altered copy), per kind of alteration."""
    got = D.pairs(found)
    hit, total = collections.Counter(), collections.Counter()
    for g in truth:
        orig = [i for i in g if kinds[i] in synthetic.BASE_KINDS]
        for i in g:
            if kinds[i] in synthetic.DUP_KINDS and orig:
                pair = tuple(sorted((orig[0], i)))
                total[kinds[i]] += 1
                hit[kinds[i]] += pair in got
    return {k: hit[k] / total[k] for k in synthetic.DUP_KINDS if total[k]}


def timed_groups(images, method, epochs, threshold, repeats=3):
    """(groups, seconds to train, seconds to hash and bucket); cheap steps best of `repeats`."""
    train = 0.0
    encoder = None
    if method == "ae":
        x = D.standardise(D.centre_crops(images))
        t = time.perf_counter()
        _, encoder = D.train_autoencoder(x, epochs=epochs)
        train = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        found = D.find_groups(images, method, threshold=threshold, encoder=encoder)
        best = min(best, time.perf_counter() - t)
    return found, train, best


def linear_fit(ns, ts):
    """Least-squares t = a + b n; returns (a, b, largest relative residual)."""
    k = len(ns)
    mn, mt = sum(ns) / k, sum(ts) / k
    b = sum((n - mn) * (t - mt) for n, t in zip(ns, ts)) / sum((n - mn) ** 2 for n in ns)
    a = mt - b * mn
    worst = max(abs(t - (a + b * n)) / t for n, t in zip(ns, ts))
    return a, b, worst


def main(argv=None):
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=positive(), nargs="+", default=[250, 500, 1000, 2000],
                    help="set sizes; at least two different ones (the time per image is "
                    "a line fitted through them)")
    ap.add_argument("--epochs", type=positive(), default=50, help="autoencoder epochs")
    ap.add_argument("--threshold", type=float, default=0.5, help="AE code threshold")
    args = ap.parse_args(argv)
    if len(set(args.sizes)) < 2:
        ap.error(f"--sizes {' '.join(map(str, args.sizes))}: give at least two different "
                 "sizes")

    rows, by_kind = [], {}
    for n in args.sizes:
        images, truth, kinds = synthetic.near_duplicate_set(n, seed=0)
        for method in D.METHODS:
            found, train, hashing = timed_groups(images, method, args.epochs, args.threshold)
            rows.append((n, method, D.pair_scores(found, truth), train, hashing))
            if n == max(args.sizes):
                by_kind[method] = recall_by_kind(found, truth, kinds)
            print(f"  n={n:<5} {method:<6} train {train:6.2f} s, hash {hashing:6.3f} s",
                  flush=True)

    print("\nprecision / recall of duplicate pairs (2 CPU cores shared with other work)")
    print(f"{'images':>6} {'method':<6} {'true pairs':>10} {'found':>6} {'right':>6} "
          f"{'precision':>9} {'recall':>7} {'train s':>8} {'hash s':>7} {'hash us/img':>11}")
    for n, method, s, train, hashing in rows:
        print(f"{n:>6} {method:<6} {s['pairs_true']:>10} {s['pairs_found']:>6} "
              f"{s['true_pos']:>6} {s['precision']:>9.3f} {s['recall']:>7.3f} {train:>8.2f} "
              f"{hashing:>7.3f} {1e6 * hashing / n:>11.1f}")
    n = max(args.sizes)
    print(f"\nrecall by alteration at n={n}")
    print(f"{'method':<6} " + " ".join(f"{k:>10}" for k in synthetic.DUP_KINDS))
    for method, rec in by_kind.items():
        print(f"{method:<6} " + " ".join(f"{rec.get(k, float('nan')):>10.3f}"
                                         for k in synthetic.DUP_KINDS))
    print("\ntime against set size, least-squares line t = a + b * n (a straight line with a "
          "small\nworst relative residual is linear growth)")
    for method in D.METHODS:
        for label, col in (("hash", 4), ("train", 3)):
            pts = [(r[0], r[col]) for r in rows if r[1] == method]
            if method != "ae" and label == "train":
                continue
            a, b, worst = linear_fit([p[0] for p in pts], [p[1] for p in pts])
            print(f"  {method:<6} {label:<5} a = {a:8.4f} s, b = {1e3 * b:8.4f} ms/image, "
                  f"worst residual {worst:5.1%}")


if __name__ == "__main__":
    main()
