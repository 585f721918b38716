"""Representation learning: D's features under a linear L2-SVM (paper §5), every baseline.

    python benchmarks/representation.py                      # small profile: digits, faces, rooms
    python benchmarks/representation.py --tasks digits --draws 10
    DCGAN_PROFILE=full python benchmarks/representation.py   # GPU: SVHN and CIFAR-10 (tfds)
    python benchmarks/representation.py --memory 73257      # SVHN-sized extraction: memory

For each task (dcgan_tf.course.runs.TASKS) the D of its run (trained without labels, reused
if the run folder exists) gives the paper's feature vector; a LinearSVC with C chosen on a
validation split classifies it after class-balanced label draws. Baselines in the same run:
raw pixels, a randomly initialised D of the same architecture, and the same architecture
trained supervised on the drawn labels only. It prints accuracy per task, method and label
count (mean ± 1.96 sd over the draws), each feature extraction's speed, and the process's
peak memory. Written to --out: results.csv, extraction.csv, summary.md, accuracy.png.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import numpy as np  # noqa: E402

from dcgan_tf.config import PROFILES, DCGANConfig, InputError, profile_name  # noqa: E402
from dcgan_tf.course import runs  # noqa: E402
from dcgan_tf.fileio import write_text  # noqa: E402
from dcgan_tf.models import build_discriminator  # noqa: E402
from dcgan_tf.paths import runs_dir  # noqa: E402
from dcgan_tf.runlog import read_rows  # noqa: E402
from dcgan_tf.studies import features, linear_eval, representation  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, help="default: DCGAN_PROFILE or small")
    ap.add_argument("--tasks", nargs="+", metavar="TASK", help="default: "
                    f"{' '.join(runs.SMALL_TASKS)} (small), "
                    f"{' '.join(runs.FULL_TASKS)} (full); all: "
                    f"{', '.join(runs.TASKS)}")
    ap.add_argument("--methods", nargs="+", default=list(representation.METHODS))
    ap.add_argument("--draws", type=int, default=5, help="label draws per label count")
    ap.add_argument("--supervised-steps", type=int, default=1000,
                    help="training steps of the supervised baseline, at most")
    ap.add_argument("--out", help="default: RUNS/representation[_full]")
    ap.add_argument("--memory", type=int, metavar="N", help="instead: extract N synthetic "
                    "32x32 images (73257 is SVHN's train split) through the full profile's D "
                    "to disk and print peak memory and speed")
    args = ap.parse_args(argv)
    if args.memory:
        return memory_check(args.memory, args.out or str(runs_dir() / "representation_memory"))
    profile = args.profile or profile_name()
    tasks = args.tasks or (runs.FULL_TASKS if profile == "full"
                           else runs.SMALL_TASKS)
    out = args.out or str(runs_dir() / ("representation_full" if profile == "full"
                                        else "representation"))
    start = time.perf_counter()
    try:
        for task in tasks:
            print(f"== {task}", flush=True)
            representation.evaluate(runs.task(task), out, methods=args.methods, draws=args.draws,
                                    profile=profile, supervised_steps=args.supervised_steps)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = [r for r in read_rows(os.path.join(out, "results.csv")) if r["task"] in tasks]
    summary = representation.summary(rows)
    table = representation.markdown(summary)
    write_text(os.path.join(out, "summary.md"), table + "\n")
    representation.accuracy_figure(summary, os.path.join(out, "accuracy.png"))
    print()
    print(table)
    print("\nfeature extraction (images/s; the last extraction of each):")
    speeds = {(r["task"], r["method"]): r for r in
              read_rows(os.path.join(out, "extraction.csv")) if r["task"] in tasks}
    for (task, method), r in sorted(speeds.items()):
        print(f"  {task:14s} {method:9s} {int(r['images']):7,d} images x {int(r['dim']):6,d} "
              f"features: {float(r['images_per_s']):9,.0f} images/s")
    print(f"\npeak memory {_peak_mb():,.0f} MB; {len(tasks)} tasks in "
          f"{(time.perf_counter() - start) / 60:.1f} min; results in {out}/")
    return 0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def memory_check(n: int, out: str) -> int:
    """SVHN-sized extraction: features go to a float16 file, never into RAM all at once."""
    cfg = DCGANConfig.profile("full", resolution=32)
    images = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n) % 10
    print(f"{n:,} images: {images.nbytes / 2**20:,.0f} MB as uint8; peak so far "
          f"{_peak_mb():,.0f} MB", flush=True)
    model = features.extractor(build_discriminator(cfg), images[:10_000])
    dim = int(model.output.shape[-1])
    start = time.perf_counter()
    feats = features.extract(model, images, path=os.path.join(out, "features.npy"),
                             progress=True)
    seconds = time.perf_counter() - start
    print(f"features: {n:,} x {dim:,} float16 = {feats.nbytes / 2**30:.2f} GB on disk "
          f"(float32 in RAM would be {n * dim * 4 / 2**30:.2f} GB); {n / seconds:,.0f} "
          f"images/s, {n * dim / seconds / 1e6:,.1f} M features/s", flush=True)
    splits = linear_eval.stratified_splits(labels, 10_000, 0)
    splits = linear_eval.Splits(splits.pool, splits.val[:2_000], splits.val[2_000:4_000])
    rows = linear_eval.balanced_draw(labels, splits.pool, 100, seed=0)
    acc, _ = linear_eval.svm_accuracy(feats, labels, rows, splits, c_grid=(1e-3,))
    print(f"one SVM on 1,000 drawn rows (random labels: accuracy {acc:.2f}, chance 0.10)")
    print(f"peak memory {_peak_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
