"""One image reader for the kit: dcgan_tf.data and data_prep give the same pixels."""

import numpy as np
import pytest
from PIL import Image

from data_prep import decode
from dcgan_tf import images


def _entry_points():
    data = pytest.importorskip("dcgan_tf.data")
    return {"dcgan_tf.data.read_image": data.read_image, "data_prep.decode.load_rgb":
            decode.load_rgb, "dcgan_tf.images.load_rgb": images.load_rgb}


def test_16bit_grey_maps_on_a_fixed_scale_in_every_reader(tmp_path):
    # A dim 16-bit scan (nothing above a quarter of full scale) must stay dim: no stretch.
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 16384, (12, 20), dtype=np.uint16)
    grey[0, :4] = [0, 128, 257, 16383]
    path = tmp_path / "dim16.png"
    Image.fromarray(grey).save(path)
    want = np.floor(grey.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    want = np.repeat(want[..., None], 3, axis=-1)
    for name, read in _entry_points().items():
        got = read(path)
        assert got.dtype == np.uint8 and np.array_equal(got, want), name
        assert got.max() <= 64, name


def test_alpha_is_composited_on_white_in_every_reader(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (10, 16, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (10, 16), dtype=np.uint8)
    alpha[:2] = 0  # fully transparent rows: white, whatever colour they store
    alpha[-2:] = 255  # opaque rows: their own colour
    path = tmp_path / "cutout.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(path)
    a = alpha[..., None].astype(np.float64) / 255.0
    want = np.floor(rgb * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    for name, read in _entry_points().items():
        got = read(path)
        assert np.array_equal(got, want), name
        assert (got[:2] == 255).all() and np.array_equal(got[-2:], rgb[-2:]), name


def test_a_missing_file_is_an_os_error_not_bad_content(tmp_path):
    with pytest.raises(FileNotFoundError):
        images.load_rgb(tmp_path / "gone.png")
    with pytest.raises(images.BadImage, match="empty"):
        (tmp_path / "zero.png").write_bytes(b"")
        images.load_rgb(tmp_path / "zero.png")


@pytest.mark.parametrize("stage", ["open", "load"])
def test_an_io_error_while_decoding_stays_an_os_error(tmp_path, monkeypatch, stage):
    """EIO or ESTALE mid-read says nothing about the content: it must not become BadImage
    (detect would record the photo "rejected" and never retry it)."""
    import errno

    from PIL import ImageFile

    path = tmp_path / "ok.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)

    def eio(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(*((images.Image, "open") if stage == "open" else
                          (ImageFile.ImageFile, "load")), eio)
    with pytest.raises(OSError) as err:
        images.load_rgb(path)
    assert err.type is OSError and err.value.errno == errno.EIO


def test_a_decoder_error_without_errno_is_bad_content(tmp_path, monkeypatch):
    from PIL import ImageFile

    path = tmp_path / "ok.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)

    def broken(*args, **kwargs):
        raise OSError("decoder error -2")  # how Pillow reports corrupt data

    monkeypatch.setattr(ImageFile.ImageFile, "load", broken)
    with pytest.raises(images.BadImage, match="cannot decode: decoder error -2"):
        images.load_rgb(path)
