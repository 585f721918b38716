"""Step 4: write the kept, de-duplicated crops as TFRecord shards that dcgan_tf.data reads.

Files: <out>/shard-00000-of-00004-<set>.tfrecord ... (uncompressed; <set> is a random id of
each run's set of shards), one tf.train.Example per crop:
  image/encoded  bytes   the PNG crop (RGB, uint8)
  image/sha256   bytes   hex SHA-256 of image/encoded
  image/source   bytes   the photo's URL if it was downloaded, else its file path
  image/name     bytes   the person's name from the URL list, or empty
  image/box      float   [x, y, w, h] of the face box in the (upright) photo's pixels
  image/height, image/width  int64
and <out>/shards.json with the record count and the file list. Records are ordered by
SHA-256, which scatters each person's photos across the shards. A crop ships unless dedup
marked these very bytes a duplicate (verdicts are tied to the crop's SHA-256).

Replacing a set: the new shards are written under temporary names and renamed in under names
no earlier set used; then shards.json is replaced in one rename (dcgan_tf.fileio); only then
are the old shards deleted. So at every moment, a crash included, shards.json lists a whole
set, every file of it complete: the old set until the new one is entirely in place, the new
one after. A crash may leave shards of the other set beside it (removed by the next run), so
readers go by shards.json, as dcgan_tf.data and read_shards do. An error, or a run in which
no crop can be read, leaves no temporary files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import secrets
from pathlib import Path

from PIL import Image

from data_prep.dedup import kept_crops, verdict
from data_prep.manifest import Manifest, NothingSucceeded
from dcgan_tf.fileio import atomic_path, read_json, write_bytes, write_json

# After dcgan_tf, which sets TensorFlow's CPU options before TensorFlow loads.
import tensorflow as tf

SHARD_PATTERN = "shard-{:05d}-of-{:05d}-{}.tfrecord"  # index, count, set id
SHARD_GLOB = "shard-*-of-*.tfrecord"  # any set's shards, older unnamed sets' too


def select(manifest: Manifest) -> tuple[list[dict], int]:
    """The crops to ship (kept by detect, not marked duplicate) and how many lack dedup."""
    dedup = manifest.latest("dedup")
    downloads: dict[str, list[tuple[str, str]]] = {}
    for url, rec in manifest.latest("download").items():
        if rec["status"] == "ok":
            downloads.setdefault(rec["file"], []).append((url, rec.get("name", "")))
    # A photo several URLs gave: credit a URL that came with a name, the smallest such.
    downloads = {f: min(pairs, key=lambda p: (p[1] == "", p[0]))
                 for f, pairs in downloads.items()}
    chosen, unchecked = [], 0
    for c in kept_crops(manifest):
        state = verdict(dedup, c)
        if state == "duplicate":
            continue
        unchecked += state is None
        url, name = downloads.get(c["source"], (None, ""))
        chosen.append({**c, "url": url, "name": name})
    chosen.sort(key=lambda c: c["sha256"])
    return chosen, unchecked


def example(png: bytes, source: str, name: str, box) -> bytes:
    """One serialised tf.train.Example in the shard format above."""
    with Image.open(io.BytesIO(png)) as im:
        width, height = im.size

    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    features = {
        "image/encoded": b(png),
        "image/sha256": b(hashlib.sha256(png).hexdigest().encode()),
        "image/source": b(source.encode("utf-8")),
        "image/name": b(name.encode("utf-8")),
        "image/box": tf.train.Feature(float_list=tf.train.FloatList(value=list(box))),
        "image/height": i(height),
        "image/width": i(width),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def shard(work, out=None, *, num_shards: int | None = None, per_shard: int = 5000,
          png_dir=None) -> dict:
    """Write <work>/shards (or `out`) from the manifest; optionally copy the PNGs to png_dir.

    Re-running replaces the shards as a whole. Returns {"count", "files", "skipped"}.
    """
    manifest = Manifest(work)
    out = Path(out) if out is not None else manifest.root / "shards"
    crops, unchecked = select(manifest)
    if not crops:
        raise FileNotFoundError(f"{manifest.path}: no kept face crops to shard; run detect")
    if unchecked:
        print(f"shard: {unchecked} crop(s) have not been through dedup yet (run dedup first "
              "to drop duplicates); they are included")
    num_shards = num_shards or max(1, math.ceil(len(crops) / per_shard))
    set_id = secrets.token_hex(4)  # new names: renaming the set in overwrites no old shard
    names = [SHARD_PATTERN.format(i, num_shards, set_id) for i in range(num_shards)]
    with contextlib.ExitStack() as stack:
        # Each shard is renamed into place when the stack closes, after every write went
        # well; on an error the temporary files are removed.
        tmps = [stack.enter_context(atomic_path(out / n)) for n in names]
        writers = [tf.io.TFRecordWriter(str(t)) for t in tmps]
        try:
            written, failures = _write_records(manifest, crops, writers, png_dir)
        finally:
            for w in writers:
                w.close()
        if not written:
            raise NothingSucceeded(
                f"nothing succeeded: none of the {len(crops)} crops could be shipped; first "
                f"failure: {failures[0]['key']}: {failures[0]['reason']} (the shards in {out} "
                "are unchanged)")
    info = {"count": written, "files": names, "skipped": len(failures),
            "features": ["image/encoded", "image/sha256", "image/source", "image/name",
                         "image/box", "image/height", "image/width"],
            "manifest": str(manifest.path.resolve())}
    write_json(out / "shards.json", info)  # the new set is in
    for old in out.glob(SHARD_GLOB):  # readers of the whole folder must not see them
        if old.name not in names:
            old.unlink()
    manifest.append("shard", manifest.relative(out), "ok", count=written, files=names,
                    skipped=len(failures))
    return {"count": written, "files": [str(out / n) for n in names], "skipped": len(failures)}


def _write_records(manifest: Manifest, crops, writers, png_dir) -> tuple[int, list[dict]]:
    """Write each crop whose bytes are still those detect recorded, round-robin over the
    writers; a "failed" record for each other. Returns (written, failure records)."""
    written, failures = 0, []
    for c in crops:
        path = manifest.resolve(c["crop"])
        try:
            png = path.read_bytes()
        except OSError as err:
            png, why = None, f"cannot read crop: {err}"
        else:
            why = None if hashlib.sha256(png).hexdigest() == c["sha256"] else \
                "crop file changed since detect (SHA-256 differs)"
        if why:
            failures.append(dict(step="shard", key=c["crop"], status="failed", reason=why))
            continue
        # Downloaded photos name their URL; others their path as listed (links unresolved).
        source = c["url"] or str(Path(os.path.abspath(manifest.resolve(c["source"]))))
        writers[written % len(writers)].write(example(png, source, c["name"], c["box"]))
        written += 1
        if png_dir is not None:
            write_bytes(Path(png_dir) / f"{c['sha256']}.png", png)
    manifest.append_many(failures)
    return written, failures


def shard_files(folder) -> list[Path]:
    """The shards of a folder: those shards.json lists, else every shard file in it."""
    folder = Path(folder)
    index = folder / "shards.json"
    if index.is_file():
        return [folder / name for name in read_json(index)["files"]]
    return sorted(folder.glob(SHARD_GLOB))


def read_shards(folder) -> list[dict]:
    """Every record of a shard folder's set as a dict of plain Python values (for checks)."""
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/sha256": tf.io.FixedLenFeature([], tf.string),
        "image/source": tf.io.FixedLenFeature([], tf.string),
        "image/name": tf.io.FixedLenFeature([], tf.string),
        "image/box": tf.io.FixedLenFeature([4], tf.float32),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
    }
    out = []
    for raw in tf.data.TFRecordDataset([str(p) for p in shard_files(folder)]):
        ex = tf.io.parse_single_example(raw, spec)
        out.append({k: (v.numpy().tolist() if k == "image/box" else v.numpy())
                    for k, v in ex.items()})
    return out
