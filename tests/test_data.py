"""The data entry point: every source, the square crop, the value range, bad input."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from dcgan_tf import data
from dcgan_tf.config import DCGANConfig


def first_batch(source, cfg, **kw):
    ds, steps = data.make_dataset(source, cfg, **kw)
    return next(iter(ds)), steps


def test_digits_default_is_real_and_scaled():
    cfg = DCGANConfig(resolution=32, channels=1, batch_size=64)
    x, steps = first_batch("digits", cfg)
    assert steps == 1797 // 64
    assert x.shape == (64, 32, 32, 1) and x.dtype == tf.float32
    assert float(tf.reduce_min(x)) == -1.0 and float(tf.reduce_max(x)) == 1.0
    # Compare against scikit-learn's own 8x8 scans, resized independently with PIL.
    from sklearn.datasets import load_digits

    ds = data.load_images("digits", 32, 1, cache=False)
    ours = next(iter(ds)).numpy()[..., 0].astype(float)
    ref = np.asarray(Image.fromarray((load_digits().images[0] * 255 / 16).astype(np.uint8))
                     .resize((32, 32), Image.BILINEAR), float)
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.97


def test_centre_crop_then_resize():
    # A 40x80 image: left quarter red, middle half green, right quarter blue.
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, :20, 0] = 255
    img[:, 20:60, 1] = 255
    img[:, 60:, 2] = 255
    out = next(iter(data.load_images(img[None], 32, cache=False))).numpy()
    assert out.shape == (32, 32, 3)
    assert out[..., 1].min() == 255 and out[..., 0].max() == 0 and out[..., 2].max() == 0


def test_channel_conversion_and_sigmoid_range():
    rgb = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    cfg = DCGANConfig(resolution=32, channels=1, batch_size=8, g_sigmoid_output=True)
    x, _ = first_batch(rgb, cfg, shuffle=False)
    assert x.shape == (8, 32, 32, 1)
    # ITU-R BT.601 luma, rounded to uint8, then scaled to [0, 1] for a sigmoid output.
    luma = np.round(rgb @ np.array([0.299, 0.587, 0.114]))[..., None] / 255.0
    np.testing.assert_allclose(x.numpy(), luma, atol=1.01 / 255)


def test_float_arrays_in_0_1_and_labels():
    imgs = np.random.default_rng(0).random((20, 16, 16, 3)).astype(np.float32)
    labels = {"y": np.arange(20)}
    cfg = DCGANConfig(resolution=32, batch_size=4)
    (x, y), steps = first_batch((imgs, labels), cfg, with_labels=True, shuffle=False)
    assert steps == 5 and x.shape == (4, 32, 32, 3) and list(y["y"].numpy()) == [0, 1, 2, 3]
    with pytest.raises(data.DataError, match=r"\[0, 1\]"):
        data.load_images(imgs * 3, 32)


def test_epoch_order_is_seeded_per_epoch_for_exact_resume():
    cfg = DCGANConfig(resolution=32, channels=1, batch_size=100)
    full, steps = data.make_dataset("digits", cfg, epochs=3)
    full = [b.numpy() for b in full]
    resumed, _ = data.make_dataset("digits", cfg, start_epoch=2, epochs=3)
    resumed = [b.numpy() for b in resumed]
    assert len(full) == 3 * steps and len(resumed) == steps
    assert all(np.array_equal(a, b) for a, b in zip(full[2 * steps:], resumed))
    assert not np.array_equal(full[0], full[steps])  # each epoch has its own order


def test_folder_skips_corrupt_files_with_a_warning_naming_them(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(
            tmp_path / f"ok{i}.png")
    Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8)).save(tmp_path / "grey.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "empty.png").write_bytes(b"")
    good = (tmp_path / "ok0.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    cfg = DCGANConfig(resolution=32, batch_size=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds, steps = data.make_dataset(tmp_path, cfg)
    messages = " ".join(str(w.message) for w in caught)
    for bad in ("broken.jpg", "empty.png", "truncated.png"):
        assert bad in messages
    assert "ok3.png" not in messages
    assert steps == 11  # ten colour images and one greyscale, which is converted
    assert next(iter(ds)).shape == (1, 32, 32, 3)


def test_folder_errors_are_clear(tmp_path):
    with pytest.raises(data.DataError, match="no image files"):
        data.load_images(tmp_path, 32)
    with pytest.raises(data.DataError, match="no such folder"):
        data.load_images(tmp_path / "missing", 32)
    with pytest.raises(data.DataError, match="fewer than one batch"):
        data.make_dataset(np.zeros((3, 8, 8, 3), np.uint8), DCGANConfig(resolution=32))


def write_shard(path, images):
    """Shards in the format data_prep writes (see the shard contract in data.py)."""
    with tf.io.TFRecordWriter(str(path)) as w:
        for img in images:
            png = tf.io.encode_png(img).numpy()
            feats = {
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
                "image/name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"])),
            }
            w.write(tf.train.Example(features=tf.train.Features(feature=feats))
                    .SerializeToString())


def test_tfrecord_shards_round_trip(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    write_shard(tmp_path / "shard-00000-of-00002.tfrecord", imgs[:6])
    write_shard(tmp_path / "shard-00001-of-00002.tfrecord", imgs[6:])
    out = np.stack(list(data.load_images(tmp_path, 32, cache=False).as_numpy_iterator()))
    assert np.array_equal(out, imgs)  # PNG is lossless and 32 -> 32 is no resize
    single = data.load_images(tmp_path / "shard-00001-of-00002.tfrecord", 32, cache=False)
    assert data.count(single) == 6


def test_a_shard_index_names_the_set_and_its_count(tmp_path):
    """With data_prep's shards.json only the listed shards are read (a stray shard of an
    older set is not), and the count comes from the index: no pass over the records."""
    import json

    imgs = np.random.default_rng(1).integers(0, 256, (10, 20, 20, 3), np.uint8)
    write_shard(tmp_path / "shard-00000-of-00001.tfrecord", imgs[:7])
    write_shard(tmp_path / "shard-00000-of-00003.tfrecord", imgs[7:])  # an older set
    (tmp_path / "shards.json").write_text(
        json.dumps({"count": 7, "files": ["shard-00000-of-00001.tfrecord"]}))
    ds = data.load_images(tmp_path, 20, cache="none")
    assert int(ds.cardinality()) == 7
    got = np.stack(list(ds.as_numpy_iterator()))
    np.testing.assert_array_equal(got, imgs[:7])
    (tmp_path / "shards.json").write_text(
        json.dumps({"count": 7, "files": ["shard-00000-of-00009.tfrecord"]}))
    with pytest.raises(data.DataError, match="shard-00000-of-00009"):
        data.load_images(tmp_path, 20, cache="none")


@pytest.mark.parametrize("name,channels", [("mnist", 1), ("cifar10", 3), ("celeb_a", 3),
                                           ("svhn_cropped", 3), ("lsun/bedroom", 3)])
def test_tfds_loaders_on_mock_data(name, channels):
    """The real tfds code path, fed by tfds' own offline mock of each data set."""
    cfg = DCGANConfig(resolution=32, batch_size=8, channels=channels)
    with tfds.testing.mock_data(num_examples=24, policy=tfds.testing.MockPolicy.USE_CODE):
        x, steps = first_batch(f"tfds:{name}", cfg)
    assert steps == 3 and x.shape == (8, 32, 32, channels)


@pytest.mark.parametrize("name,side", [("mnist", 28), ("cifar10", 32), ("svhn_cropped", 32)])
def test_tfds_images_arrive_unchanged_at_their_own_size(name, side):
    """At the data set's own side there is no resize: the pixels are tfds' own."""
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        ref = [ex["image"] for ex in tfds.as_numpy(tfds.load(name, split="train",
                                                             shuffle_files=False))]
        ours = list(data.load_images(f"tfds:{name}", side, ref[0].shape[-1],
                                     cache="none").as_numpy_iterator())
    assert len(ours) == len(ref) == 6
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)


def test_tfds_celeb_a_labels_on_mock_data():
    cfg = DCGANConfig(resolution=32, batch_size=8)
    with tfds.testing.mock_data(num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE):
        (x, labels), _ = first_batch("tfds:celeb_a", cfg, with_labels=True)
    assert {"Smiling", "Eyeglasses", "Male"} <= set(labels)


def test_tfds_failure_names_the_data_set(monkeypatch):
    def offline(*a, **k):
        raise ConnectionError("network is unreachable")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(data.DataError, match="tfds:celeb_a.*internet"):
        data.load_images("tfds:celeb_a", 64)


def test_to_uint8_inverts_to_model_range():
    u = np.arange(256, dtype=np.uint8)
    # The end points and the middle land where tanh's range puts them.
    np.testing.assert_allclose(data.to_model_range(u).numpy()[[0, 51, 255]],
                               [-1.0, -0.6, 1.0], atol=1e-6)
    np.testing.assert_allclose(data.to_model_range(u, (0, 1)).numpy()[[0, 51, 255]],
                               [0.0, 0.2, 1.0], atol=1e-6)
    assert np.array_equal(data.to_uint8(data.to_model_range(u).numpy()), u)
    assert np.array_equal(data.to_uint8(data.to_model_range(u, (0, 1)).numpy(), (0, 1)), u)


# --------------------------------------------------------------------------- caching


def cache_files(ds):
    """The file name of every tf.data cache in a pipeline ("" = in memory)."""
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(ds._as_serialized_graph().numpy())
    consts = {n.name: n.attr["value"].tensor.string_val for n in graph.node if n.op == "Const"}
    return [consts[n.input[1]][0].decode() for n in graph.node
            if n.op.startswith("CacheDataset")]


def photo_folder(folder, n=40):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(
            folder / f"img{i:02d}.png")
    return folder


def all_batches(source, cfg, cache):
    ds, _ = data.make_dataset(source, cfg, epochs=3, cache=cache)
    return [b.numpy() for b in ds]


def test_every_cache_choice_gives_the_same_batches(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    cfg = DCGANConfig(resolution=32, batch_size=8)
    reference = all_batches(folder, cfg, "none")
    assert len(reference) == 3 * 5
    for cache in ("memory", "disk", True, False, None, tmp_path / "own" / "cache", "auto"):
        batches = all_batches(folder, cfg, cache)
        assert len(batches) == len(reference), cache
        for a, b in zip(batches, reference):
            np.testing.assert_array_equal(a, b, err_msg=str(cache))
    # A second pipeline on the same folder reads the finished disk cache back.
    for a, b in zip(all_batches(folder, cfg, "disk"), reference):
        np.testing.assert_array_equal(a, b)
    assert list((tmp_path / "own").glob("cache*.index"))


def test_each_cache_choice_builds_its_cache(tmp_path, monkeypatch):
    from dcgan_tf.config import cache_dir

    def caches(cache, source="digits"):
        return cache_files(data.load_images(source, 32, 1, cache=cache))

    assert caches("memory") == caches(True) == caches("auto") == [""]
    assert caches("none") == caches(False) == []
    assert caches(tmp_path / "mine") == [str(tmp_path / "mine")]
    disk, = caches("disk")
    assert Path(disk).parent == cache_dir() / "tfdata"
    # The disk cache is keyed by what it holds: another size or channel count, another file.
    assert disk != cache_files(data.load_images("digits", 64, 1, cache="disk"))[0]
    assert disk != cache_files(data.load_images("digits", 32, 3, cache="disk"))[0]
    # Over the memory budget, auto goes to disk.
    monkeypatch.setattr(data, "CACHE_MEMORY_BUDGET", 1797 * 32 * 32 - 1)
    assert caches("auto") == [disk]
    with pytest.raises(ValueError, match="'ram'"):
        caches("ram")


def test_disk_cache_key_follows_a_folder_s_contents(tmp_path):
    folder = photo_folder(tmp_path / "photos", n=4)
    before = cache_files(data.load_images(folder, 32, cache="disk"))
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(folder / "img00.png")
    assert cache_files(data.load_images(folder, 32, cache="disk")) != before
    arrays = np.zeros((4, 8, 8, 3), np.uint8)
    a = cache_files(data.load_images(arrays, 32, cache="disk"))
    arrays[0, 0, 0, 0] = 1
    assert cache_files(data.load_images(arrays, 32, cache="disk")) != a


def test_auto_cache_decision():
    gib = 2**30
    assert data.CACHE_MEMORY_BUDGET == 2 * gib  # the figure the docs and --help state
    # tfds:lsun/bedroom at 64x64: about 3M x 12 KB = 37 GB goes to disk.
    assert data.choose_cache(3_033_042, 64, 3) == "disk"
    assert data.choose_cache(20_000, 32, 3) == "memory"  # the procedural faces: 61 MB
    assert data.choose_cache(None, 32, 3) == "disk"  # count unknown (TFRecord shards)
    per_image = 64 * 64 * 3
    fits = 2 * gib // per_image
    assert data.choose_cache(fits, 64, 3) == "memory"
    assert data.choose_cache(fits + 1, 64, 3) == "disk"
    assert data.choose_cache(10, 64, 3, budget=10 * per_image - 1) == "disk"


def test_a_cache_left_half_written_is_named(tmp_path):
    prefix = tmp_path / "cache" / "digits"
    prefix.parent.mkdir()
    (tmp_path / "cache" / "digits_0.lockfile").write_text("Created at: 0")  # a killed run's
    with pytest.raises(data.DataError, match="digits_0.lockfile.*delete"):
        data.load_images("digits", 32, 1, cache=prefix)


def test_batches_slice_in_order_with_a_short_last_batch(tmp_path):
    from dcgan_tf.inference import batches

    x = np.arange(10 * 2).reshape(10, 2)
    parts = list(batches(x, 4))
    assert [len(p) for p in parts] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(parts), x)
    on_disk = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float16, (5, 3))
    assert all(type(p) is np.ndarray for p in batches(on_disk, 2))  # read into RAM per batch
    assert list(batches(x[:0], 4)) == []
