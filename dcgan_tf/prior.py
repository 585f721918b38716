"""The latent prior: the one place z is drawn, for training, sample grids and latent tools.

The paper draws z uniformly on [-1, 1]^100; N(0, 1) is the common alternative. Outside a
train step z comes from a numpy RNG (reproducible from an int seed); inside one it comes from
a `keras.random.SeedGenerator` the model owns, so the draw is part of the compiled step and
its state is checkpointed.
"""

from __future__ import annotations

import keras
import numpy as np

from dcgan_tf.config import PRIORS, InputError


def check_prior(prior: str) -> str:
    if prior not in PRIORS:
        raise InputError(f"prior must be one of {PRIORS}, got {prior!r}")
    return prior


def sample_prior(n, z_dim: int = 100, prior: str = "uniform", seed=0):
    """n latent vectors (n may be a tensor inside a train step) from the prior.

    `seed`: an int or numpy Generator gives a float32 numpy array; a keras SeedGenerator
    gives a tensor drawn in-graph (what DCGAN.train_step uses).
    """
    check_prior(prior)
    if type(seed).__name__ == "SeedGenerator":
        shape = (n, z_dim)
        if prior == "normal":
            return keras.random.normal(shape, seed=seed)
        return keras.random.uniform(shape, -1.0, 1.0, seed=seed)
    rng = np.random.default_rng(seed)
    if prior == "normal":
        return rng.standard_normal((n, z_dim)).astype(np.float32)
    return rng.uniform(-1.0, 1.0, (n, z_dim)).astype(np.float32)


def sample_z(cfg, n: int, seed=0) -> np.ndarray:
    """n latent vectors from the prior a config (or anything with z_dim and z_prior) names."""
    return sample_prior(n, cfg.z_dim, cfg.z_prior, seed)


def prior_of(G, z_dim: int | None = None, prior: str | None = None) -> tuple[int, str]:
    """(z_dim, prior): the ones given, else those of a DCGAN's config, else the paper's."""
    cfg = getattr(G, "cfg", None)
    return (z_dim or (cfg.z_dim if cfg else 100), prior or (cfg.z_prior if cfg else "uniform"))


def typical_norm(z_dim: int = 100, prior: str = "uniform") -> tuple[float, float]:
    """Mean and standard deviation of |z| under the prior (delta method, exact as d grows).

    |z|^2 is a sum of d i.i.d. terms: uniform E z_i^2 = 1/3, Var z_i^2 = 1/5 - 1/9 = 4/45;
    normal 1 and 2. So |z| ~ sqrt(d E) +- sqrt(d Var) / (2 sqrt(d E)).
    """
    mean_sq, var_sq = {"uniform": (1 / 3, 4 / 45), "normal": (1.0, 2.0)}[check_prior(prior)]
    m = np.sqrt(z_dim * mean_sq)
    return float(m), float(np.sqrt(z_dim * var_sq) / (2 * m))
