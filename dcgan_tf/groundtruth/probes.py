"""Attribute probes: small CNNs that read the known factors back out of procedural images.

The paper judged its latent-space experiments by eye. With dcgan_tf.groundtruth.procedural every
training image has known factors, so a small classifier trained on fresh procedural data
can score what a generator draws: "does this sample smile?", "is there still a window?".

One probe per (data set, image size) is a shared convolutional trunk with its own output
head per factor: sigmoid heads for binary factors (smiling, glasses, beard; window, door,
lamp, picture), softmax heads for categories (hair style and colour; window count) and
linear regression heads for continuous ones (yaw, smile, skin tone; window area).
The trunk's last hidden layer (64 features) also gives `probe_fd`, a Frechet distance in
probe-feature space: the offline quality score used where a real Inception network (FID)
cannot be downloaded.

Probes train on their own seeds (TRAIN_SEED), disjoint from the seeds the GAN trains on
(0 and 1 in dcgan_tf.data) and from any seed a test draws fresh data with, and are cached
as .keras files under dcgan_tf.config.cache_dir().

For real photos, whose factors nobody drew, `train_label_probe` trains the same kind of
reader on a labelled data set instead (CelebA's Smiling, Eyeglasses, Male and a yaw proxy).
"""

from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from dcgan_tf import fileio, seeds
from dcgan_tf.train import keras_verbose
from dcgan_tf.config import DCGANConfig, InputError, cache_dir
from dcgan_tf.data import make_dataset
from dcgan_tf.groundtruth import procedural
from dcgan_tf.inference import in_batches
from dcgan_tf.health.metrics import frechet_distance

PROBE_VERSION = 1  # bump when the architecture or the training recipe changes
TRAIN_SEED = seeds.PROBE_TRAIN  # probe training data
VAL_SEED = seeds.PROBE_VAL  # the held-out draw whose scores are stored beside the model

# name -> ("binary" | "regression" | number of classes, target scale for regressions)
HEADS = {
    "faces": {
        "smiling": ("binary", 1), "glasses": ("binary", 1), "beard": ("binary", 1),
        "yaw": ("regression", 1), "smile": ("regression", 1),
        "skin_tone": ("regression", 1),
        "hair_style": (len(procedural.HAIR_STYLES), 1),
        "hair_color": (len(procedural.HAIR_COLORS), 1),
    },
    "rooms": {
        "window": ("binary", 1), "door": ("binary", 1), "lamp": ("binary", 1),
        "picture": ("binary", 1),
        "window_area": ("regression", 10),  # areas are a few percent: learn 10x the value
        "window_count": (3, 1),
    },
}
# The training budget per probe, sized so both probes train in about a minute on a 2-core
# CPU; tests/test_probes.py holds every binary head to 98% on fresh data.
TRAIN_IMAGES = {32: 10_000, 64: 10_000, 128: 8_000}
EPOCHS = {32: 4, 64: 4, 128: 4}
BATCH = 32  # more, smaller steps learn the small features (mouths, frames) sooner than 64
WIDTHS = (24, 24, 48, 96)  # the trunk's conv layers at 16, 16, 8 and 4 pixels
FEATURES = 64


def binary_heads(name: str) -> list[str]:
    """The binary factors a probe detects for data set `name`."""
    return [h for h, (kind, _) in HEADS[name].items() if kind == "binary"]


def to_model_input(images, size: int) -> np.ndarray:
    """Images -> float32 (n, size, size, 3) in [-1, 1].

    uint8 input is read as [0, 255]; float input must already be in [-1, 1] (a tanh
    generator's output range) and anything outside [-1.01, 1.01] raises. Other sizes are
    area-resized to the probe's size, greyscale is repeated to RGB.
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise InputError(f"expected images shaped (n, h, w, 3), got {x.shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) * np.float32(2 / 255) - 1
    elif x.dtype.kind == "f":
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if lo < -1.01 or hi > 1.01:
            raise InputError(f"float images must be in [-1, 1] (tanh range), got [{lo:.3g}, "
                             f"{hi:.3g}]; pass uint8 for [0, 255] pictures")
        x = np.clip(x.astype(np.float32), -1, 1)
    else:
        raise InputError(f"images must be uint8 or float, got {x.dtype}")
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[1:3] != (size, size):
        x = tf.image.resize(x, (size, size), method="area", antialias=True).numpy()
    return x


def build_model(name: str, size: int):
    """The probe network: a small strided-conv trunk, 64 features, one head per factor.

    The trunk works at 32x32: a 64 or 128 input first passes one cheap strided layer per
    doubling, so a probe costs about the same at every size."""
    inputs = keras.Input((size, size, 3), name="image")
    # A little noise in training keeps the probes calm on generator samples, which are
    # never as clean as the drawings.
    x = layers.GaussianNoise(0.03)(inputs)
    # No batch normalisation: with a few hundred steps its moving averages lag the weights
    # and the probe misreads at inference; plain ReLU convs train reliably here.
    side = size
    while side > 32:  # larger inputs: a cheap strided layer per doubling, then the 32 trunk
        x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
        side //= 2
    w = WIDTHS
    x = layers.Conv2D(w[0], 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(w[1], 3, padding="same", activation="relu")(x)  # 16x16: mouths, frames
    x = layers.Conv2D(w[2], 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(w[3], 3, strides=2, padding="same", activation="relu")(x)
    # Flatten (not global pooling): yaw and window area depend on where things are.
    x = layers.Flatten()(x)
    feats = layers.Dense(FEATURES, activation="relu", name="features")(x)
    outputs = {}
    for head, (kind, _) in HEADS[name].items():
        if kind == "binary":
            outputs[head] = layers.Dense(1, activation="sigmoid", name=head)(feats)
        elif kind == "regression":
            outputs[head] = layers.Dense(1, name=head)(feats)
        else:
            outputs[head] = layers.Dense(kind, activation="softmax", name=head)(feats)
    return keras.Model(inputs, outputs, name=f"{name}_probe_{size}")


def _targets(name: str, labels: dict) -> dict:
    y = {}
    for head, (kind, scale) in HEADS[name].items():
        v = np.asarray(labels[head])
        if kind == "binary":
            y[head] = v.astype(np.float32)[:, None]
        elif kind == "regression":
            y[head] = (v.astype(np.float32) * scale)[:, None]
        else:
            y[head] = v.astype(np.int32)
    return y


def _losses(name: str):
    loss, weights = {}, {}
    for head, (kind, _) in HEADS[name].items():
        if kind == "binary":  # the factors the tests hold to 98%: weigh them up
            loss[head], weights[head] = "binary_crossentropy", 3.0
        elif kind == "regression":
            loss[head], weights[head] = "mse", 4.0  # targets span ~1: weigh them up
        else:
            loss[head], weights[head] = "sparse_categorical_crossentropy", 0.5
    return loss, weights


class Probes:
    """Trained attribute probes for one data set and image size."""

    def __init__(self, name: str, size: int, model, scores: dict | None = None):
        if name not in HEADS:
            raise InputError(f"no probes for {name!r}; expected one of {sorted(HEADS)}")
        self.name, self.size, self.model = name, size, model
        self.heads = HEADS[name]
        self.scores = scores or {}  # held-out scores measured right after training
        self._features = keras.Model(model.input, model.get_layer("features").output)

    def __repr__(self):
        return f"Probes({self.name!r}, size={self.size}, heads={list(self.heads)})"

    def _run(self, model, images, batch_size):
        x = to_model_input(images, self.size)
        if len(x) == 0:
            raise InputError("no images to probe")
        return in_batches(lambda b: model(b, training=False), x, batch_size)

    def predict(self, images, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Per factor: probability (binary), class probabilities (n, k) or the value.

        uint8 images are read as [0, 255], float images as [-1, 1] (see to_model_input).
        """
        out = self._run(self.model, images, batch_size)
        result = {}
        for head, (kind, scale) in self.heads.items():
            v = np.asarray(out[head])
            result[head] = v if isinstance(kind, int) else v[:, 0] / scale
        return result

    def features(self, images, batch_size: int = 256) -> np.ndarray:
        """The trunk's 64 penultimate features (n, 64), for the Frechet distance."""
        return np.asarray(self._run(self._features, images, batch_size), np.float64)

    def attribute_rates(self, images, threshold: float = 0.5) -> dict[str, float]:
        """Share of images in which each binary attribute is detected."""
        pred = self.predict(images)
        return {h: float(np.mean(pred[h] > threshold)) for h in binary_heads(self.name)}

    def evaluate(self, images, labels: dict) -> dict[str, float]:
        """Accuracy for binary and categorical heads, mean absolute error for regressions."""
        pred = self.predict(images)
        scores = {}
        for head, (kind, _) in self.heads.items():
            truth = np.asarray(labels[head])
            if kind == "binary":
                scores[head] = float(np.mean((pred[head] > 0.5) == (truth == 1)))
            elif kind == "regression":
                scores[head] = float(np.mean(np.abs(pred[head] - truth)))
            else:
                scores[head] = float(np.mean(pred[head].argmax(1) == truth))
        return scores


def probe_path(name: str, size: int) -> Path:
    """The cache file of a probe: keyed by data set, size and both generator versions."""
    folder = cache_dir() / "probes"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}_{size}px_data{procedural.VERSION}_probe{PROBE_VERSION}.keras"


def train_probes(name: str, size: int = 64, n_train: int | None = None,
                 epochs: int | None = None, progress: bool = True) -> Probes:
    """Train probes on freshly drawn data (TRAIN_SEED) and score them on VAL_SEED."""
    if name not in HEADS:
        raise InputError(f"no probes for {name!r}; expected one of {sorted(HEADS)}")
    n_train = n_train or TRAIN_IMAGES[size]
    epochs = epochs or EPOCHS[size]
    start = time.time()
    images, labels = procedural.load(name, n_train, seed=TRAIN_SEED, size=size)
    y = _targets(name, labels)
    keras.utils.set_random_seed(TRAIN_SEED)
    model = build_model(name, size)
    loss, weights = _losses(name)
    steps = epochs * (n_train // BATCH)
    lr = keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, loss_weights=weights)
    ds = (tf.data.Dataset.from_tensor_slices((images, y))
          .shuffle(n_train, seed=TRAIN_SEED)
          .batch(BATCH, drop_remainder=True)
          .map(lambda x, t: (tf.cast(x, tf.float32) * (2 / 255) - 1, t))
          .prefetch(2))
    # shuffle=False: ds shuffles itself
    model.fit(ds, epochs=epochs, verbose=keras_verbose(progress), shuffle=False)
    probes = Probes(name, size, model)
    val_images, val_labels = procedural.make(name, 1_000, seed=VAL_SEED, size=size)
    probes.scores = probes.evaluate(val_images, val_labels)
    probes.scores["train_seconds"] = round(time.time() - start, 1)
    return probes


_LOADED: dict = {}


def get_probes(name: str, size: int = 64, progress: bool = True) -> Probes:
    """Probes for `name` ("faces" or "rooms") at `size`: from memory, the disk cache, or
    trained now (tens of seconds on a CPU) and cached with an atomic write."""
    path = probe_path(name, size)
    key = str(path)
    if key in _LOADED:
        return _LOADED[key]

    scores_path = path.with_suffix(".json")
    probes = None
    if path.exists():
        try:
            model = keras.models.load_model(path)
            scores = fileio.read_json(scores_path, default={})
            probes = Probes(name, size, model, scores)
        except Exception as err:  # a damaged cache file: say so, train again
            warnings.warn(f"{path}: unreadable probe cache ({err}); training again",
                          stacklevel=2)
    if probes is None:
        probes = train_probes(name, size, progress=progress)
        fileio.write_json(scores_path, probes.scores)
        with fileio.atomic_path(path, suffix=".keras") as tmp:  # Keras insists on .keras
            probes.model.save(tmp)  # the model last: its presence means "cache complete"
    _LOADED[key] = probes
    return probes


# ------------------------------------------------------------------------- probes from labels

LABEL_PROBE_VERSION = 1  # bump when train_label_probe's network or recipe changes


def _label_targets(labels: dict, names) -> dict:
    """Float targets per name from a labelled example; "yaw" is derived from CelebA landmarks:
    the nose's offset from the eyes' midpoint in eye distances (< 0: looks to the image left,
    the sign convention of dcgan_tf.groundtruth.procedural)."""
    out = {}
    for name in names:
        if name == "yaw":
            lm = {k: tf.cast(v, tf.float32) for k, v in labels["landmarks"].items()}
            left, right = lm["lefteye_x"], lm["righteye_x"]
            out[name] = (lm["nose_x"] - (left + right) / 2) / tf.maximum(right - left, 1.0)
        else:
            out[name] = tf.cast(labels[name], tf.float32)
    return out


class LabelProbe:
    """Attribute probes trained on a labelled data set (CelebA's Smiling, Eyeglasses, Male),
    with the interface of `Probes`: predict(images) -> {name: probability, or the value for
    "yaw"}, features(images) -> the penultimate layer. Images as for `Probes` (uint8 in
    [0, 255] or float in [-1, 1], any size: see to_model_input)."""

    def __init__(self, model, names):
        self.model, self.names = model, tuple(names)
        self._features = keras.Model(model.input, model.get_layer("features").output)

    def __repr__(self):
        return f"LabelProbe({', '.join(self.names)}; {self.model.input.shape[1]} px)"

    def _run(self, model, images, batch=256):
        x = to_model_input(images, self.model.input.shape[1])
        if len(x) == 0:
            raise InputError("no images to probe")
        return in_batches(lambda b: model(b, training=False), x, batch)

    def predict(self, images) -> dict:
        return {k: v[:, 0] for k, v in self._run(self.model, images).items()}

    def features(self, images) -> np.ndarray:
        return self._run(self._features, images)


def label_probe_path(source: str, names, resolution: int, epochs: int, batch_size: int,
                     seed: int) -> Path:
    """The cache file of a label probe, keyed by a hash of every argument that changes the
    trained model, and of procedural.VERSION when the source is drawn ("faces:N")."""
    drawn = source.partition(":")[0] in procedural.NAMES and not Path(source).exists()
    parts = (source, tuple(names), resolution, epochs, batch_size, seed, LABEL_PROBE_VERSION,
             procedural.VERSION if drawn else None)
    key = hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
    readable = source.replace(":", "-").replace("/", "-")[-40:]  # for people; the key decides
    return cache_dir() / f"label_probe_{readable}_{resolution}px_{key}.keras"


def _label_model(names, resolution: int):
    x = inp = keras.Input((resolution, resolution, 3))
    for filters in (32, 64, 128, 128)[: {32: 3, 64: 4, 128: 4}[resolution]]:
        x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu", name="features")(x)
    outputs = {n: layers.Dense(1, activation=None if n == "yaw" else "sigmoid", name=n)(x)
               for n in names}
    model = keras.Model(inp, outputs)
    model.compile("adam", loss={n: "mse" if n == "yaw" else "binary_crossentropy"
                                for n in names})
    return model


def train_label_probe(source="tfds:celeb_a", names=("Smiling", "Eyeglasses", "Male"),
                      resolution: int = 64, epochs: int = 3, batch_size: int = 128,
                      seed: int = 0, cache: bool = True, progress: bool = True) -> LabelProbe:
    """Train a small CNN on a labelled source's binary attributes (and "yaw" from landmarks).

    The data comes through dcgan_tf.data.make_dataset(with_labels=True), so any labelled
    source works. A named source's model is cached under cache_dir(), keyed by every
    argument that changes it (`label_probe_path`); in-memory arrays are never cached: they
    have no stable name.
    """
    names = tuple(names)
    cache = cache and isinstance(source, str)
    path = label_probe_path(source, names, resolution, epochs, batch_size, seed) \
        if cache else None
    if cache and path.is_file():
        return LabelProbe(keras.models.load_model(path), names)
    # Seed first: tf.data's shuffle seeds combine with TF's global seed, so a pipeline built
    # before seeding would depend on whatever the process had seeded before (as in train()).
    keras.utils.set_random_seed(seed)
    cfg = DCGANConfig(resolution=resolution, batch_size=batch_size, seed=seed, epochs=epochs)
    batches, steps = make_dataset(source, cfg, epochs=epochs, with_labels=True)
    batches = batches.map(lambda x, lab: (x, _label_targets(lab, names)))
    model = _label_model(names, resolution)
    model.fit(batches, epochs=epochs, steps_per_epoch=steps, verbose=keras_verbose(progress),
              shuffle=False)
    if cache:
        with fileio.atomic_path(path, suffix=".keras") as tmp:  # Keras insists on .keras
            model.save(tmp)
    return LabelProbe(model, names)


def probe_fd(probes: Probes, images_a, images_b) -> float:
    """Frechet distance between two image sets in the probes' feature space (lower = closer).

    Like FID but with the probe trunk in place of Inception. Use a few thousand images per
    set: with few samples the estimate is biased upwards.
    """
    return frechet_distance(probes.features(images_a), probes.features(images_b))
