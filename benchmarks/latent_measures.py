"""Latent walks and vector arithmetic of a trained run, measured with the attribute probes.

    python benchmarks/latent_measures.py --run runs/faces
    python benchmarks/latent_measures.py --run runs/faces --trials 40 --seed 1

Judged by eye in the paper (docs/paper_notes.md §6.1, §6.3.2); here scored by the probes of the
procedural faces (dcgan_tf.groundtruth.probes) at the run's resolution:
  arithmetic  share of outputs (Fig. 7's centre + 8 neighbours) whose probed attributes match
              the target, for 3-exemplar means, single exemplars and pixel space, beside the
              share of plain random samples that already match (chance); and, since a probe
              can be fooled by a pixel overlay, the discriminator's mean logit and the
              pixel distance to the nearest training image (the first --reference images
              of the source the run trained on) relative to plain samples
  turn        share of random z whose probed yaw moves monotonically the intended way along
              z + alpha * v (v from 4 left- minus 4 right-looking samples), beside random
              directions of the same length
  walks       largest step between neighbouring frames over the mean step, linear vs slerp,
              in pixels and in probe features; and |z| at the middle of each segment
Exemplar pools are the most confident samples per concept among --n random samples; each
trial draws its exemplars from those pools. The protocol and its seeds are
dcgan_tf.studies.latent_measures.measure, the function chapter 03 runs too.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dcgan_tf import checkpoint  # noqa: E402
from dcgan_tf.config import InputError  # noqa: E402
from dcgan_tf.data import load_images  # noqa: E402
# get_probes is looked up per call (tests replace it), so the module is imported.
from dcgan_tf.groundtruth import probes as probes_module  # noqa: E402
from dcgan_tf.studies.latent_measures import measure, paper_problems  # noqa: E402
from dcgan_tf.train import ARRAY, load_run, recorded_source  # noqa: E402

# After the kit, which sets TensorFlow's CPU options before TensorFlow loads.
import tensorflow as tf  # noqa: E402


def reference_images(run_dir, cfg, n: int):
    """The first n training images of the run's recorded source, uint8 as G draws them."""
    source = recorded_source(run_dir)
    if source is None:
        sys.exit(f"{run_dir}: no data.json records what this run trained on, so there are "
                 "no training images to measure distances to")
    if source == ARRAY:
        sys.exit(f"{run_dir} was trained on an in-memory array: its training images cannot "
                 "be read back for the nearest-image distance")
    try:
        ds = load_images(source, cfg.resolution, cfg.channels).take(n)
        return np.stack(list(ds.as_numpy_iterator()))
    except (InputError, OSError, ValueError, tf.errors.OpError) as err:
        sys.exit(f"{run_dir}: cannot read its training data {source!r}: {err}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/faces", help="a run folder (dcgan_tf.train)")
    ap.add_argument("--probes", default="faces", choices=("faces", "rooms"),
                    help="procedural probe set to score with (the sums need faces)")
    ap.add_argument("--n", type=int, default=4000, help="random samples scored per pool")
    ap.add_argument("--pool", type=int, default=20, help="exemplar candidates per concept")
    ap.add_argument("--trials", type=int, default=30, help="arithmetic trials per setting")
    ap.add_argument("--turn-vectors", type=int, default=10, help="turn vectors drawn")
    ap.add_argument("--turn-z", type=int, default=200, help="random z turned in all")
    ap.add_argument("--tol", type=float, default=0.02, help="yaw jitter allowed per step")
    ap.add_argument("--walks", type=int, default=10, help="9-point walks per method")
    ap.add_argument("--steps", type=int, default=10, help="frames per walk segment")
    ap.add_argument("--reference", type=int, default=20_000,
                    help="training images searched for the nearest-image distance")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    needed = {f for sums in paper_problems().values() for c in sums for f in c} | {"yaw"}
    missing = sorted(needed - set(probes_module.HEADS[args.probes]))
    if missing:
        ap.error(f"the {args.probes} probes have no {', '.join(missing)}: the paper's sums "
                 "and the turn are scored by the faces probes (--probes faces)")
    start = time.perf_counter()
    gan = load_run(args.run)
    cfg = gan.cfg
    print(f"run {args.run}: {cfg.resolution}x{cfg.resolution}, width {cfg.width}, batch "
          f"{cfg.batch_size}, {checkpoint.saved_epoch(args.run)} epochs trained, prior "
          f"{cfg.z_prior}; seed {args.seed}")
    real = reference_images(args.run, cfg, args.reference)
    probes = probes_module.get_probes(args.probes, cfg.resolution)
    print(measure(gan, probes, seed=args.seed, n=args.n, pool=args.pool, trials=args.trials,
                  turn_vectors=args.turn_vectors, turn_z=args.turn_z, tol=args.tol,
                  walks=args.walks, steps=args.steps, reference=real))
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
