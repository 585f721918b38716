"""Distances between sets of images: the Frechet distance, diversity and saturation.

The health monitor uses all three every epoch; the scoring of procedural runs
(dcgan_tf.groundtruth.scoring) computes its probe Frechet distance with the same function.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from dcgan_tf.config import InputError

POOL = 8  # the data-independent space: images averaged down to 8x8 pixels


def pixel_features(images, pixel_range=(-1.0, 1.0), pool: int = POOL) -> np.ndarray:
    """Images (N, H, W, C) in `pixel_range` (or uint8) -> (N, pool*pool*C) means in [0, 1]."""
    x = np.asarray(images)
    lo, hi = (0.0, 255.0) if x.dtype == np.uint8 else pixel_range
    x = (x.astype(np.float64) - lo) / (hi - lo)
    n, h, w, c = x.shape
    if h % pool or w % pool:
        raise InputError(f"image side {h}x{w} is not a multiple of {pool}")
    x = x.reshape(n, pool, h // pool, pool, w // pool, c).mean(axis=(2, 4))
    return x.reshape(n, -1)


def diversity(features) -> float:
    """Mean Euclidean distance between all pairs of rows (0 for identical rows)."""
    f = np.asarray(features, np.float64)
    sq = np.sum(f * f, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * f @ f.T, 0.0)
    n = len(f)
    return float(np.sqrt(d2)[np.triu_indices(n, 1)].mean())


def saturation(images, pixel_range=(-1.0, 1.0), margin: float = 0.01) -> float:
    """Share of values within `margin` (of the range) of either end of `pixel_range`."""
    x = np.asarray(images)
    lo, hi = (0.0, 255.0) if x.dtype == np.uint8 else pixel_range
    t = (x.astype(np.float64) - lo) / (hi - lo)
    return float(np.mean((t <= margin) | (t >= 1.0 - margin)))


def frechet_from_stats(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)). The matrix square root
    can pick up tiny imaginary parts from rounding: they are dropped. If the product is
    singular (a feature that never fires has zero variance), not finite, or its root has
    imaginary parts that are not tiny, eps is added to both diagonals and it is tried again.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2,
                                                                                   np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2,
                                                                                    np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise InputError(f"mismatched statistics: means {mu1.shape}, {mu2.shape}; "
                         f"covariances {s1.shape}, {s2.shape}")
    diff = mu1 - mu2

    def root(a, b):
        with warnings.catch_warnings():  # a singular product (dead features): use eps
            warnings.simplefilter("error", linalg.LinAlgWarning)
            try:
                r = linalg.sqrtm(a @ b)
            except linalg.LinAlgWarning:
                return None, False
        ok = np.all(np.isfinite(r))
        if ok and np.iscomplexobj(r):
            ok = np.max(np.abs(r.imag)) <= 1e-3 * max(1.0, np.max(np.abs(r.real)))
            r = r.real
        return r, ok

    covmean, ok = root(s1, s2)
    if not ok:
        offset = np.eye(len(s1)) * eps
        covmean, ok = root(s1 + offset, s2 + offset)
        if not ok:
            raise ValueError("Frechet distance: the covariance product has no usable real "
                             "square root (too few samples for the feature dimension?)")
    fd = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    return float(max(fd, 0.0))


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (n, d)."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"expected two (n, d) feature arrays, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise InputError("need at least two samples per set for a covariance")
    return frechet_from_stats(a.mean(0), np.cov(a, rowvar=False),
                              b.mean(0), np.cov(b, rowvar=False))
