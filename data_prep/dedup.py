"""Step 3: find exact and near duplicates among the face crops, and drop all but one of each.

Exact duplicates share a SHA-256 of their pixels. Near duplicates are found the paper's way
(docs/paper_notes.md §4.1.1): a 3072-128-3072 de-noising ReLU autoencoder with dropout on 32x32
centre crops; its 128 ReLU activations, thresholded, are a binary code, and images with the
same code land in the same hash bucket - one pass, linear time. A 64-bit DCT perceptual hash
(pHash) bucketed the same way is the classical baseline.

A shared bucket is a candidate, not a verdict: two crops are called near duplicates only if
their standardised 32x32 thumbnails also differ by at most CONFIRM_RMS (root-mean-square, in
units of each crop's spread). An all-zero code (no activation above the threshold: flat or
dark crops, or an autoencoder that learned little) is no evidence at all, so such crops get
no bucket; exact copies among them are still found by their SHA-256.

One choice of ours: each crop is standardised (zero mean, unit spread) before the
autoencoder. Without it, brightened copies got other codes and a few large buckets of
unrelated dark or flat crops appeared; with it, precision on the benchmark set went to 1.0.
"""

from __future__ import annotations

import collections
import hashlib

import cv2
import numpy as np
from tqdm.auto import tqdm

from data_prep.decode import load_rgb
from data_prep.manifest import Manifest, NothingSucceeded
from dcgan_tf.train import keras_verbose
from dcgan_tf.config import InputError
from dcgan_tf.fileio import write_bytes, write_json

# After dcgan_tf, which sets TensorFlow's CPU options before TensorFlow loads.
import keras

METHODS = ("ae", "phash", "exact")
# Largest RMS difference of standardised thumbnails for a near duplicate. Measured on
# synthetic.near_duplicate_set(300, seed=0..2): true pairs sharing a bucket <= 0.31 (JPEG,
# shifts, brightness, resizing), unrelated pictures >= 0.46 (3,000 random pairs per set).
CONFIRM_RMS = 0.35


# --------------------------------------------------------------------------- codes


def thumbnail(img: np.ndarray, side: int = 32) -> np.ndarray:
    """The square centre crop of an RGB image, downsampled to side x side (uint8)."""
    h, w = img.shape[:2]
    s = min(h, w)
    sq = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return cv2.resize(sq, (side, side), interpolation=cv2.INTER_AREA)


def centre_crops(images, side: int = 32) -> np.ndarray:
    """32x32 centre crops as float32 rows (N, 3072) in [0, 1]: the autoencoder's input."""
    return np.stack([thumbnail(img, side).reshape(-1) for img in images]) / np.float32(255)


def exact_keys(images) -> list[str]:
    """SHA-256 of each image's shape and pixels."""
    return [hashlib.sha256(repr(img.shape).encode() + np.ascontiguousarray(img).tobytes())
            .hexdigest() for img in images]


def phash_bits(images, hash_side: int = 8) -> np.ndarray:
    """DCT perceptual hash: (N, hash_side**2) bool, from 32x32 grey thumbnails.

    The lowest hash_side x hash_side DCT coefficients are compared to their median (the DC
    term, the mean brightness, is left out of the median and of the hash's first bit).
    """
    bits = np.empty((len(images), hash_side * hash_side), bool)
    for i, img in enumerate(images):
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
        small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
        low = cv2.dct(small)[:hash_side, :hash_side].reshape(-1)
        med = np.median(low[1:])
        bits[i] = low > med
        bits[i, 0] = False
    return bits


def standardise(x: np.ndarray) -> np.ndarray:
    """Each crop to zero mean and unit spread: a brighter copy then gets the same code."""
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 0.02)


def build_autoencoder(code_size: int = 128, noise: float = 0.3, dropout: float = 0.2,
                      input_size: int = 3072, seed: int = 0):
    """The paper's de-noising, dropout-regularised ReLU autoencoder: (model, encoder)."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((input_size,), name="pixels")
    noisy = keras.layers.GaussianNoise(noise, name="corrupt")(x)  # de-noising: clean target
    code = keras.layers.Dense(code_size, activation="relu", name="code")(noisy)
    dropped = keras.layers.Dropout(dropout, name="dropout")(code)
    out = keras.layers.Dense(input_size, name="reconstruction")(dropped)
    model = keras.Model(x, out, name="dedup_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model, keras.Model(x, code, name="dedup_encoder")


def train_autoencoder(x: np.ndarray, epochs: int = 50, batch_size: int = 64, seed: int = 0,
                      progress: bool = False):
    """Fit the autoencoder to standardised crops x (N, 3072); returns (model, encoder)."""
    model, encoder = build_autoencoder(input_size=x.shape[1], seed=seed)
    model.fit(x, x, epochs=epochs, batch_size=batch_size, shuffle=True,
              verbose=keras_verbose(progress))
    return model, encoder


def ae_bits(encoder, x: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The binary code: which of the 128 ReLU activations exceed `threshold`."""
    code = encoder.predict(x, batch_size=512, verbose=0)
    return code > threshold


def pack(bits: np.ndarray) -> list[bytes]:
    """Rows of a bool matrix as hashable bytes keys."""
    return [row.tobytes() for row in np.packbits(bits, axis=1)]


def code_keys(bits: np.ndarray) -> list[bytes | None]:
    """Bucket keys of binary codes; None (no bucket) for an all-zero code, which is no
    evidence that two crops are alike."""
    return [k if row.any() else None for k, row in zip(pack(bits), bits)]


def buckets(keys) -> list[list[int]]:
    """Indices sharing a key (None: no key), for every key held by two or more."""
    table: dict = collections.defaultdict(list)
    for i, k in enumerate(keys):
        if k is not None:
            table[k].append(i)
    return [g for g in table.values() if len(g) > 1]


def confirm(groups, x: np.ndarray, max_rms: float = CONFIRM_RMS, block: int = 1024):
    """The crops of each bucket whose rows of x (standardised thumbnails) differ by at most
    max_rms (RMS), joined transitively: the buckets' true near duplicates."""
    limit = max_rms**2 * x.shape[1]
    found = []
    for g in groups:
        found += _close_groups(np.asarray(g), x[g].astype(np.float32), limit, block)
    return merge(found, n=len(x))


def _close_groups(idx: np.ndarray, v: np.ndarray, limit: float, block: int):
    """Groups of one bucket's indices `idx` joined by squared distances of rows of v at most
    `limit`. Each row's matches are merged as they are found: a list of the matching pairs
    would grow as the square of a bucket of true copies."""
    label = np.arange(len(idx))  # each row's group, named by one of its rows
    sq = (v * v).sum(axis=1)
    for s in range(0, len(idx), block):  # blocks keep a huge bucket's distances in memory
        d2 = sq[s:s + block, None] + sq[None, :] - 2.0 * (v[s:s + block] @ v.T)
        for k, row in enumerate(d2 <= limit):
            names = np.unique(np.append(label[row], label[s + k]))
            if len(names) > 1:
                label[np.isin(label, names)] = names[0]
    names, counts = np.unique(label, return_counts=True)
    return [idx[label == name].tolist() for name in names[counts > 1]]


def merge(*groupings, n: int) -> list[list[int]]:
    """Union of several groupings of range(n) (e.g. exact groups + near-duplicate groups)."""
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for groups in groupings:
        for g in groups:
            for j in g[1:]:
                parent[find(j)] = find(g[0])
    out = collections.defaultdict(list)
    for i in range(n):
        out[find(i)].append(i)
    return sorted((g for g in out.values() if len(g) > 1), key=lambda g: g[0])


class Features:
    """What a method needs of each image, gathered in one pass (a few KB per image): the
    exact key always, 32x32 thumbnails for "ae" and "phash" (to confirm bucket collisions),
    64-bit hashes for "phash"."""

    def __init__(self, method: str = "ae"):
        if method not in METHODS:
            raise InputError(f"method must be one of {METHODS}, got {method!r}")
        self.method = method
        self.keys: list[str] = []
        self.thumbs: list[np.ndarray] = []
        self.phash: list[np.ndarray] = []

    def add(self, img: np.ndarray):
        self.keys += exact_keys([img])
        if self.method != "exact":
            self.thumbs.append(thumbnail(img))
        if self.method == "phash":
            self.phash.append(phash_bits([img])[0])

    def __len__(self):
        return len(self.keys)


def find_groups(images, method: str = "ae", *, epochs: int = 50, threshold: float = 0.5,
                seed: int = 0, encoder=None) -> list[list[int]]:
    """Duplicate groups of a list of uint8 RGB images by one method (exact ones included)."""
    feats = Features(method)
    for img in images:
        feats.add(img)
    return group(feats, epochs=epochs, threshold=threshold, seed=seed, encoder=encoder)


def group(feats: Features, *, epochs: int = 50, threshold: float = 0.5, seed: int = 0,
          encoder=None, max_rms: float = CONFIRM_RMS) -> list[list[int]]:
    """Duplicate groups from gathered features: exact-hash buckets merged with the method's
    buckets, each collision there confirmed by pixel distance (see confirm())."""
    method, n = feats.method, len(feats)
    exact = buckets(feats.keys)
    if method == "exact" or n == 0:
        return merge(exact, n=n)
    x = standardise(np.stack(feats.thumbs).reshape(n, -1) / np.float32(255))
    if method == "phash":
        bits = np.stack(feats.phash)
    else:
        if encoder is None:
            _, encoder = train_autoencoder(x, epochs=epochs, seed=seed)
        bits = ae_bits(encoder, x, threshold)
    near = confirm(buckets(code_keys(bits)), x, max_rms)
    return merge(exact, near, n=n)


# --------------------------------------------------------------------------- scoring


def pairs(groups) -> set[tuple[int, int]]:
    """Every unordered pair of indices that share a group."""
    out = set()
    for g in groups:
        g = sorted(g)
        out.update((a, b) for i, a in enumerate(g) for b in g[i + 1:])
    return out


def pair_scores(found, truth) -> dict:
    """Pairwise precision and recall of found groups against true groups."""
    f, t = pairs(found), pairs(truth)
    hit = len(f & t)
    return {"pairs_found": len(f), "pairs_true": len(t), "true_pos": hit,
            "precision": hit / len(f) if f else float("nan"),
            "recall": hit / len(t) if t else float("nan")}


def contact_sheet(images, groups, max_groups: int = 24, max_per_group: int = 8,
                  side: int = 48) -> np.ndarray:
    """One row per duplicate group (its members side by side), as a uint8 RGB picture.

    `images` is a list, or a dict from index to picture holding at least the shown members.
    """
    groups = groups[:max_groups]
    if not groups:
        return np.full((side, side * 4, 3), 255, np.uint8)
    cols = min(max(len(g) for g in groups), max_per_group)
    pad = 4
    sheet = np.full((len(groups) * (side + pad) + pad, cols * (side + pad) + pad, 3), 255,
                    np.uint8)
    for r, g in enumerate(groups):
        for c, i in enumerate(g[:cols]):
            thumb = cv2.resize(images[i], (side, side), interpolation=cv2.INTER_AREA)
            y, x = pad + r * (side + pad), pad + c * (side + pad)
            sheet[y:y + side, x:x + side] = thumb
    return sheet


# --------------------------------------------------------------------------- the step


def verdict(records: dict, crop: dict) -> str | None:
    """The dedup status of a kept crop (from manifest.latest("dedup")), or None when dedup
    has not judged these very bytes: verdicts are tied to the crop's SHA-256, not its path,
    so a crop detect wrote anew is judged anew."""
    rec = records.get(crop["crop"])
    return rec["status"] if rec is not None and rec.get("sha256") == crop["sha256"] else None


def _read_crop(manifest: Manifest, crop: dict) -> np.ndarray:
    """The pixels of a kept crop, if its bytes are still those detect recorded."""
    data = manifest.resolve(crop["crop"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != crop["sha256"]:
        raise ValueError("crop file changed since detect (SHA-256 differs)")
    return load_rgb(data)


def kept_crops(manifest: Manifest) -> list[dict]:
    """Every kept face crop of the latest detect records: {"crop", "sha256", "source", ...}."""
    out = []
    for key, rec in manifest.latest("detect").items():
        for box in rec.get("boxes", []):
            if box.get("kept") and box.get("crop"):
                out.append({"crop": box["crop"], "sha256": box["crop_sha256"], "source": key,
                            "box": box["box"], "square": box["square"]})
    return out


def _verdicts(crops, groups, keys, method: str) -> list[dict]:
    """One dedup record per crop: "ok", or "duplicate" of its group's first crop."""
    in_group = {i: gid for gid, g in enumerate(groups) for i in g}
    records = []
    for i, c in enumerate(crops):
        gid = in_group.get(i)
        rec = dict(step="dedup", key=c["crop"], status="ok", sha256=c["sha256"],
                   method=method, group=gid)
        if gid is not None and groups[gid][0] != i:
            first = groups[gid][0]
            how = "exact duplicate" if keys[i] == keys[first] else f"near duplicate ({method})"
            rec.update(status="duplicate", duplicate_of=crops[first]["crop"],
                       reason=f"{how} of {crops[first]['crop']}")
        records.append(rec)
    return records


def dedup(work, method: str = "ae", *, epochs: int = 50, threshold: float = 0.5,
          seed: int = 0) -> dict:
    """De-duplicate the kept crops of <work>: writes dedup/groups.json, dedup/collisions.png
    and one manifest record per crop: "ok", or "duplicate" of the group's crop cut from the
    largest face box, each with the SHA-256 of the bytes it judged (a crop detect rewrites
    has no verdict until dedup runs again). Raises NothingSucceeded if no crop can be read.

    Safe to re-run: it always looks at every crop, and the newest records win.
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    manifest = Manifest(work)
    crops = kept_crops(manifest)
    if not crops:
        raise FileNotFoundError(f"{manifest.path}: no kept face crops; run detect first")
    if method == "ae" and len(crops) < 2:
        method = "exact"  # nothing to learn from, nothing to compare
    feats, readable, failed = Features(method), [], []
    for c in tqdm(crops, desc="dedup: reading crops", unit="crop", dynamic_ncols=True):
        try:
            feats.add(_read_crop(manifest, c))
            readable.append(c)
        except (OSError, ValueError) as err:  # a crop deleted or damaged since detect ran
            failed.append(dict(step="dedup", key=c["crop"], status="failed",
                               sha256=c["sha256"], reason=f"cannot read crop: {err}"))
    manifest.append_many(failed)
    if not readable:
        raise NothingSucceeded(f"nothing succeeded: none of the {len(crops)} kept crops could "
                               f"be read; first failure: {failed[0]['key']}: "
                               f"{failed[0]['reason']}")
    crops = readable
    groups = group(feats, epochs=epochs, threshold=threshold, seed=seed)
    # Keep the crop cut from the largest face box of each group: the most detail.
    groups = [sorted(g, key=lambda i: (-crops[i]["box"][2] * crops[i]["box"][3], i))
              for g in groups]
    manifest.append_many(_verdicts(crops, groups, feats.keys, method))
    out = manifest.root / "dedup"
    info = {"method": method, "crops": len(crops), "groups": [[crops[i]["crop"] for i in g]
                                                              for g in groups],
            "removed": sum(len(g) - 1 for g in groups)}
    write_json(out / "groups.json", info)
    shown = groups[:24]  # the contact sheet shows the first groups, read back from disk
    pics = {i: load_rgb(manifest.resolve(crops[i]["crop"])) for g in shown for i in g[:8]}
    ok, png = cv2.imencode(".png", contact_sheet(pics, shown)[..., ::-1])
    if not ok:
        raise RuntimeError(f"{out / 'collisions.png'}: PNG encoding failed")
    write_bytes(out / "collisions.png", png.tobytes())
    return {"crops": len(crops), "groups": len(groups), "removed": info["removed"]}
