"""Batched inference: a network over many inputs, a batch at a time; G(z) as uint8 images.

Every pass of a trained network over more inputs than fit in one batch goes through
`in_batches`, so the loop, the progress bar and the joining of outputs exist once.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from dcgan_tf.config import InputError
from dcgan_tf.data import to_uint8


def batches(array, batch_size: int = 128):
    """Consecutive slices of `array` (images, latent vectors, a memory-mapped file) of at
    most batch_size rows, as numpy arrays."""
    for start in range(0, len(array), batch_size):
        yield np.asarray(array[start:start + batch_size])


def _join(outs):
    first = outs[0]
    if isinstance(first, dict):
        return {k: np.concatenate([np.asarray(o[k]) for o in outs]) for k in first}
    if isinstance(first, (tuple, list)):
        return tuple(np.concatenate([np.asarray(o[i]) for o in outs]) for i in range(len(first)))
    return np.concatenate([np.asarray(o) for o in outs])


def in_batches(fn, inputs, batch_size: int = 256, *, progress: bool = False,
               desc: str = "batches"):
    """fn(batch) for consecutive batches of `inputs`, joined along the first axis.

    fn may return an array, a tuple of arrays or a dict of arrays; the result has the same
    form. Empty inputs are an error: there is nothing to join.
    """
    if len(inputs) == 0:
        raise InputError("in_batches: no inputs")
    steps = range(0, len(inputs), batch_size)
    outs = [fn(batch) for batch in tqdm(batches(inputs, batch_size), total=len(steps),
                                        desc=desc, disable=not progress)]
    return _join(outs)


def render(G, z, batch_size: int = 256, *, progress: bool = False,
           pixel_range=None) -> np.ndarray:
    """uint8 images G(z) for z of any leading shape (..., z_dim); the shape is kept.

    G is a DCGAN (its `generate`: the weight average when there is one), a keras Model or
    any callable z -> images. Its output range is `pixel_range`, else a DCGAN's
    cfg.pixel_range, else [-1, 1].
    """
    z = np.asarray(z, np.float32)
    flat = z.reshape(-1, z.shape[-1])
    gen = G.generate if hasattr(G, "generate") else G
    if pixel_range is None:
        pixel_range = G.cfg.pixel_range if hasattr(G, "cfg") else (-1.0, 1.0)
    images = in_batches(lambda b: to_uint8(gen(b), pixel_range), flat, batch_size,
                        progress=progress, desc="render")
    return images.reshape(z.shape[:-1] + images.shape[1:])
