"""The generator that forgets to draw windows (docs/paper_notes.md §6.3.1, the paper's Fig. 6).

The paper drew boxes around the windows of 150 generated bedrooms, fitted a logistic
regression on G's second-highest conv layer that tells positions inside the boxes from
random positions of the same images, and zeroed every feature map with a positive weight.
The same z then rendered rooms whose windows were gone or had turned into other objects.

Here the boxes come from a small window segmentation probe trained on the procedural rooms'
`window_mask` (or from a JSON file of hand-drawn boxes, to follow the paper on LSUN), and
the attribute probes (dcgan_tf.groundtruth.probes) count windows, doors, lamps and pictures with and
without the drop, against a control that drops as many randomly chosen maps.

Box JSON format (`load_boxes`): an object keyed by sample index (a string, as JSON needs),
each value a list of boxes [x0, y0, x1, y1] in pixels of the generated image, x to the right,
y down, x1 and y1 exclusive. A sample with an empty list has no window; samples left out are
not used. Example: {"0": [[3, 4, 12, 15]], "2": [], "5": [[0, 0, 8, 8], [20, 2, 30, 9]]}.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression

from dcgan_tf import seeds
from dcgan_tf.train import keras_verbose
from dcgan_tf.config import InputError
from dcgan_tf.data import to_model_range, to_uint8
from dcgan_tf.fileio import read_json
from dcgan_tf.groundtruth import procedural
from dcgan_tf.inference import in_batches, render
from dcgan_tf.plots import rows_figure
from dcgan_tf.prior import sample_prior

TRAIN_SEED, TEST_SEED = seeds.SEGMENTER_TRAIN, seeds.SEGMENTER_TEST  # the segmenter's rooms
OBJECTS = ("window", "door", "lamp", "picture", "bed")

# ------------------------------------------------------------------ window segmentation


def build_window_segmenter(size: int, width: int = 16) -> keras.Model:
    """image (size, size, 3) in [-1, 1] -> per-pixel window probability (size, size, 1).

    Dilated convolutions grow the receptive field to 15 pixels without pooling, so the mask
    keeps full resolution in a network of a few thousand weights.
    """
    x = inp = keras.Input((size, size, 3), name="image")
    for i, rate in enumerate((1, 2, 4, 1), start=1):
        x = keras.layers.Conv2D(width, 3, padding="same", dilation_rate=rate,
                                activation="relu", name=f"seg{i}")(x)
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="window_mask")(x)
    return keras.Model(inp, out, name="window_segmenter")


def _bce_dice(y, p):
    # Windows cover ~1-2% of a 32x32 room: plain cross-entropy learns "never a window" and
    # stays below 0.5 everywhere. A soft Dice term over the whole batch rewards overlap
    # itself, whatever the imbalance (per image it would punish every window-free room's
    # faintest guess), so the usual 0.5 threshold works.
    y = tf.cast(y, p.dtype)
    bce = tf.reduce_mean(keras.losses.binary_crossentropy(y, p))
    dice = 1 - (2 * tf.reduce_sum(y * p) + 1) / (tf.reduce_sum(y + p) + 1)
    return bce + dice


def train_window_segmenter(size: int = 32, n_train: int = 4000, epochs: int = 4,
                           width: int = 16, progress: bool = False,
                           seed: int = 0) -> keras.Model:
    """The segmenter trained on fresh procedural rooms (TRAIN_SEED) and their window masks;
    `seed` fixes its initial weights and batch order, so its boxes are the same every run."""
    images, labels = procedural.load("rooms", n_train, seed=TRAIN_SEED, size=size)
    keras.utils.set_random_seed(seed)
    model = build_window_segmenter(size, width)
    model.compile(keras.optimizers.Adam(2e-3), _bce_dice)
    masks = np.asarray(labels["window_mask"], np.float32)[..., None]
    model.fit(to_model_range(images), masks, batch_size=32, epochs=epochs,
              verbose=keras_verbose(progress))
    return model


def predict_masks(segmenter: keras.Model, images, threshold: float = 0.5) -> np.ndarray:
    """bool (n, H, W) window masks of uint8 images."""
    p = segmenter.predict(to_model_range(images), batch_size=128, verbose=0)
    return p[..., 0] > threshold


def iou(pred, truth) -> float:
    """Intersection over union of two stacks of bool masks, pooled over all pixels."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = np.logical_or(pred, truth).sum()
    return float(np.logical_and(pred, truth).sum() / union) if union else 1.0


def segmenter_iou(segmenter: keras.Model, n: int = 500, size: int = 32) -> float:
    """The segmenter's IoU on fresh rooms (TEST_SEED), none of which it trained on."""
    images, labels = procedural.load("rooms", n, seed=TEST_SEED, size=size)
    return iou(predict_masks(segmenter, images), labels["window_mask"])


# ------------------------------------------------------------------ boxes


def boxes_from_masks(masks, min_area: int = 4) -> dict[int, list[list[int]]]:
    """Per image, one box [x0, y0, x1, y1] (x1, y1 exclusive) per 8-connected component of
    its mask with at least `min_area` pixels (smaller blobs are the segmenter's noise)."""
    boxes = {}
    for i, m in enumerate(np.asarray(masks, bool)):
        _, _, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
        boxes[i] = [[int(x), int(y), int(x + w), int(y + h)]
                    for x, y, w, h, area in stats[1:] if area >= min_area]  # 0: background
    return boxes


def load_boxes(path, n: int | None = None, size: int | None = None) -> dict:
    """Hand-drawn boxes from a JSON file (format in the module docstring), validated:
    InputError naming the file and the entry for anything malformed. `n` bounds the sample
    indices, `size` the coordinates."""
    path = Path(path)
    try:
        data = read_json(path)
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: cannot read box file ({err})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object keyed by sample index, "
                         f"got {type(data).__name__}")
    boxes = {}
    for key, value in data.items():
        where = f"{path}: entry {key!r}"
        if not (isinstance(key, str) and key.isdigit()):
            raise InputError(f"{where}: keys must be sample indices (0, 1, ...)")
        index = int(key)
        if n is not None and index >= n:
            raise InputError(f"{where}: sample index out of range (only {n} samples)")
        if not isinstance(value, list):
            raise InputError(f"{where}: expected a list of [x0, y0, x1, y1] boxes")
        boxes[index] = [_check_box(box, f"{where}, box {j}", size) for j, box in
                        enumerate(value)]
    return boxes


def _check_box(box, where: str, size: int | None) -> list[int]:
    if (not isinstance(box, list) or len(box) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)):
        raise InputError(f"{where}: expected [x0, y0, x1, y1] in whole pixels, got {box!r}")
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise InputError(f"{where}: need 0 <= x0 < x1 and 0 <= y0 < y1, got {box}")
    if size is not None and (x1 > size or y1 > size):
        raise InputError(f"{where}: {box} reaches outside the {size}x{size} image")
    return box


def box_mask(boxes: list, image_size: int, side: int) -> np.ndarray:
    """bool (side, side): the cells of a side x side layer that the image's boxes touch."""
    s = side / image_size
    m = np.zeros((side, side), bool)
    for x0, y0, x1, y1 in boxes:
        rows = slice(int(np.floor(y0 * s)), int(np.ceil(y1 * s)))
        m[rows, int(np.floor(x0 * s)):int(np.ceil(x1 * s))] = True
    return m


# ------------------------------------------------------------------ G's layers


def window_layer(generator: keras.Model) -> str:
    """G's second-highest conv layer, after its activation (act2 for the small profile)."""
    acts = [layer.name for layer in generator.layers
            if layer.name.startswith("act") and layer.name[3:].isdigit()]
    if not acts:
        raise InputError(f"{generator.name}: no activation layers named act1, act2, ...")
    return max(acts, key=lambda name: int(name[3:]))


def layer_activations(generator: keras.Model, z, layer: str | None = None,
                      pixel_range=(-1.0, 1.0), batch_size: int = 128):
    """(uint8 images, float32 activations (n, h, w, c) of `layer`) for latent vectors z."""
    layer = layer or window_layer(generator)
    tap = keras.Model(generator.input, [generator.get_layer(layer).output, generator.output])

    def run(batch):
        a, x = tap(batch, training=False)
        return to_uint8(x, pixel_range), np.asarray(a, np.float32)

    return in_batches(run, np.asarray(z, np.float32), batch_size)


# ------------------------------------------------------------------ window maps


def window_examples(acts, boxes: dict, image_size: int, seed: int = 0):
    """Feature vectors inside boxes (label 1) and as many at random positions of the same
    image outside them (label 0): (X (m, c), y (m,))."""
    rng = np.random.default_rng(seed)
    acts = np.asarray(acts)
    side = acts.shape[1]
    xs, ys = [], []
    for i, image_boxes in sorted(boxes.items()):
        inside = box_mask(image_boxes, image_size, side).reshape(-1)
        if not inside.any() or inside.all():
            continue
        feats = acts[i].reshape(side * side, -1)
        outside = np.flatnonzero(~inside)
        neg = rng.choice(outside, min(inside.sum(), len(outside)), replace=False)
        xs += [feats[inside], feats[neg]]
        ys += [np.ones(inside.sum()), np.zeros(len(neg))]
    if not xs:
        raise InputError("no sample has a window box: nothing to fit")
    return np.concatenate(xs), np.concatenate(ys).astype(int)


def find_window_maps(acts, boxes: dict, image_size: int, seed: int = 0, C: float = 1.0):
    """Logistic regression inside-box vs outside: (maps with a positive weight, weights).

    Features are divided by their spread first so one strong map cannot dominate the L2
    penalty; a positive scale leaves every weight's sign as it was.
    """
    x, y = window_examples(acts, boxes, image_size, seed)
    scale = x.std(0)
    clf = LogisticRegression(C=C, max_iter=2000).fit(x / np.where(scale > 0, scale, 1), y)
    w = clf.coef_[0]
    return np.flatnonzero(w > 0), w


# ------------------------------------------------------------------ dropping maps


class ZeroMaps(keras.layers.Layer):
    """Multiplies the chosen channels by zero, at every position."""

    def __init__(self, channels, n_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.n_channels = [int(c) for c in channels], int(n_channels)
        keep = np.ones(self.n_channels, np.float32)
        keep[self.channels] = 0.0
        self._keep = tf.constant(keep)

    def call(self, x):
        return x * tf.cast(self._keep, x.dtype)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels,
                "n_channels": self.n_channels}


def drop_maps(generator: keras.Model, channels, layer: str | None = None) -> keras.Model:
    """G with `channels` of `layer` zeroed: a new model over G's own layers (shared weights,
    G itself untouched), so the same z renders the same room apart from the drop."""
    layer = layer or window_layer(generator)
    x = inp = keras.Input(generator.input_shape[1:], name="z")
    prev = generator.layers[0].output
    for lay in generator.layers[1:]:
        if lay.input is not prev:  # the rebuild assumes G is a plain chain, as models.py is
            raise InputError(f"{generator.name}: {lay.name} does not follow {prev.name}")
        x = lay(x)
        prev = lay.output
        if lay.name == layer:
            n = x.shape[-1]
            if any(not 0 <= int(c) < n for c in channels):
                raise InputError(f"{layer} has {n} maps; cannot drop {list(channels)}")
            x = ZeroMaps(channels, n, name=f"{layer}_drop")(x)
    return keras.Model(inp, x, name=f"{generator.name}_dropped")


def _plain(model, z, pixel_range) -> np.ndarray:
    """G(z) as uint8, with BatchNorm in inference mode (a Keras model, not a DCGAN)."""
    return render(lambda b: model(b, training=False), z, 128, pixel_range=pixel_range)


def render_variants(generator, z, maps, control_maps, layer=None,
                    pixel_range=(-1.0, 1.0)) -> dict[str, np.ndarray]:
    """The same z rendered by G, by G without `maps` and by G without `control_maps`."""
    return {"original": _plain(generator, z, pixel_range),
            "windows dropped": _plain(drop_maps(generator, maps, layer), z, pixel_range),
            "random dropped": _plain(drop_maps(generator, control_maps, layer), z,
                                      pixel_range)}


def random_maps(n_maps: int, k: int, seed: int = 0) -> np.ndarray:
    """k distinct maps drawn at random out of n_maps: the control drop."""
    return np.sort(np.random.default_rng(seed).choice(n_maps, k, replace=False))


def drop_stats(generator, maps, probes, z, pixel_range=(-1.0, 1.0),
               layer: str | None = None) -> dict:
    """object_stats of G's pictures of z with `maps` of `layer` dropped."""
    model = drop_maps(generator, maps, layer)
    return object_stats(probes.predict(_plain(model, z, pixel_range)))


def control_stats(generator, k: int, probes, z, seeds, layer: str | None = None,
                  pixel_range=(-1.0, 1.0)) -> list[dict]:
    """object_stats of the same z with k random maps dropped, one draw per seed: how much
    any drop of that size changes, the spread a window-specific drop is read against."""
    layer = layer or window_layer(generator)
    n_maps = generator.get_layer(layer).output.shape[-1]
    return [drop_stats(generator, random_maps(n_maps, k, s), probes, z, pixel_range, layer)
            for s in seeds]


def object_stats(pred: dict, threshold: float = 0.5) -> dict:
    """Presence rates of the objects a probe reports, plus the mean window area."""
    stats = {f"{o}_rate": float(np.mean(np.asarray(pred[o]) > threshold))
             for o in OBJECTS if o in pred}
    if "window_area" in pred:
        stats["window_area"] = float(np.mean(pred["window_area"]))
    return stats


def measure_drop(generator, maps, probes, n: int = 500, layer: str | None = None,
                 seed: int = 0, z_prior: str = "uniform", pixel_range=(-1.0, 1.0),
                 control_seed: int = 1) -> dict:
    """Object rates and window area over n z with and without the drop, and for a control
    dropping as many random maps. `probes`: anything with .predict(uint8 images) -> dict."""
    layer = layer or window_layer(generator)
    z = sample_prior(n, generator.input_shape[-1], z_prior, seed)
    n_maps = generator.get_layer(layer).output.shape[-1]
    control = random_maps(n_maps, len(maps), control_seed)
    images = render_variants(generator, z, maps, control, layer, pixel_range)
    result = {name: object_stats(probes.predict(x)) for name, x in images.items()}
    base, dropped = result["original"], result["windows dropped"]
    return {"n": n, "layer": layer, "maps": [int(m) for m in maps],
            "control_maps": [int(m) for m in control], "variants": result,
            "door_change": dropped.get("door_rate", np.nan) - base.get("door_rate", np.nan),
            "bed": ("measured" if "bed_rate" in base else
                    "not measured: the probe has no bed head (every training room has a bed)")}


def drop_figure(images: dict[str, np.ndarray], path=None, k: int = 8):
    """Rows: the same z under each variant of render_variants (first k samples)."""
    return rows_figure(images, path, k)
