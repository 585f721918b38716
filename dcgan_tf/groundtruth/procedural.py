"""Procedural faces and bedrooms whose generating factors are known, with labels and masks.

The paper judged its latent experiments (docs/paper_notes.md §6.1-6.3) by eye on faces and
bedrooms. These two data sets are drawn from known factors, so the same experiments can be
scored with numbers (see dcgan_tf.groundtruth.probes):

  faces   head yaw, smile (curvature and a smiling flag), glasses, beard, hair style and
          colour, skin tone, background, light direction and small position/scale/roll jitter
  rooms   a bedroom in one-point perspective with a bed (always), 0-2 windows, a door, a
          bedside lamp and a picture, each with a presence flag and a visible-pixel mask

Every image is a pure function of its factor row, so `draw_faces(factors)` redraws a face
with one factor changed (a yaw sweep, glasses on/off) and `make_rooms(..., factors=
{"window_count": 0})` redraws the same rooms without windows. Images are drawn with OpenCV's
anti-aliased polygons on a 64x64 canvas (128x128 for size 128) and shaded with numpy; size 32
is an area-downsample of the 64 canvas.

This module is the entry point: factor sampling, drawing in parallel chunks, the disk cache.
The drawing itself lives in three modules, one job each:
  dcgan_tf.groundtruth.drawing  display lists, anti-aliased layers, lighting and compositing
  dcgan_tf.groundtruth.faces    the factors of a face and the parts it is drawn from
  dcgan_tf.groundtruth.rooms    the factors of a bedroom and the parts it is drawn from

Conventions: images uint8 (n, size, size, 3); `yaw` in [-1, 1] is where the face looks in the
picture, -1 towards the left edge, +1 towards the right edge (about +-43 degrees), and the
far side of the head (ear, hair) shows on the other side. Binary factors are drawn 50/50.

Determinism: images are drawn in chunks of CHUNK; chunk c takes its factors from
SeedSequence([seed, c]), so results do not depend on the worker count, and the first k
images of make_faces(n, seed) are make_faces(k, seed).
"""

from __future__ import annotations

import concurrent.futures
import gc
import multiprocessing
import os
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from dcgan_tf import fileio
from dcgan_tf.config import InputError, cache_dir
from dcgan_tf.groundtruth.drawing import canvas_size
from dcgan_tf.groundtruth.faces import (BACKGROUNDS, FACE_BINARY, HAIR_COLORS, HAIR_STYLES,
                                        YAW_RADIANS, draw_faces, relabel_faces, sample_faces)
from dcgan_tf.groundtruth.rooms import (ROOM_BINARY, ROOM_OBJECTS, draw_rooms, relabel_rooms,
                                        sample_rooms)

__all__ = ["BACKGROUNDS", "CHUNK", "FACE_BINARY", "HAIR_COLORS", "HAIR_STYLES", "NAMES",
           "ROOM_BINARY", "ROOM_OBJECTS", "VERSION", "YAW_RADIANS", "cache_path",
           "default_workers", "draw_faces", "draw_rooms", "load", "make", "make_faces",
           "make_rooms", "sample_factors", "vary"]

VERSION = 2  # bump whenever a drawing or sampling change alters the images: it keys caches
CHUNK = 500
NAMES = ("faces", "rooms")
DEFAULT_N = 20_000  # images drawn for a source named without a count ("faces")
_KINDS = {"faces": (sample_faces, relabel_faces), "rooms": (sample_rooms, relabel_rooms)}


# --------------------------------------------------------------------------- factors


def sample_factors(name: str, n: int, seed: int = 0, factors: dict | None = None) -> dict:
    """The factor rows of make_faces / make_rooms (cheap: no drawing).

    `factors` overrides factors: a scalar for every image or an array of length n. Labels
    that follow from an overridden factor are updated (`smiling` from `smile`, `window` from
    `window_count`, and back), everything else is kept, so an override redraws the same
    faces or rooms with one thing changed.
    """
    if name not in _KINDS:
        raise InputError(f"unknown procedural data set {name!r}; expected one of {NAMES}")
    if n < 0:
        raise InputError(f"n must be >= 0, got {n}")
    sample, relabel = _KINDS[name]
    parts = []
    for c in range(-(-n // CHUNK)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, c]))
        parts.append(sample(rng, CHUNK))
    empty = sample(np.random.default_rng(0), 0)
    f = {k: (np.concatenate([p[k] for p in parts])[:n] if parts else empty[k])
         for k in empty}
    for k, v in (factors or {}).items():
        if k not in f:
            raise InputError(f"unknown {name} factor {k!r}; known: {sorted(f)}")
        v = np.asarray(v)
        if v.ndim and len(v) != n:
            raise InputError(f"factor {k!r}: {len(v)} values for {n} images")
        f[k] = np.broadcast_to(v, (n,)).astype(f[k].dtype)
    return relabel(f, set(factors or ()))


# --------------------------------------------------------------------------- drawing


def default_workers() -> int:
    """Processes used to draw: env DCGAN_WORKERS, else up to 2 (the cores CI has)."""
    env = os.environ.get("DCGAN_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(2, os.cpu_count() or 1))


def _draw_chunk(name: str, f: dict, size: int):
    if name == "faces":
        return draw_faces(f, size), {}
    return draw_rooms(f, size)


def _draw_chunks(name: str, chunks: list, size: int, workers: int):
    """Yield (chunk index, (images, masks)) for every chunk, in any order."""
    if workers == 1:
        for i, chunk in enumerate(chunks):
            yield i, _draw_chunk(name, chunk, size)
        return
    # Forked workers: "spawn" would re-run an unguarded __main__ (a script, or
    # `python -m dcgan_tf`) in every worker. The workers use only numpy and OpenCV; with
    # OpenCV's own thread pool off while forking, no lock a parent thread holds (e.g.
    # TensorFlow's) is ever needed in a child.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    # Objects the child inherits (TensorFlow's among them) must never be collected there:
    # a finalizer run in a forked child crashed a worker once. gc.freeze() moves them out
    # of the collector's reach in parent and children, as the gc docs advise before fork.
    gc.freeze()
    try:
        with warnings.catch_warnings():  # Python >= 3.12 warns about forking with threads
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx = multiprocessing.get_context("fork")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                futures = {pool.submit(_draw_chunk, name, chunk, size): i
                           for i, chunk in enumerate(chunks)}
                for fut in concurrent.futures.as_completed(futures):
                    yield futures[fut], fut.result()
    finally:
        gc.unfreeze()
        cv2.setNumThreads(threads)


def _make(name: str, n: int, seed: int, size: int, factors, workers, progress):
    canvas_size(size)
    return _make_from(name, sample_factors(name, n, seed, factors), size, workers, progress)


def _make_from(name: str, f: dict, size: int, workers, progress):
    """Draw the images of factor rows `f` in chunks, in parallel, and assemble the labels."""
    canvas_size(size)
    n = len(next(iter(f.values())))
    starts = list(range(0, n, CHUNK))
    chunks = [{k: v[s:s + CHUNK] for k, v in f.items()} for s in starts]
    workers = default_workers() if workers is None else workers
    workers = max(1, min(workers, len(chunks)))
    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # Windows: draw in this process
    images = np.empty((n, size, size, 3), np.uint8)
    masks = {}
    if name == "rooms":
        masks = {k: np.zeros((n, size, size), bool) for k in ROOM_OBJECTS}

    with tqdm(total=n, desc=f"drawing {name}", unit="img", disable=not progress,
              leave=False) as bar:
        for i, (imgs, m) in _draw_chunks(name, chunks, size, workers):
            s = starts[i]
            images[s:s + len(imgs)] = imgs
            for k, v in m.items():
                masks[k][s:s + len(imgs)] = v
            bar.update(len(imgs))
    return images, _labels(name, f, masks)


def _labels(name: str, f: dict, masks: dict) -> dict:
    """The factor rows plus, for rooms, each object's mask, `bed` and `window_area`."""
    labels = dict(f)
    for k, m in masks.items():
        labels[f"{k}_mask"] = m
    if name == "rooms":
        n = len(masks["window"])
        labels["bed"] = np.ones(n, np.int64)
        labels["window_area"] = masks["window"].mean((1, 2), dtype=np.float64).astype(
            np.float32) if n else np.zeros(0, np.float32)
    return labels


# --------------------------------------------------------------------------- public API


def make_faces(n: int, seed: int = 0, size: int = 64, factors: dict | None = None,
               workers: int | None = None, progress: bool | None = None):
    """n procedural faces: (images uint8 (n, size, size, 3), labels {factor: array (n,)}).

    Labels: yaw [-1, 1] (-1 looks towards the picture's left edge), smile [-0.45, 1]
    (mouth-corner curvature; >= 0.45 when smiling), smiling 0/1, glasses 0/1, beard 0/1,
    hair_style (see HAIR_STYLES), hair_color (HAIR_COLORS), skin_tone [0, 1] light to dark,
    background (BACKGROUNDS), dx, dy, scale, roll (jitter) and a few nuisance factors.
    `factors` overrides factors (see sample_factors); sizes 32, 64 and 128.
    """
    return _make("faces", n, seed, size, factors, workers, _show(progress, n))


def make_rooms(n: int, seed: int = 0, size: int = 64, factors: dict | None = None,
               workers: int | None = None, progress: bool | None = None):
    """n procedural bedrooms: (images uint8 (n, size, size, 3), labels).

    Labels: window_count 0-2, window 0/1, window_area (share of the picture the visible
    window pixels cover), and for each of bed (always 1), window, door, lamp, picture a
    presence flag and `<object>_mask`, a bool (n, size, size) mask of its visible pixels;
    plus the room's geometry and nuisance factors.
    """
    return _make("rooms", n, seed, size, factors, workers, _show(progress, n))


def _show(progress, n):
    return n >= 4 * CHUNK if progress is None else progress


def make(name: str, n: int, seed: int = 0, size: int = 64, **kwargs):
    """make_faces or make_rooms by name."""
    if name not in NAMES:
        raise InputError(f"unknown procedural data set {name!r}; expected one of {NAMES}")
    return (make_faces if name == "faces" else make_rooms)(n, seed, size, **kwargs)


def vary(name: str, factor: str, values, seed: int = 0, size: int = 64, index: int = 0,
         factors: dict | None = None):
    """Image `index` of make(name, ..., seed) drawn once per value of one factor.

    Everything else stays as drawn (or as set by `factors`), so the row shows what that one
    factor does: vary("faces", "yaw", np.linspace(-1, 1, 9)) turns one face from left to
    right. Returns (images, labels) like make().
    """
    values = np.asarray(values)
    base = sample_factors(name, index + 1, seed, None)
    f = {k: np.repeat(v[index:index + 1], len(values)) for k, v in base.items()}
    fixed = dict(factors or {}, **{factor: values})
    for k, v in fixed.items():
        if k not in f:
            raise InputError(f"unknown {name} factor {k!r}; known: {sorted(f)}")
        f[k] = np.broadcast_to(np.asarray(v), (len(values),)).astype(f[k].dtype)
    _, relabel = _KINDS[name]
    f = relabel(f, set(fixed))
    return _make_from(name, f, size, workers=1, progress=False)


def cache_path(name: str, n: int, seed: int = 0, size: int = 64) -> Path:
    """Where load() keeps a data set: keyed by everything that changes its content."""
    folder = cache_dir() / "procedural"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}_n{n}_seed{seed}_{size}px_v{VERSION}.npz"


def load(name: str, n: int, seed: int = 0, size: int = 64, workers: int | None = None):
    """make(name, ...) cached on disk: the first call draws and saves, later calls read.

    The file is written atomically (dcgan_tf.fileio), so a crash never leaves a partial
    cache; an unreadable cache file is reported, drawn again and replaced.
    """
    path = cache_path(name, n, seed, size)
    if path.exists():
        try:
            return _read_npz(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"{path}: unreadable cache ({err}); drawing the data again",
                          stacklevel=2)
    images, labels = make(name, n, seed, size, workers=workers)
    _write_npz(path, images, labels)
    return images, labels


def _write_npz(path: Path, images: np.ndarray, labels: dict) -> None:
    arrays = {"images": images}
    for k, v in labels.items():
        if v.dtype == bool and v.ndim == 3:  # masks: 8 pixels per byte on disk
            arrays[f"packed__{k}"] = np.packbits(v.reshape(len(v), -1), axis=1)
        else:
            arrays[f"label__{k}"] = v
    with fileio.atomic_write(path) as f:
        np.savez(f, **arrays)


def _read_npz(path: Path):
    with np.load(path) as z:
        images = z["images"]
        n, size = images.shape[0], images.shape[1]
        labels = {}
        for key in z.files:
            if key.startswith("label__"):
                labels[key[7:]] = z[key]
            elif key.startswith("packed__"):
                bits = np.unpackbits(z[key], axis=1, count=size * size)
                labels[key[8:]] = bits.reshape(n, size, size).astype(bool)
    if not labels:
        raise InputError("no labels in the file")
    return images, labels


MASK_COLOURS = {"window": (0, 255, 0), "door": (255, 0, 0), "lamp": (255, 255, 0),
                "picture": (0, 80, 255), "bed": (255, 0, 255)}


def tint(images, labels, objects=("window", "door", "lamp", "picture"), strength=0.55):
    """Copies of uint8 images with each object's mask (labels[f"{obj}_mask"]) tinted in its
    MASK_COLOURS colour: window green, door red, lamp yellow, picture blue, bed magenta."""
    out = np.asarray(images, np.float32).copy()
    for obj in objects:
        m = np.asarray(labels[f"{obj}_mask"], bool)
        out[m] = (1 - strength) * out[m] + strength * np.array(MASK_COLOURS[obj], np.float32)
    return out.astype(np.uint8)
