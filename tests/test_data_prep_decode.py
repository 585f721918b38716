"""data_prep's decoding of awkward files and its crash-safe manifest."""

import concurrent.futures as cf
import io
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from data_prep.decode import BadImage, check_bytes, load_rgb
from data_prep.manifest import Manifest, run_all


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def photo(h=40, w=60, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose header is rewritten to claim width x height pixels."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17]))
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


# --------------------------------------------------------------------------- decoding


def test_bad_files_are_refused_with_their_reason(tmp_path):
    jpeg = encode(Image.fromarray(photo()), "JPEG")
    cases = {
        "zero.jpg": (b"", "empty"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "text.jpg": (b"<html><body>not found</body></html>", "not an image"),
        "bomb.png": (png_claiming(30_000, 30_000), "decompression bomb"),
    }
    for name, (data, why) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(BadImage, match=why):
            load_rgb(path)
        with pytest.raises(BadImage, match=why):
            check_bytes(data)


def test_odd_modes_become_8bit_rgb():
    rgb = photo()
    # CMYK: Pillow's own conversion is the reference.
    cmyk = Image.fromarray(rgb).convert("CMYK")
    got = load_rgb(encode(cmyk, "TIFF"))
    assert got.dtype == np.uint8 and got.shape == (40, 60, 3)
    assert np.array_equal(got, np.asarray(cmyk.convert("RGB")))
    # 16-bit greyscale: 65535 -> 255, mid-grey -> 128.
    g16 = np.array([[0, 32896, 65535]], np.uint16)
    got = load_rgb(encode(Image.fromarray(g16), "PNG"))
    assert got.shape == (1, 3, 3) and got[0, :, 0].tolist() == [0, 128, 255]
    assert np.array_equal(got[..., 0], got[..., 2])
    # Greyscale and palette images become three equal or mapped channels.
    grey = rgb[..., 0]
    assert np.array_equal(load_rgb(encode(Image.fromarray(grey), "PNG"))[..., 1], grey)
    pal = Image.fromarray(rgb).quantize(16)
    assert np.array_equal(load_rgb(encode(pal, "PNG")), np.asarray(pal.convert("RGB")))
    # Alpha: fully transparent pixels turn white, opaque ones keep their colour.
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:10, :, 3] = 0
    got = load_rgb(encode(Image.fromarray(rgba), "PNG"))
    assert (got[:10] == 255).all() and np.array_equal(got[10:], rgb[10:])


def test_exif_orientation_is_applied(tmp_path):
    upright = photo(30, 50)
    stored = np.rot90(upright, 1)  # what a camera held sideways writes
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "sideways.png"
    Image.fromarray(stored).save(path, exif=exif.tobytes())
    assert np.array_equal(load_rgb(path), upright)


def test_check_bytes_reports_format_and_suffix():
    fmt, suffix, size = check_bytes(encode(Image.fromarray(photo()), "PNG"))
    assert (fmt, suffix, size) == ("PNG", ".png", (60, 40))
    with pytest.raises(BadImage, match="unsupported image format"):
        check_bytes(encode(Image.fromarray(photo()), "PPM"))


# --------------------------------------------------------------------------- manifest


def test_manifest_latest_record_wins_and_torn_lines_are_skipped(tmp_path):
    m = Manifest(tmp_path)
    m.append("download", "u1", "failed", reason="HTTP 503")
    m.append("download", "u2", "ok", file="images/a.jpg")
    m.append("download", "u1", "ok", file="images/b.jpg")
    # A crash in the middle of a write leaves half a line...
    with open(m.path, "ab") as f:
        f.write(b'{"step": "download", "key": "u3", "sta')
    assert set(m.latest("download")) == {"u1", "u2"}
    assert m.latest("download")["u1"]["status"] == "ok"
    # ...which the next append seals off instead of gluing onto it.
    m.append("download", "u4", "rejected", reason="HTTP 404")
    assert set(m.latest("download")) == {"u1", "u2", "u4"}
    assert m.counts("download") == {"ok": 2, "rejected": 1}
    assert m.path.read_text().count("\n") == 5


def test_manifest_concurrent_appends_lose_nothing(tmp_path):
    m = Manifest(tmp_path, fsync=False)

    def write(t):
        for i in range(200):
            m.append("detect", f"{t}-{i}", "ok", payload="x" * 500)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(m.records()) == 800 and len(m.latest("detect")) == 800


def test_run_all_finishes_in_flight_items_on_ctrl_c():
    """Ctrl-C: nothing new starts, everything started is recorded, then it propagates."""
    started, recorded = [], []

    def work(i):
        started.append(i)
        time.sleep(0.05)
        return i

    def record(i):
        recorded.append(i)
        if len(recorded) == 3:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C here

    with cf.ThreadPoolExecutor(2) as pool, pytest.raises(KeyboardInterrupt):
        run_all(work, range(100), pool, record, window=4, desc="test")
    time.sleep(0.2)  # anything wrongly still queued would start now
    # The item being recorded when Ctrl-C came may be recorded twice (the newest record
    # wins, so that is harmless); none is lost and none is left unrecorded.
    assert set(recorded) == set(started) and len(started) == len(set(started))
    assert len(started) < 10


def test_only_a_jsonl_path_names_a_manifest_file(tmp_path):
    """A new work folder with a dot in its name is a folder, not the manifest file."""
    work = tmp_path / "faces.v2"
    m = Manifest(work)
    assert m.path == work / "manifest.jsonl" and m.root == work
    m.append("detect", "a.jpg", "ok")
    assert work.is_dir() and len(Manifest(work).records()) == 1
    log = Manifest(tmp_path / "logs" / "mine.jsonl")
    assert log.path == tmp_path / "logs" / "mine.jsonl" and log.root == tmp_path / "logs"
    # An existing folder is a folder whatever its name.
    (tmp_path / "odd.jsonl").mkdir()
    assert Manifest(tmp_path / "odd.jsonl").path == tmp_path / "odd.jsonl" / "manifest.jsonl"
