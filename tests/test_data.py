"""The data entry point: every source, the square crop, the value range, bad input."""

import warnings

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
    assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0


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


@pytest.mark.parametrize("name,channels", [("mnist", 1), ("cifar10", 3), ("celeb_a", 3),
                                           ("svhn_cropped", 3), ("lsun/bedroom", 3)])
def test_tfds_loaders_on_mock_data(name, channels):
    """The real tfds code path, fed by tfds' own offline mock of each data set."""
    cfg = DCGANConfig(resolution=32, batch_size=8, channels=channels)
    with tfds.testing.mock_data(num_examples=24, policy=tfds.testing.MockPolicy.USE_CODE):
        x, steps = first_batch(f"tfds:{name}", cfg)
    assert steps == 3 and x.shape == (8, 32, 32, channels)
    assert -1.0 <= float(tf.reduce_min(x)) <= float(tf.reduce_max(x)) <= 1.0


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
    assert np.array_equal(data.to_uint8(data.to_model_range(u).numpy()), u)
    assert np.array_equal(data.to_uint8(data.to_model_range(u, (0, 1)).numpy(), (0, 1)), u)
