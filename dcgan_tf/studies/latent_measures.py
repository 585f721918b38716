"""Latent measurements: docs/paper_notes.md §6.1 and §6.3.2 as numbers, with their seeds.

`measure(G, probes, seed=...)` runs the three measurements that chapter 03 shows and
`benchmarks/latent_measures.py` prints, from one base seed:
  arithmetic  share of outputs whose probed attributes match the target, for 3-exemplar
              means, single exemplars and pixel space, beside chance (plain samples that
              already match); with a DCGAN's discriminator logit and, given reference
              images, the pixel distance to the nearest of them (a probe can be fooled by a
              pixel overlay; these two cannot be in the same way)
  turn        share of random z whose probed yaw moves monotonically the intended way along
              z + alpha v (v from 4 left- minus 4 right-looking exemplars), beside random
              directions of the same length
  walks       step ratio (largest step / mean step) of 9-point walks, linear vs slerp, in
              pixels and in probe features, and |z| at t = 0.5 of each segment
Every draw has its own random stream, `stream(seed, STREAM, i)`: CHANCE the plain samples,
POOLS and TRIALS (i = problem p) problem p's exemplar pools and its trials' picks and noise,
TURN_POOLS, TURN_PICKS the turn pools and the vector picks (with the random directions),
TURN_Z (i = vector) the z turned by vector i, WALKS (i = walk) the points of walk w. The
streams are spawned from SeedSequence(seed), so no two draws share numbers, within a call
or across base seeds. `str(result)` is the benchmark's printed report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dcgan_tf.config import InputError
from dcgan_tf.data import to_model_range
from dcgan_tf.studies import latent

ALPHAS = np.linspace(-1.0, 1.0, 9)
SETTINGS = (("3-exemplar means", 3, False), ("single exemplars", 1, False),
            ("pixel space, 3-exemplar means", 3, True))  # (label, k, pixel)
N_CHANCE = 2000  # plain samples that give chance
N_PLAUSIBLE = 300  # plain samples whose D logit and nearest-face distance are the yardstick
CHANCE, POOLS, TRIALS, TURN_POOLS, TURN_PICKS, TURN_Z, WALKS = range(1, 8)  # stream ids


def stream(seed: int, stream_id: int, index: int = 0) -> np.random.SeedSequence:
    """The seed of one draw: SeedSequence(seed) spawned at (stream_id, index). Unlike
    seed + offset, different base seeds, streams or indices never give the same numbers."""
    return np.random.SeedSequence(seed, spawn_key=(stream_id, index))


def paper_problems(smile: str = "smiling", glasses: str = "glasses",
                   man: str = "beard") -> dict:
    """The paper's two sums as {name: (A, B, C, target)}, in the probes' factor names.

    The defaults are the procedural faces' probes: they have no sex, a beard marks a man;
    for CelebA's label probes pass "Smiling", "Eyeglasses", "Male"."""
    return {
        "smiling woman - neutral woman + neutral man = smiling man": (
            {smile: True, man: False}, {smile: False, man: False},
            {smile: False, man: True}, {smile: True, man: True}),
        "man with glasses - man without + woman without = woman with glasses": (
            {glasses: True, man: True}, {glasses: False, man: True},
            {glasses: False, man: False}, {glasses: True, man: False}),
    }


def _mean_max(x):
    x = np.asarray(x)
    return f"mean {np.nanmean(x):.2f}  median {np.nanmedian(x):.2f}  max {np.nanmax(x):.2f}"


@dataclass
class Arithmetic:
    """One sum: its exemplar pools, chance, and per setting the arithmetic_success dict plus
    "d_logit" (D's mean logit on the outputs) and "distance" (their mean distance to the
    nearest reference image over that of plain samples); both None when not measured."""
    name: str
    target: dict
    pools: list
    chance: float
    settings: dict = field(default_factory=dict)

    def __str__(self):
        lines = [f"\n{self.name}\n  target {self.target}; chance (random samples that match):"
                 f" {self.chance:.2f}"]
        for label, res in self.settings.items():
            per = ", ".join(f"{f} {s:.2f}" for f, s in res["per_factor"].items())
            line = (f"  {label:31s} success {res['share']:.2f} of {res['outputs']:3d} outputs "
                    f"({per})")
            extra = []
            if res.get("d_logit") is not None:
                extra.append(f"D {res['d_logit']:+.2f}")
            if res.get("distance") is not None:
                extra.append(f"distance x{res['distance']:.2f}")
            lines.append(line + ("; " + ", ".join(extra) if extra else ""))
        return "\n".join(lines)


@dataclass
class Turn:
    """The turn vectors' monotonic shares (one per vector) and a random direction's, with
    the probed yaw along every path ((n, len(ALPHAS)), the vectors' z one after another)."""
    shares: list
    changes: list
    random_shares: list
    norms: list
    per_vector: int
    tol: float
    pools: dict
    values: np.ndarray
    random_values: np.ndarray

    @property
    def share(self) -> float:
        return float(np.mean(self.shares))

    @property
    def random_share(self) -> float:
        return float(np.mean(self.random_shares))

    @property
    def mean_change(self) -> float:
        return float(np.mean(self.changes))

    def __str__(self):
        n = self.per_vector * len(self.shares)
        return "\n".join([
            f"\nturn vector (4 left - 4 right, {len(self.shares)} vectors x {self.per_vector}"
            f" random z, alpha in [-1, 1] in 9 steps, tolerance {self.tol}; |v| mean "
            f"{np.mean(self.norms):.2f})",
            f"  monotonic in the intended direction: {self.share:.2f} of {n} z "
            f"(per vector min {np.min(self.shares):.2f}, max {np.max(self.shares):.2f}); "
            f"mean yaw change end to end {self.mean_change:+.2f}",
            f"  random direction of the same length, monotonic either way: "
            f"{self.random_share:.2f} of {n} z"])


@dataclass
class Walks:
    """Step ratios per method: {"linear"|"slerp": {"pixels", "features": arrays over
    segments, "mid_norm": mean |z| at t = 0.5 of a segment}}, and the prior's typical |z|."""
    methods: dict
    walks: int
    steps: int
    typical_norm: tuple

    def __str__(self):
        mean_norm, std_norm = self.typical_norm
        lines = [f"\nwalks: {self.walks} walks through 9 random points, {self.steps} frames "
                 f"per segment; prior |z| = {mean_norm:.2f} +- {std_norm:.2f}"]
        for method, m in self.methods.items():
            lines += [f"  {method:6s} max/mean step, pixels:         {_mean_max(m['pixels'])}"
                      f"  ({len(m['pixels'])} segments)",
                      f"  {method:6s} max/mean step, probe features: "
                      f"{_mean_max(m['features'])}",
                      f"  {method:6s} |z| mid-segment (t = 0.5): {m['mid_norm']:.2f}"]
        return "\n".join(lines)


@dataclass
class LatentMeasures:
    """What `measure` returns; str() is the benchmark's report."""
    plain: dict  # {"d_logit", "distance", "n_reference"} of plain samples (None: not measured)
    arithmetic: dict  # problem name -> Arithmetic
    turn: Turn
    walks: Walks

    def __str__(self):
        parts = []
        if self.plain["d_logit"] is not None or self.plain["distance"] is not None:
            bits = []
            if self.plain["d_logit"] is not None:
                bits.append(f"D logit {self.plain['d_logit']:+.2f}")
            if self.plain["distance"] is not None:
                bits.append(f"pixel distance to the nearest of {self.plain['n_reference']} "
                            f"training faces {self.plain['distance']:.0f} (= distance x1.00)")
            parts.append("\nplain samples: " + ", ".join(bits))
        parts += [str(a) for a in self.arithmetic.values()]
        return "\n".join(parts + [str(self.turn), str(self.walks)])


class _Plausibility:
    """A DCGAN's mean D logit and the mean pixel distance to the nearest reference image."""

    def __init__(self, G, reference):
        self.D = getattr(G, "discriminator", None)
        self.pixel_range = G.cfg.pixel_range if hasattr(G, "cfg") else (-1.0, 1.0)
        self.reference = None if reference is None else np.asarray(reference)

    def d_logit(self, images):
        if self.D is None:
            return None

        x = to_model_range(images, self.pixel_range)  # D sees what G draws, in G's range
        return float(np.mean(self.D(x, training=False)))

    def distance(self, images):
        if self.reference is None:
            return None
        return float(latent.nearest_neighbours(images, self.reference, k=1)[1].mean())


def measure_arithmetic(G, probes, problems, *, seed, n, pool, trials, z_dim, prior,
                       plausible) -> tuple[dict, dict]:
    """(plain, {name: Arithmetic}) for each problem (A, B, C, target); see the module."""
    chance_images = latent.render(G, latent.sample_prior(N_CHANCE, z_dim, prior,
                                                         stream(seed, CHANCE)))
    chance_pred = probes.predict(chance_images)
    plain_images = chance_images[:N_PLAUSIBLE]
    typical = plausible.distance(plain_images)
    plain = {"d_logit": plausible.d_logit(plain_images), "distance": typical,
             "n_reference": None if plausible.reference is None else len(plausible.reference)}
    results = {}
    for p, (name, (a, b, c, target)) in enumerate(problems.items()):
        found = latent.pick_exemplars_by_probes(
            G, probes, {"A": a, "B": b, "C": c}, n=n, k=pool, z_dim=z_dim, prior=prior,
            seed=stream(seed, POOLS, p))
        res = Arithmetic(name, target, [found[k] for k in "ABC"],
                         float(latent.attribute_match(chance_pred, target).mean()))
        # one seed for all settings: they draw the same exemplars, so they compare fairly
        trial_seed = int(stream(seed, TRIALS, p).generate_state(1)[0])
        for label, k, pixel in SETTINGS:
            r = latent.arithmetic_success(G, probes, res.pools, target, k=k, pixel=pixel,
                                          trials=trials, seed=trial_seed)
            d = plausible.distance(r["images"])
            r["d_logit"] = plausible.d_logit(r["images"])
            r["distance"] = None if d is None else d / typical
            res.settings[label] = r
        results[name] = res
    return plain, results


def measure_turn(G, probes, *, seed, n, pool, vectors, turn_z, tol, z_dim, prior) -> Turn:
    """Turn vectors from the pools of the `pool` most left/right-looking of n samples."""
    pools = latent.pick_exemplars_by_probes(
        G, probes, {"left": lambda p: -p["yaw"], "right": lambda p: p["yaw"]},
        n=n, k=pool, z_dim=z_dim, prior=prior, seed=stream(seed, TURN_POOLS))
    rng = np.random.default_rng(stream(seed, TURN_PICKS))
    per_v = turn_z // vectors
    shares, changes, random_shares, norms, values, random_values = [], [], [], [], [], []
    for i in range(vectors):
        v = latent.turn_vector(pools["left"][rng.choice(pool, 4, replace=False)],
                               pools["right"][rng.choice(pool, 4, replace=False)])
        z = latent.sample_prior(per_v, z_dim, prior, seed=stream(seed, TURN_Z, i))
        # adding v turns towards the left-looking exemplars: yaw goes down (procedural's
        # convention: yaw < 0 looks towards the left edge of the picture)
        res = latent.turn_monotonic_share(G, probes, z, v, "yaw", ALPHAS, direction=-1,
                                          tol=tol)
        u = rng.standard_normal(z_dim)
        u *= np.linalg.norm(v) / np.linalg.norm(u)
        # a random direction has no intended way: it counts if yaw moves either way
        either = latent.turn_monotonic_share(G, probes, z, u, "yaw", ALPHAS, direction=0,
                                             tol=tol)
        shares.append(res["share"]), changes.append(res["mean_change"])
        random_shares.append(either["share"]), norms.append(float(np.linalg.norm(v)))
        values.append(res["values"]), random_values.append(either["values"])
    return Turn(shares, changes, random_shares, norms, per_v, tol, pools,
                np.concatenate(values), np.concatenate(random_values))


def measure_walks(G, probes, *, seed, walks, steps, z_dim, prior) -> Walks:
    """Step ratios of `walks` 9-point walks, linear and slerp, on pixels and features.

    Both methods walk through the same points; each walk is rendered once per method."""
    points = [latent.sample_prior(9, z_dim, prior, seed=stream(seed, WALKS, w))
              for w in range(walks)]
    methods = {}
    for method, between in (("linear", latent.lerp), ("slerp", latent.slerp)):
        pix, feat, mid = [], [], []
        for p in points:
            rows = latent.render(G, latent.walk(p, steps, method))  # (segments, steps, ...)
            feats = np.asarray(probes.features(rows.reshape(-1, *rows.shape[2:])))
            pix.extend(latent.step_ratio(row) for row in rows)
            feat.extend(latent.step_ratio(f) for f in feats.reshape(len(rows), steps, -1))
            mid.extend(np.linalg.norm(between(a, b, 0.5)[0]) for a, b in zip(p, p[1:]))
        methods[method] = {"pixels": np.array(pix), "features": np.array(feat),
                           "mid_norm": float(np.mean(mid))}
    return Walks(methods, walks, steps, latent.typical_norm(z_dim, prior))


def _check_arguments(n, pool, trials, turn_vectors, turn_z, tol, walks, steps):
    """Clear errors for arguments the protocol cannot use (not silently rounded)."""
    for name, value, least in (("pool", pool, 4), ("trials", trials, 1),
                               ("turn_vectors", turn_vectors, 1), ("walks", walks, 1),
                               ("steps", steps, 2)):
        if int(value) != value or value < least:
            why = " (the exemplars a turn vector uses)" if name == "pool" else ""
            raise InputError(f"{name} must be a whole number of at least {least}{why}, "
                             f"got {value}")
    if turn_z < turn_vectors or turn_z % turn_vectors:
        raise InputError(f"turn_z must be a multiple of turn_vectors={turn_vectors} (each "
                         f"vector turns turn_z / turn_vectors z), got {turn_z}")
    if not tol >= 0:
        raise InputError(f"tol must be >= 0 (the yaw jitter allowed per step), got {tol}")
    if n < 3 * pool:  # a sum's A, B and C pools come from one draw of n (the turn's 2 too)
        raise InputError(f"n={n} samples cannot fill 3 pools of pool={pool} exemplars")


def measure(G, probes, *, seed: int = 0, problems: dict | None = None, n: int = 4000,
            pool: int = 20, trials: int = 30, turn_vectors: int = 10, turn_z: int = 200,
            tol: float = 0.02, walks: int = 10, steps: int = 10, reference=None,
            z_dim: int | None = None, prior: str | None = None) -> LatentMeasures:
    """The whole protocol (see the module docstring); the defaults are docs/results.md's run.

    n random samples are drawn and scored for each sum's pools (one draw per sum) and for
    the turn's pools, and the `pool` most confident kept per concept; `trials` arithmetic
    trials per setting; `turn_vectors` vectors each turning turn_z / turn_vectors random z,
    with `tol` yaw jitter allowed per step; `walks` walks of `steps` frames per segment.
    `reference`: uint8 training images for the nearest-image distance (None: not measured).
    z_dim and prior default to a DCGAN's config.
    """
    problems = paper_problems() if problems is None else problems
    _check_arguments(n, pool, trials, turn_vectors, turn_z, tol, walks, steps)
    z_dim, prior = latent.prior_of(G, z_dim, prior)
    plain, arithmetic = measure_arithmetic(
        G, probes, problems, seed=seed, n=n, pool=pool, trials=trials,
        z_dim=z_dim, prior=prior, plausible=_Plausibility(G, reference))
    turn = measure_turn(G, probes, seed=seed, n=n, pool=pool, vectors=turn_vectors,
                        turn_z=turn_z, tol=tol, z_dim=z_dim, prior=prior)
    return LatentMeasures(plain, arithmetic, turn,
                          measure_walks(G, probes, seed=seed, walks=walks, steps=steps,
                                        z_dim=z_dim, prior=prior))
