"""Latent walks and vector arithmetic of a trained run, measured with the attribute probes.

    python benchmarks/latent_measures.py --run runs/faces
    python benchmarks/latent_measures.py --run runs/faces --trials 40 --seed 1

PAPER.md 6.1 and 6.3.2 judged these by eye; here every output is scored by the probes of the
procedural faces (dcgan_tf.probes) at the run's resolution:
  arithmetic  share of outputs (Fig. 7's centre + 8 neighbours) whose probed attributes match
              the target, for 3-exemplar means, single exemplars and pixel space, beside the
              share of plain random samples that already match (chance); and, since a probe
              can be fooled by a pixel overlay, the discriminator's mean logit and the
              pixel distance to the nearest training face relative to plain samples
  turn        share of random z whose probed yaw moves monotonically the intended way along
              z + alpha * v (v from 4 left- minus 4 right-looking samples), beside random
              directions of the same length
  walks       largest step between neighbouring frames over the mean step, linear vs slerp,
              in pixels and in probe features; and |z| at the middle of each segment
Exemplar pools are the most confident samples per concept among --n random samples; each
trial draws its exemplars from those pools.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dcgan_tf import checkpoint, latent  # noqa: E402
from dcgan_tf.train import load_run  # noqa: E402

# (A, B, C, target): A - B + C should show the target (PAPER.md 6.3.2). "Man" is the beard
# factor of the procedural faces: they have no sex, and a beard is what marks a man there.
PROBLEMS = {
    "smiling woman - neutral woman + neutral man = smiling man": (
        {"smiling": True, "beard": False}, {"smiling": False, "beard": False},
        {"smiling": False, "beard": True}, {"smiling": True, "beard": True}),
    "man with glasses - man without + woman without = woman with glasses": (
        {"glasses": True, "beard": True}, {"glasses": False, "beard": True},
        {"glasses": False, "beard": False}, {"glasses": True, "beard": False}),
}


def _mean_max(x):
    x = np.asarray(x)
    return f"mean {np.nanmean(x):.2f}  median {np.nanmedian(x):.2f}  max {np.nanmax(x):.2f}"


def measure_arithmetic(gan, probes, args, rng_seed):
    z_dim, prior = gan.cfg.z_dim, gan.cfg.z_prior
    chance_z = latent.sample_prior(2000, z_dim, prior, seed=rng_seed + 1)
    chance_images = latent.render(gan, chance_z)
    chance_pred = probes.predict(chance_images)
    # How face-like an output is. A probe can read "smiling" off a pixel overlay it was
    # never trained on, so two plausibility checks that probes do not make: the trained
    # discriminator's mean logit (plain samples score about the same as each other, overlays
    # far lower), and the pixel distance to the nearest training face relative to that of
    # plain samples (1 = as close as a typical sample).
    from dcgan_tf import procedural
    from dcgan_tf.data import to_model_range

    real, _ = procedural.load("faces", args.reference, seed=0, size=gan.cfg.resolution)

    def d_logit(images):
        return float(np.mean(gan.discriminator(to_model_range(images), training=False)))

    def nn_distance(images):
        return float(latent.nearest_neighbours(images, real, k=1)[1].mean())

    typical = nn_distance(chance_images[:300])
    print(f"\nplain samples: D logit {d_logit(chance_images[:300]):+.2f}, pixel distance to "
          f"the nearest of {len(real)} training faces {typical:.0f} (= distance x1.00)")
    for p, (name, (a, b, c, target)) in enumerate(PROBLEMS.items()):
        pools = latent.pick_exemplars_by_probes(
            gan, probes, {"A": a, "B": b, "C": c}, n=args.n, k=args.pool, z_dim=z_dim,
            prior=prior, seed=rng_seed + 10 + p)
        pools = [pools[k] for k in "ABC"]
        chance = latent.attribute_match(chance_pred, target).mean()
        print(f"\n{name}\n  target {target}; chance (random samples that match): "
              f"{chance:.2f}")
        for label, k, pixel in (("3-exemplar means", 3, False), ("single exemplars", 1, False),
                                ("pixel space, 3-exemplar means", 3, True)):
            res = latent.arithmetic_success(gan, probes, pools, target, k=k, pixel=pixel,
                                            trials=args.trials, seed=rng_seed)
            per = ", ".join(f"{f} {s:.2f}" for f, s in res["per_factor"].items())
            print(f"  {label:31s} success {res['share']:.2f} of {res['outputs']:3d} outputs "
                  f"({per}); D {d_logit(res['images']):+.2f}, "
                  f"distance x{nn_distance(res['images']) / typical:.2f}")


def measure_turn(gan, probes, args, rng_seed):
    z_dim, prior = gan.cfg.z_dim, gan.cfg.z_prior
    pools = latent.pick_exemplars_by_probes(
        gan, probes, {"left": lambda p: -p["yaw"], "right": lambda p: p["yaw"]},
        n=args.n, k=args.pool, z_dim=z_dim, prior=prior, seed=rng_seed + 20)
    rng = np.random.default_rng(rng_seed + 21)
    alphas = np.linspace(-1.0, 1.0, 9)
    per_v = max(1, args.turn_z // args.turn_vectors)
    shares, changes, random_shares, norms = [], [], [], []
    for i in range(args.turn_vectors):
        left = pools["left"][rng.choice(args.pool, 4, replace=False)]
        right = pools["right"][rng.choice(args.pool, 4, replace=False)]
        v = latent.turn_vector(left, right)
        z = latent.sample_prior(per_v, z_dim, prior, seed=rng_seed + 100 + i)
        # adding v turns towards the left-looking exemplars: yaw goes down (procedural's
        # convention: yaw < 0 looks towards the left edge of the picture)
        res = latent.turn_monotonic_share(gan, probes, z, v, "yaw", alphas, direction=-1,
                                          tol=args.tol)
        u = rng.standard_normal(z_dim)
        u *= np.linalg.norm(v) / np.linalg.norm(u)
        either = latent.turn_monotonic_share(gan, probes, z, u, "yaw", alphas, direction=0,
                                             tol=args.tol)["share"]
        shares.append(res["share"]), changes.append(res["mean_change"])
        random_shares.append(either), norms.append(np.linalg.norm(v))
    n = per_v * args.turn_vectors
    print(f"\nturn vector (4 left - 4 right, {args.turn_vectors} vectors x {per_v} random z, "
          f"alpha in [-1, 1] in 9 steps, tolerance {args.tol}; |v| mean {np.mean(norms):.2f})")
    print(f"  monotonic in the intended direction: {np.mean(shares):.2f} of {n} z "
          f"(per vector min {np.min(shares):.2f}, max {np.max(shares):.2f}); "
          f"mean yaw change end to end {np.mean(changes):+.2f}")
    print(f"  random direction of the same length, monotonic either way: "
          f"{np.mean(random_shares):.2f} of {n} z")


def measure_walks(gan, probes, args, rng_seed):
    z_dim, prior = gan.cfg.z_dim, gan.cfg.z_prior
    mean_norm, std_norm = latent.typical_norm(z_dim, prior)
    print(f"\nwalks: {args.walks} walks through 9 random points, {args.steps} frames per "
          f"segment; prior |z| = {mean_norm:.2f} +- {std_norm:.2f}")
    for method in ("linear", "slerp"):
        pix, feat, mid = [], [], []
        for w in range(args.walks):
            points = latent.sample_prior(9, z_dim, prior, seed=rng_seed + 200 + w)
            pix.extend(latent.walk_smoothness(gan, points, args.steps, method))
            feat.extend(latent.walk_smoothness(gan, points, args.steps, method,
                                               features=probes.features))
            path = latent.walk(points, args.steps, method)
            mid.extend(np.linalg.norm(path[:, args.steps // 2], axis=1))
        print(f"  {method:6s} max/mean step, pixels:         {_mean_max(pix)}  "
              f"({len(pix)} segments)")
        print(f"  {method:6s} max/mean step, probe features: {_mean_max(feat)}")
        print(f"  {method:6s} |z| mid-segment: {np.mean(mid):.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/faces", help="a run folder (dcgan_tf.train)")
    ap.add_argument("--probes", default="faces", help="procedural probe set to score with")
    ap.add_argument("--n", type=int, default=4000, help="random samples scored per pool")
    ap.add_argument("--pool", type=int, default=20, help="exemplar candidates per concept")
    ap.add_argument("--trials", type=int, default=30, help="arithmetic trials per setting")
    ap.add_argument("--turn-vectors", type=int, default=10, help="turn vectors drawn")
    ap.add_argument("--turn-z", type=int, default=200, help="random z turned in all")
    ap.add_argument("--tol", type=float, default=0.02, help="yaw jitter allowed per step")
    ap.add_argument("--walks", type=int, default=10, help="9-point walks per method")
    ap.add_argument("--steps", type=int, default=10, help="frames per walk segment")
    ap.add_argument("--reference", type=int, default=20_000,
                    help="training faces searched for the nearest-face distance")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from dcgan_tf.probes import get_probes

    start = time.perf_counter()
    gan = load_run(args.run)
    cfg = gan.cfg
    print(f"run {args.run}: {cfg.resolution}x{cfg.resolution}, width {cfg.width}, batch "
          f"{cfg.batch_size}, {checkpoint.saved_epoch(args.run)} epochs trained, prior "
          f"{cfg.z_prior}; seed {args.seed}")
    probes = get_probes(args.probes, cfg.resolution)
    measure_arithmetic(gan, probes, args, args.seed)
    measure_turn(gan, probes, args, args.seed)
    measure_walks(gan, probes, args, args.seed)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
