"""Images/s of the input pipeline for each cache choice, beside the train step's own images/s.

    python benchmarks/input_pipeline.py                    # procedural faces at 32 and 64 px
    python benchmarks/input_pipeline.py --source PHOTO_FOLDER --sizes 64

For each size and cache ("memory", "disk", "none") the pipeline of dcgan_tf.data.make_dataset
is read for a few epochs, as fit() reads it: shuffle, batch, scale to [-1, 1], prefetch. The
first epoch fills the cache (decode + resize + write); later epochs read it back, except with
"none", which decodes and resizes again every epoch. The train step of the matching profile
(small at 32 px, full at 64 px) is timed on a fixed batch, with no pipeline in the way: the
pipeline is never the bottleneck while its images/s stay well above the step's.

The disk caches go to a temporary folder, removed at the end; procedural images come from
the usual cache ($DCGAN_CACHE), drawn on first use.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as dcgan_tf sets it, before TF loads

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from train_step import time_step  # noqa: E402

import dcgan_tf.groundtruth  # noqa: E402, F401  (registers the drawn sets: faces:N)
from dcgan_tf.config import DCGANConfig  # noqa: E402
from dcgan_tf.data import make_dataset  # noqa: E402
from dcgan_tf.train import build_gan  # noqa: E402

PROFILE_AT = {32: "small", 64: "full"}  # the profile each image size is trained with


def epoch_rates(source, cfg: DCGANConfig, cache, epochs: int) -> list[float]:
    """Images/s of each epoch of make_dataset's batches (the first one fills the cache)."""
    ds, steps = make_dataset(source, cfg, epochs=epochs, cache=cache)
    rates, t, done = [], time.perf_counter(), 0
    for _ in ds:
        done += 1
        if done % steps == 0:  # an epoch boundary
            now = time.perf_counter()
            rates.append(steps * cfg.batch_size / (now - t))
            t = now
    return rates


def step_rate(cfg: DCGANConfig, steps: int) -> float:
    """Train-step images/s (median step) of a fresh model on a fixed batch."""
    keras.utils.set_random_seed(0)
    seconds, _ = time_step(build_gan(cfg), cfg, steps, probe=lambda: float("nan"))
    return cfg.batch_size / float(np.median(seconds))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", help="data source to read (default: faces:N)")
    ap.add_argument("--n", type=int, default=4096, help="procedural faces (default 4096)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64], choices=[32, 64])
    ap.add_argument("--epochs", type=int, default=3, help="epochs read per cache (default 3)")
    ap.add_argument("--steps", type=int, default=5, help="timed train steps (default 5)")
    args = ap.parse_args(argv)
    source = args.source or f"faces:{args.n}"
    print(f"input pipeline on {source}, {args.epochs} epochs per cache choice, "
          f"{os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory(prefix="dcgan_pipeline_") as tmp:
        for size in args.sizes:
            profile = PROFILE_AT[size]
            cfg = DCGANConfig.profile(profile, resolution=size)
            print(f"\n{size}x{size}, batch {cfg.batch_size} ({profile} profile)")
            print(f"  {'cache':8s} {'first epoch':>14s} {'later epochs':>14s}   images/s")
            slowest = float("inf")
            for cache in ("memory", "disk", "none"):
                where = Path(tmp) / f"{size}px" if cache == "disk" else cache
                rates = epoch_rates(source, cfg, where, args.epochs)
                later = float(np.median(rates[1:])) if len(rates) > 1 else rates[0]
                slowest = min(slowest, *rates)
                print(f"  {cache:8s} {rates[0]:14.0f} {later:14.0f}")
            step = step_rate(cfg, args.steps)
            print(f"  train step ({cfg.resolution}x{cfg.resolution}, width {cfg.width}): "
                  f"{step:.0f} images/s; slowest pipeline epoch is {slowest / step:.0f}x that")


if __name__ == "__main__":
    main()
