"""Walks and arithmetic in z, as tools and measurements (docs/paper_notes.md §6.1, §6.3.2).

Every function takes a generator `G`: a DCGAN (its `generate` is used), a keras Model, or any
callable z -> images in [-1, 1]. The z maths is plain numpy; images come back as uint8. z is
drawn by dcgan_tf.prior (`sample_prior`, `typical_norm` are re-exported here); the protocol
that turns these tools into a chapter's or a benchmark's numbers is
dcgan_tf.studies.latent_measures.

Why slerp. Both priors put nearly all their mass on a thin shell. For z_dim = 100 a uniform z
on [-1, 1]^100 has |z| = sqrt(100/3) = 5.77 +- 0.26 and a normal z has |z| = 10 +- 0.71. The
straight line between two independent draws cuts through the inside of the shell: its
midpoint has norm ~|z|/sqrt(2) (4.1 and 7.1), some 6.6 and 4.1 standard deviations of |z|
below the shell that G was trained on. Slerp turns the direction along the great circle at
constant angular speed and moves the length linearly, so every point of the path has a
typical norm. For the normal prior that is the whole story: the normal is
rotation-invariant, so a slerp point is distributed like a fresh draw. For the paper's
uniform prior it is only half of it: the cube is not rotation-invariant, and a slerp
midpoint ~(z0 + z1)/sqrt(2) has ~8.5% of its coordinates outside [-1, 1] (up to ~1.4), where
G was never trained, while the straight line never leaves the cube. So for the uniform prior
both paths leave the training distribution, in different ways; `walk_smoothness` measures
which of them G renders more evenly.
"""

from __future__ import annotations

import numpy as np

from dcgan_tf.config import InputError
from dcgan_tf.inference import render  # noqa: F401  (re-exported: chapter 3 uses it)
from dcgan_tf.prior import prior_of, sample_prior, typical_norm  # noqa: F401  (re-exported)

# --------------------------------------------------------------------------- interpolation


def lerp(z0, z1, t) -> np.ndarray:
    """Points (1 - t) z0 + t z1 on the straight line, one row per value of t."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.atleast_1d(np.asarray(t, np.float64))[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0, z1, t, eps: float = 1e-6) -> np.ndarray:
    """Spherical interpolation: the direction moves along the great circle from z0 to z1 at
    constant angular speed, the norm moves linearly from |z0| to |z1|.

    With |z0| = |z1| this is Shoemake's slerp. Nearly parallel directions (angle < eps) fall
    back to lerp, where the arc and the chord agree; opposite directions have no unique great
    circle, so the path goes through a fixed direction orthogonal to z0.
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.atleast_1d(np.asarray(t, np.float64))[:, None]
    r0, r1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if min(r0, r1) < eps:  # a zero vector has no direction
        return lerp(z0, z1, t[:, 0])
    u0, u1 = z0 / r0, z1 / r1
    omega = np.arccos(np.clip(u0 @ u1, -1.0, 1.0))
    if omega < eps:
        return lerp(z0, z1, t[:, 0])
    if np.pi - omega < eps:  # antipodal: rotate through the axis least aligned with u0
        axis = np.zeros_like(u0)
        axis[np.argmin(np.abs(u0))] = 1.0
        w = axis - (axis @ u0) * u0
        w /= np.linalg.norm(w)
        u = np.cos(np.pi * t) * u0 + np.sin(np.pi * t) * w
    else:
        u = (np.sin((1 - t) * omega) * u0 + np.sin(t * omega) * u1) / np.sin(omega)
    return ((1 - t) * r0 + t * r1) * u


def interpolate(z0, z1, steps: int = 10, method: str = "slerp") -> np.ndarray:
    """`steps` points from z0 to z1 inclusive, (steps, z_dim), by "linear" or "slerp"."""
    if method not in ("linear", "slerp"):
        raise InputError(f"method must be 'linear' or 'slerp', got {method!r}")
    if steps < 2:
        raise InputError(f"steps must be at least 2 (both ends), got {steps}")
    t = np.linspace(0.0, 1.0, steps)
    return (lerp if method == "linear" else slerp)(z0, z1, t).astype(np.float32)


def walk(points, steps: int = 10, method: str = "slerp") -> np.ndarray:
    """A walk through a series of points (the paper used 9), as (len(points) - 1, steps, z_dim).

    Row i goes from points[i] to points[i + 1], both included, so every row of the rendered
    grid reads on its own as one interpolation (Fig. 4) and row i ends where row i + 1 starts.
    """
    points = np.asarray(points, np.float32)
    if points.ndim != 2 or len(points) < 2:
        raise InputError(f"walk needs at least 2 points shaped (n, z_dim), got {points.shape}")
    return np.stack([interpolate(a, b, steps, method) for a, b in zip(points, points[1:])])


# --------------------------------------------------------------------------- concept vectors


def concept_mean(zs) -> np.ndarray:
    """The concept vector: the mean z of its exemplars, (k, z_dim) or one (z_dim,) -> (z_dim,)."""
    zs = np.asarray(zs, np.float32)
    return zs if zs.ndim == 1 else zs.mean(axis=0)


def arithmetic(a, b, c) -> np.ndarray:
    """Y = mean(a) - mean(b) + mean(c), e.g. smiling woman - neutral woman + neutral man."""
    return concept_mean(a) - concept_mean(b) + concept_mean(c)


def fig7_grid(y, rng=0, noise: float = 0.25, n: int = 8) -> np.ndarray:
    """Fig. 7's nine z: the centre y first, then n neighbours y + U(-noise, noise) per entry."""
    rng = np.random.default_rng(rng)
    y = np.asarray(y, np.float32)
    neighbours = y + rng.uniform(-noise, noise, (n, y.shape[-1])).astype(np.float32)
    return np.concatenate([y[None], neighbours])


def pixel_arithmetic(a, b, c) -> np.ndarray:
    """The pixel-space baseline: mean image of a - of b + of c, clipped, as uint8.

    The weights (1, -1, 1) sum to one, so doing this on uint8 or on [-1, 1] images is the same.
    """
    def mean(x):
        x = np.asarray(x, np.float64)
        return x.mean(axis=0) if x.ndim == 4 else x

    out = mean(a) - mean(b) + mean(c)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def turn_vector(z_left, z_right) -> np.ndarray:
    """mean(z_left) - mean(z_right) (the paper averaged four of each): adding it turns left."""
    return concept_mean(z_left) - concept_mean(z_right)


def apply_turn(z, v, alphas=np.linspace(-1.0, 1.0, 9)) -> np.ndarray:
    """z + alpha v for every alpha: (n, len(alphas), z_dim), one row of Fig. 8 per z."""
    z = np.atleast_2d(np.asarray(z, np.float32))
    alphas = np.asarray(alphas, np.float32)
    return z[:, None, :] + alphas[None, :, None] * np.asarray(v, np.float32)


# --------------------------------------------------------------------------- exemplars


def pick_exemplars_by_hand(z_sheet, indices) -> np.ndarray:
    """The z behind chosen cells of a sample sheet (row-major indices), as the original code
    had the user do: render a sheet, look, and note the indices of three smiling women."""
    z_sheet = np.asarray(z_sheet, np.float32)
    indices = np.asarray(indices, int).ravel()
    bad = indices[(indices < 0) | (indices >= len(z_sheet))]
    if bad.size:
        raise IndexError(f"indices {bad.tolist()} outside the sheet of {len(z_sheet)} samples")
    return z_sheet[indices]


def concept_score(pred: dict, condition) -> np.ndarray:
    """How well each sample fits a concept: log P(all flags) for a dict {factor: bool} of the
    probes' probabilities (factors taken as independent), or condition(pred) for a callable."""
    if callable(condition):
        return np.asarray(condition(pred), np.float64)
    score = 0.0
    for factor, want in condition.items():
        if factor not in pred:
            raise KeyError(f"the probes have no factor {factor!r}; they give {sorted(pred)}")
        p = np.clip(np.asarray(pred[factor], np.float64), 1e-6, 1 - 1e-6)
        score = score + np.log(p if want else 1.0 - p)
    return score


def attribute_match(pred: dict, target: dict, threshold: float = 0.5) -> np.ndarray:
    """Per sample: True when every probed binary factor is on the side target asks for."""
    ok = True
    for factor, want in target.items():
        if factor not in pred:
            raise KeyError(f"the probes have no factor {factor!r}; they give {sorted(pred)}")
        ok = ok & ((np.asarray(pred[factor]) > threshold) == bool(want))
    return np.asarray(ok)


def pick_exemplars_by_probes(G, probes, concepts: dict, n: int = 2000, k: int = 3, *,
                             z_dim: int | None = None, prior: str | None = None, seed=0,
                             return_scores: bool = False):
    """Sample n z, score G(z) with the probes and keep the k best z for each concept.

    concepts maps a name to a condition of `concept_score`, e.g.
    {"smiling woman": {"smiling": True, "beard": False}, "left": lambda p: p["yaw"]}.
    A sample is used by at most one concept (the first that asks for it). z_dim and prior
    default to G's config for a DCGAN, else 100 and "uniform". n must cover every concept's
    k samples (n >= len(concepts) * k): a pool is never short and never shares a sample.
    """
    if n < len(concepts) * k:
        raise InputError(f"{len(concepts)} concepts x k={k} exemplars need at least "
                         f"{len(concepts) * k} samples, got n={n}")
    z = sample_prior(n, *prior_of(G, z_dim, prior), seed)
    pred = probes.predict(render(G, z, progress=n > 1000))
    taken = np.zeros(n, bool)
    chosen, scores = {}, {}
    for name, condition in concepts.items():
        s = np.where(taken, -np.inf, concept_score(pred, condition))
        best = np.argsort(-s, kind="stable")[:k]
        taken[best] = True
        chosen[name], scores[name] = z[best], s[best]
    return (chosen, scores) if return_scores else chosen


# --------------------------------------------------------------------------- nearest neighbours


def nearest_neighbours(queries, references, k: int = 3, features=None, chunk: int = 2048):
    """Indices (n, k) and L2 distances (n, k) of each query's k closest references.

    `features=None` compares raw pixels; pass e.g. `probes.features` to compare in a learned
    feature space. What this can show: whether a sample is (nearly) a copy of one training
    image. What it cannot: a sample whose nearest neighbour is far away may still recombine
    memorised parts, and pixel L2 is dominated by colour and position, so a copy shifted by a
    few pixels looks far while two unrelated faces on the same background look close. On data
    drawn from a few discrete factors, near-identical neighbours also arise without any
    memorising. This is why the paper calls it a poor metric (6) and argues from smooth walks
    instead (6.1).
    """
    def embed(x):
        x = np.asarray(features(x) if features is not None else x, np.float32)
        return x.reshape(len(x), -1)

    q = embed(queries).astype(np.float64)
    k = min(k, len(references))
    best_d = np.zeros((len(q), 0))
    best_i = np.zeros((len(q), 0), int)
    for start in range(0, len(references), chunk):
        r = embed(references[start:start + chunk]).astype(np.float64)
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2, one matrix product per chunk of references
        d = (q**2).sum(1)[:, None] - 2 * q @ r.T + (r**2).sum(1)[None]
        idx = np.broadcast_to(np.arange(start, start + len(r)), d.shape)
        best_d = np.concatenate([best_d, d], axis=1)
        best_i = np.concatenate([best_i, idx], axis=1)
        keep = np.argsort(best_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(best_d, keep, 1)
        best_i = np.take_along_axis(best_i, keep, 1)
    return best_i, np.sqrt(np.maximum(best_d, 0.0))


# --------------------------------------------------------------------------- measurements


def arithmetic_success(G, probes, pools, target: dict, *, k: int = 3, pixel: bool = False,
                       trials: int = 20, noise: float = 0.25, n_neighbours: int = 8,
                       seed=0) -> dict:
    """Share of arithmetic outputs whose probed attributes all match `target`.

    pools = (A, B, C): candidate exemplar z per concept, e.g. the 20 most confident from
    `pick_exemplars_by_probes`. Each trial draws k exemplars per concept (k=3: the paper's
    means; k=1: single exemplars) and renders Fig. 7's centre and n_neighbours noisy
    neighbours of Y. With pixel=True the same sum is done on the exemplars' images, one
    output per trial; the same seed draws the same exemplars either way.
    Returns {"share", "outputs", "per_factor": {factor: share on that factor alone},
    "images": the outputs}. A probe can be fooled by a pixel overlay it was never trained on,
    so judge pixel-space outputs also by how far they lie from real images.
    """
    pools = [np.asarray(p, np.float32) for p in pools]
    for name, pool in zip("ABC", pools):
        if len(pool) < k:
            raise InputError(f"pool {name} holds {len(pool)} exemplars, fewer than k={k}")
    pick_rng, noise_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    picks = [[p[pick_rng.choice(len(p), k, replace=False)] for p in pools]
             for _ in range(trials)]
    if pixel:
        exemplar_images = render(G, np.array(picks))  # (trials, 3, k, H, W, C)
        images = np.stack([pixel_arithmetic(*trial) for trial in exemplar_images])
    else:
        z = [fig7_grid(arithmetic(*abc), noise_rng, noise, n_neighbours) for abc in picks]
        images = render(G, np.concatenate(z))
    pred = probes.predict(images)
    per_factor = {f: float(attribute_match(pred, {f: want}).mean()) for f, want in target.items()}
    ok = attribute_match(pred, target)
    return {"share": float(ok.mean()), "outputs": int(ok.size), "per_factor": per_factor,
            "images": images}


def turn_monotonic_share(G, probes, z, v, factor: str = "yaw",
                         alphas=np.linspace(-1.0, 1.0, 9), direction: int = 1,
                         tol: float = 0.0) -> dict:
    """Share of z whose probed `factor` moves monotonically in `direction` along z + alpha v.

    A path counts when no step goes back by more than `tol` (the probe's own jitter) and the
    end-to-end change in `direction` is more than all steps' jitter, (len(alphas) - 1) tol:
    a face that does not turn is not counted. direction=0 accepts either way: the fair count
    for a random direction, which has no intended way. Also returns the mean end-to-end
    change (in `direction`, or its size for 0) and the (n, len(alphas)) probed values.
    """
    if direction not in (-1, 0, 1):
        raise InputError(f"direction must be -1, 0 or 1, got {direction}")
    paths = apply_turn(z, v, alphas)
    n, a, _ = paths.shape
    values = np.asarray(probes.predict(render(G, paths.reshape(n * a, -1)))[factor],
                        np.float64).reshape(n, a)
    steps = np.diff(values, axis=1)
    change = values[:, -1] - values[:, 0]
    jitter = (a - 1) * tol  # what a flat path may drift by without ever going back
    up = (steps >= -tol).all(axis=1) & (change > jitter)
    down = (steps <= tol).all(axis=1) & (-change > jitter)
    monotonic = {1: up, -1: down, 0: up | down}[direction]
    change = np.abs(change) if direction == 0 else direction * change
    return {"share": float(monotonic.mean()), "n": n, "mean_change": float(change.mean()),
            "values": values}


def step_ratio(frames) -> float:
    """Largest step between neighbouring frames over the mean step (L2). 1 means an evenly
    paced path; a large value means one step carries a jump, the sharp transition that
    docs/paper_notes.md §6.1 reads as a sign of memorisation. NaN if no frame moves."""
    f = np.asarray(frames, np.float64).reshape(len(frames), -1)
    steps = np.linalg.norm(np.diff(f, axis=0), axis=1)
    mean = steps.mean()
    return float(steps.max() / mean) if mean > 0 else float("nan")


def walk_smoothness(G, points, steps: int = 10, method: str = "slerp",
                    features=None) -> np.ndarray:
    """`step_ratio` of every row of walk(points): on pixels, or on features(images)."""
    rows = render(G, walk(points, steps, method))
    return np.array([step_ratio(features(row) if features is not None else row)
                     for row in rows])
