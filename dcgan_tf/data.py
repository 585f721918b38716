"""One entry point for every data source: batches in [-1, 1] at the configured resolution.

Sources (the `source` argument):
  "digits"                   scikit-learn's 1,797 real 8x8 digit scans, scaled up (offline)
  "faces", "faces:50000"     drawn faces with known factors (offline; registered by
  "rooms", "rooms:20000"     dcgan_tf.groundtruth, as are the drawn bedrooms)
  "tfds:celeb_a"             a TensorFlow Datasets name (celeb_a, lsun/bedroom, cifar10,
                             svhn_cropped, mnist); downloads on first use
  a folder of images         .jpg/.png/...; corrupt files are skipped with a warning
  a folder of *.tfrecord     shards written by data_prep (or a single .tfrecord file)
  an array / (array, labels) in-memory images, uint8 [0, 255] or float [0, 1]

Every image is centre-cropped to a square, resized, converted to the configured channels and
cached as uint8; scaling to G's output range happens per batch, after the cache. The cache
(`cache=`) is in memory, a file on disk, or none; "auto" keeps a set in memory only if it
fits CACHE_MEMORY_BUDGET (2 GiB): tfds:lsun/bedroom at 64x64 (3M x 12 KB = 37 GB) does not.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import glob
import hashlib
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits

from dcgan_tf import seeds
from dcgan_tf.config import (CACHE_CHOICES, CACHE_MEMORY_BUDGET, RESOLUTIONS, DCGANConfig,
                             InputError, cache_dir)
from dcgan_tf.fileio import read_json
from dcgan_tf.images import load_rgb

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
TFDS_NAMES = ("celeb_a", "lsun/bedroom", "cifar10", "svhn_cropped", "mnist")
SHARD_IMAGE_KEY = "image/encoded"  # the field data_prep writes the PNG crop into
CACHE_FORMAT = 1  # bump when the cached elements change meaning: it keys the disk caches
DRAWN_BY = "dcgan_tf.groundtruth"  # the package that registers the drawn sets


@dataclasses.dataclass(frozen=True)
class DrawnSet:
    """A data set drawn by code, with its ground truth and a way to score a run on it.

    `load(n, seed, size)` -> (uint8 images, labels); `features(size)` -> a function from
    uint8 images to feature vectors, which the health monitor compares with the data's;
    `n_features` is their length; `score(run_dir, n)` scores a finished run (its result has
    a summary()). The core knows none of these: dcgan_tf.groundtruth registers them.
    """

    default_n: int
    load: Callable
    features: Callable
    n_features: int
    score: Callable


DRAWN: dict[str, DrawnSet] = {}


def register_drawn(name: str, drawn: DrawnSet) -> None:
    """Make `name` and `name:N` data sources (see the module docstring)."""
    DRAWN[name] = drawn


def procedural_name(source) -> str | None:
    """The name of the drawn set `source` names ("faces:4000" -> "faces"), else None.

    Those sets have ground truth: probes can score them. A folder that happens to be called
    "faces" is a folder of images, not the drawn set.
    """
    if source is None or not isinstance(source, (str, os.PathLike)):
        return None
    name = str(source).split(":")[0]
    return name if name in DRAWN and not Path(str(source)).exists() else None


def drawn_set(source) -> DrawnSet | None:
    """The registered DrawnSet behind `source`, or None for any other source."""
    name = procedural_name(source)
    return DRAWN[name] if name else None


def score_n_problem(source, score_n: int) -> str | None:
    """Why `score_n` images cannot score a run on `source` (None: they can, or it is not
    scored). A covariance of n feature vectors has rank n - 1 at most: the Frechet distance
    needs it full rank, so n must exceed the probes' feature count."""
    drawn = drawn_set(source)
    if drawn is None or score_n > drawn.n_features:
        return None
    return (f"--score-n {score_n}: the probe Frechet distance needs more images than the "
            f"probes' {drawn.n_features} features, i.e. at least {drawn.n_features + 1}")


class DataError(InputError):
    """A data source that cannot be read; the message names the source and what to do."""


# --------------------------------------------------------------------------- reading


def read_image(path) -> np.ndarray:
    """Decode one image file to uint8 HxWx3 with the kit's one reader (dcgan_tf.images:
    EXIF orientation, 16-bit on a fixed scale, alpha on white). Raises on bad files."""
    return load_rgb(path)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def _folder_images(folder: Path):
    files = _image_files(folder)
    if not files:
        raise DataError(f"{folder}: no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")

    def generate():
        def safe_read(path):
            try:
                return path, read_image(path), None
            except Exception as err:  # any decoder failure means "skip this file"
                return path, None, err

        # Decoding releases the GIL, so a few threads keep both cores busy.
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for path, img, err in pool.map(safe_read, files):
                if err is not None:
                    warnings.warn(f"skipping unreadable image {path}: {err}", stacklevel=2)
                    continue
                yield img

    sig = tf.TensorSpec((None, None, 3), tf.uint8)
    ds = tf.data.Dataset.from_generator(generate, output_signature=sig)
    return ds, len(files), lambda: _hash_files(files)  # the count is an upper bound


def _shard_files(path: Path) -> list[str]:
    if path.is_dir():
        return sorted(str(p) for p in path.glob("*.tfrecord"))
    return sorted(glob.glob(str(path)))


def _shard_set(folder: Path) -> tuple[list[str], int | None]:
    """The shards of a folder and their record count: from the shards.json data_prep
    writes last (so a half-replaced set or a stray old shard is never read), else every
    *.tfrecord with the count unknown."""
    index = folder / "shards.json"
    if not index.is_file():
        return _shard_files(folder), None
    try:
        info = read_json(index)
        files, n = [str(folder / name) for name in info["files"]], int(info["count"])
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{index}: unreadable shard index ({err}); delete it to read every "
                        "*.tfrecord in the folder") from None
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise DataError(f"{index} lists {missing[0]}, which does not exist: re-run "
                        "`python -m data_prep shard`")
    return files, n


def _shard_images(files: list[str], n: int | None = None):
    def parse(record):
        feats = tf.io.parse_single_example(
            record, {SHARD_IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
        )
        return tf.io.decode_image(feats[SHARD_IMAGE_KEY], channels=3, expand_animations=False)

    ds = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if n is not None:
        ds = ds.apply(tf.data.experimental.assert_cardinality(n))
    # Without shards.json the count needs a pass over the records.
    return ds, n, lambda: _hash_files(files)


def _digits(with_labels):
    d = load_digits()
    # 8x8 scans with 17 grey levels (0..16), ink bright on black: scale to 0..255.
    imgs = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return imgs, ({"digit": d.target.astype(np.int64)} if with_labels else None)


def _tfds(name, split, with_labels):
    try:
        ds = tfds.load(name, split=split, shuffle_files=False)
    except Exception as err:
        raise DataError(
            f"tfds:{name}: could not load split {split!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). It downloads on first use and "
            "needs internet (and for celeb_a, Google Drive); offline, use a folder of images, "
            "data_prep shards, 'faces' or 'digits'."
        ) from err

    def split_fn(ex):
        labels = {k: v for k, v in ex.items() if k != "image"}
        if "attributes" in labels:  # celeb_a: flatten its 40 attribute flags
            labels.update(labels.pop("attributes"))
        return (ex["image"], labels) if with_labels else ex["image"]

    ds = ds.map(split_fn, num_parallel_calls=tf.data.AUTOTUNE)
    n = int(ds.cardinality())  # tfds knows each split's size
    return ds, (n if n >= 0 else None), lambda: f"tfds:{name}"


def _raw_source(source, split, with_labels, resolution):
    """(ds, n, identity) for a source: a tf.data of uint8 HxWxC images (or (image, labels)
    pairs) before square-resizing, its size if known without reading it (else None), and a
    function returning a string that changes whenever the images do (the disk cache key)."""
    if isinstance(source, tuple) and len(source) == 2:
        images, labels = source
        return _from_arrays(images, labels if with_labels else None, "array")
    if isinstance(source, np.ndarray):
        return _from_arrays(source, None, "array")
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"unsupported data source of type {type(source).__name__}")
    src = str(source)
    name, _, count = src.partition(":")
    if src == "digits":
        return _from_arrays(*_digits(with_labels), "digits")
    drawn = drawn_set(src)
    if drawn is not None:
        try:
            n = int(count) if count else drawn.default_n
        except ValueError:
            raise DataError(f"{src}: the count after ':' must be a whole number") from None
        # Drawn at the target size directly, so masks in the labels line up with pixels.
        size = resolution if resolution in RESOLUTIONS else 64
        seed = seeds.DRAWN_TRAIN if split == "train" else seeds.DRAWN_HELD_OUT  # disjoint draws
        images, labels = drawn.load(n, seed=seed, size=size)
        return _from_arrays(images, labels if with_labels else None, src)
    if src.startswith("tfds:") or src in TFDS_NAMES:
        return _tfds(src.removeprefix("tfds:"), split, with_labels)
    path = Path(src)
    if with_labels:
        raise DataError(f"{src}: folders and shards carry no labels; use with_labels=False")
    if path.is_dir() and any(path.glob("*.tfrecord")):
        return _shard_images(*_shard_set(path))
    if path.suffix == ".tfrecord" or "*" in src:
        files = _shard_files(path)
        if not files:
            raise DataError(f"{src}: no TFRecord files match")
        return _shard_images(files)
    if path.is_dir():
        return _folder_images(path)
    if not path.exists():
        raise DataError(
            f"{src}: no such folder or file, and not a known source (digits, "
            f"{''.join(n + ', ' for n in DRAWN)}tfds:NAME with NAME in "
            f"{', '.join(TFDS_NAMES)}; the drawn sets faces and rooms need "
            f"`import {DRAWN_BY}`, which python -m dcgan_tf does)"
        )
    raise DataError(f"{src}: expected a folder of images or TFRecord shards")


def _from_arrays(images, labels, what):
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise DataError(f"{what}: expected images shaped (N, H, W, C), got {images.shape}")
    if images.dtype != np.uint8:
        lo, hi = float(images.min()), float(images.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(f"{what}: float images must lie in [0, 1], found [{lo}, {hi}]")
        images = np.round(images * 255.0).astype(np.uint8)
    images = images[..., :3]  # drop alpha
    if labels is None:
        ds = tf.data.Dataset.from_tensor_slices(images)
        return ds, len(images), lambda: _hash_arrays(images)
    labels = {k: np.asarray(v) for k, v in labels.items()}
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return ds, len(images), lambda: _hash_arrays(images, *(labels[k] for k in sorted(labels)))


def _hash_arrays(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _hash_files(files) -> str:
    # Path, size and modification time: a changed or replaced file gets a new cache.
    h = hashlib.sha256()
    for f in files:
        st = os.stat(f)
        h.update(f"{os.path.abspath(f)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- pipeline


def square_resize(image, resolution: int, channels: int):
    """Centre-crop to a square, resize (antialiased) and convert channels; uint8 in and out."""
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    image = tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)
    image = tf.image.resize(image, (resolution, resolution), antialias=True)
    if image.shape[-1] == 1 and channels == 3:
        image = tf.image.grayscale_to_rgb(image)
    elif image.shape[-1] == 3 and channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.clip_by_value(tf.round(image), 0.0, 255.0)
    return tf.cast(image, tf.uint8)


def choose_cache(n_images: int | None, resolution: int, channels: int,
                 budget: int | None = None) -> str:
    """The "auto" cache: "memory" if n_images uint8 images fit in `budget` bytes
    (default CACHE_MEMORY_BUDGET, 2 GiB), else "disk"; "disk" too if the count is unknown."""
    budget = CACHE_MEMORY_BUDGET if budget is None else budget
    if n_images is None:
        return "disk"
    return "memory" if n_images * resolution * resolution * channels <= budget else "disk"


def _cache_mode(cache) -> tuple[str, Path | None]:
    """("memory" | "disk" | "none" | "file" | "auto", the file prefix for "file")."""
    if cache is True:
        return "memory", None
    if cache is False or cache is None:
        return "none", None
    if isinstance(cache, str) and cache in CACHE_CHOICES:
        return cache, None
    is_path = isinstance(cache, str) and ("/" in cache or os.sep in cache)
    if isinstance(cache, os.PathLike) or is_path:
        return "file", Path(cache)
    raise InputError(f"cache={cache!r}: expected one of {', '.join(CACHE_CHOICES)}, True, "
                     "False or a file path")


def _disk_cache_prefix(source, identity, split, resolution, channels, with_labels) -> Path:
    """A file prefix under cache_dir()/tfdata named by everything the cached images depend on,
    so a changed source, size or channel count never reads a stale cache."""
    key = hashlib.sha256(repr((CACHE_FORMAT, identity(), split, resolution, channels,
                               with_labels)).encode()).hexdigest()[:16]
    what = Path(str(source)).name if isinstance(source, (str, os.PathLike)) else "array"
    slug = re.sub(r"[^A-Za-z0-9]+", "_", what).strip("_")[:40] or "data"
    return cache_dir() / "tfdata" / f"{slug}_{resolution}px_{channels}ch_{split}_{key}"


def _file_cache(ds, prefix: Path):
    prefix.parent.mkdir(parents=True, exist_ok=True)
    locks = glob.glob(glob.escape(str(prefix)) + "*.lockfile")
    if locks and not Path(f"{prefix}.index").exists():
        # tf.data would fail later, mid-fit, with the same cause.
        raise DataError(f"{locks[0]}: a cache of this data is being written by another run, "
                        "or a run was killed while writing it; if no other run is using it, "
                        "delete that file, or pass cache='memory' / 'none'")
    return ds.cache(str(prefix))


def load_images(source, resolution: int, channels: int = 3, *, split: str = "train",
                with_labels: bool = False, cache: bool | str | os.PathLike = "auto"
                ) -> tf.data.Dataset:
    """Unbatched uint8 images (resolution, resolution, channels), or (image, labels) pairs.

    `cache`: "memory" (or True) keeps the resized images in RAM after the first pass; "disk"
    writes them to a file under cache_dir()/tfdata keyed by the source's contents (reused by
    later runs); a path (a Path, or a string with a "/") writes that file; "none" (or False)
    reads and resizes every epoch; "auto" is "memory" if the set fits CACHE_MEMORY_BUDGET
    (2 GiB), else "disk" (see choose_cache).
    """
    mode, prefix = _cache_mode(cache)
    ds, n, identity = _raw_source(source, split, with_labels, resolution)
    if mode == "auto":
        mode = choose_cache(n, resolution, channels)

    def prep(*element):
        if with_labels:
            return square_resize(element[0], resolution, channels), element[1]
        return square_resize(element[0], resolution, channels)

    ds = ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE)
    if mode == "memory":
        return ds.cache()
    if mode == "disk":
        prefix = _disk_cache_prefix(source, identity, split, resolution, channels, with_labels)
    return _file_cache(ds, prefix) if prefix is not None else ds


def count(ds: tf.data.Dataset) -> int:
    """Number of elements (one pass over the data if tf.data cannot tell; fills the cache)."""
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(ds.reduce(np.int64(0), lambda n, _: n + 1))


def to_model_range(images, pixel_range=(-1.0, 1.0)):
    """uint8 [0, 255] -> float32 in G's output range ([-1, 1] for tanh)."""
    lo, hi = pixel_range
    return tf.cast(images, tf.float32) * ((hi - lo) / 255.0) + lo


def to_uint8(images, pixel_range=(-1.0, 1.0)) -> np.ndarray:
    """Model-range floats -> uint8 [0, 255] numpy, for plotting and saving."""
    lo, hi = pixel_range
    x = (np.asarray(images, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def make_dataset(source, cfg: DCGANConfig, *, split: str = "train", start_epoch: int = 0,
                 epochs: int | None = None, with_labels: bool = False,
                 cache: bool | str | os.PathLike = "auto", shuffle: bool = True,
                 scaled: bool = True):
    """Batches of cfg.batch_size images in G's output range, for epochs [start_epoch, epochs)
    (uint8 [0, 255] with scaled=False: DCGAN's train step scales them on the device).

    Returns (dataset, steps_per_epoch). `cache` as in load_images: "auto", "memory", "disk",
    "none" or a file path. Epoch e is shuffled with seed (cfg.seed, e), so a run
    resumed at epoch e sees exactly the batches an uninterrupted run would.
    """
    images = load_images(source, cfg.resolution, cfg.channels, split=split,
                         with_labels=with_labels, cache=cache)
    n = count(images)
    steps = n // cfg.batch_size
    if steps == 0:
        raise DataError(f"{source}: {n} images, fewer than one batch of {cfg.batch_size}")
    epochs = start_epoch + 1 if epochs is None else epochs
    buffer = min(n, 20_000)

    def epoch_batches(epoch):
        ds = images
        if shuffle:
            ds = ds.shuffle(buffer, seed=cfg.seed * 100_003 + epoch,
                            reshuffle_each_iteration=False)
        return ds.batch(cfg.batch_size, drop_remainder=True)

    def scale(*element):
        if with_labels:
            return to_model_range(element[0], cfg.pixel_range), element[1]
        return to_model_range(element[0], cfg.pixel_range)

    ds = epoch_batches(start_epoch)
    for epoch in range(start_epoch + 1, epochs):
        ds = ds.concatenate(epoch_batches(epoch))
    if scaled:
        ds = ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.apply(tf.data.experimental.assert_cardinality(steps * (epochs - start_epoch)))
    return ds.prefetch(tf.data.AUTOTUNE), steps
