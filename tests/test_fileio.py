"""The atomic-write helper: complete files or none, and no two writers sharing a temp file."""

import threading

import pytest

from dcgan_tf import fileio


def test_contents_appear_only_when_complete(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with fileio.atomic_write(target) as f:
        f.write(b"new contents")
        assert target.read_bytes() == b"old"  # not visible until the block ends
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]  # no temp file left


def test_an_error_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with fileio.atomic_write(target) as f:
            f.write(b"half")
            raise RuntimeError("crash while writing")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_concurrent_writers_of_one_target_never_share_a_temp_file(tmp_path):
    """Two writers inside the block at once (held there by a barrier): each has its own
    temp file, so both complete and the target holds one writer's whole bytes."""
    target = tmp_path / "same.bin"
    barrier = threading.Barrier(2)
    temps, errors = [], []

    def write(data):
        try:
            with fileio.atomic_path(target) as tmp:
                temps.append(tmp)
                tmp.write_bytes(data[:3])
                barrier.wait(timeout=30)  # both temp files exist now
                tmp.write_bytes(data)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    data = [b"A" * 1000, b"B" * 1000]
    threads = [threading.Thread(target=write, args=(d,)) for d in data]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert temps[0] != temps[1]
    assert target.read_bytes() in data


def test_temp_names_are_hidden_and_do_not_match_the_targets_glob(tmp_path):
    with fileio.atomic_path(tmp_path / "x.tfrecord") as tmp:
        assert tmp.name.startswith(".") and not tmp.name.endswith(".tfrecord")
        assert list(tmp_path.glob("[!.]*.tfrecord")) == []
        tmp.write_bytes(b"r")
    with fileio.atomic_path(tmp_path / "m.keras", suffix=".keras") as tmp:
        assert tmp.suffix == ".keras"
        tmp.write_bytes(b"k")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "x.tfrecord"]


def test_text_and_bytes_helpers(tmp_path):
    fileio.write_text(tmp_path / "sub" / "t.txt", "héllo\n")
    fileio.write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "sub" / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_pictures_and_configs_are_written_atomically(tmp_path, monkeypatch):
    """A crash while saving a grid, GIF or config keeps the previous file whole."""
    import numpy as np

    from dcgan_tf import plots
    from dcgan_tf.config import DCGANConfig

    png, gif, cfg_file = tmp_path / "g.png", tmp_path / "p.gif", tmp_path / "config.json"
    img = np.zeros((4, 4, 3), np.uint8)
    plots.save_png(img, png)
    plots.save_gif([img, img], gif)
    DCGANConfig().to_json(cfg_file)
    before = {p: p.read_bytes() for p in (png, gif, cfg_file)}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fileio, "_fsync", crash)  # fails after the bytes are written
    for save in (lambda: plots.save_png(img + 255, png),
                 lambda: plots.save_gif([img + 255] * 2, gif),
                 lambda: DCGANConfig(z_dim=7).to_json(cfg_file)):
        with pytest.raises(OSError, match="disk full"):
            save()
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "g.png", "p.gif"]


def test_finished_files_get_the_usual_mode_not_mkstemps_0600(tmp_path):
    """A new file gets 0o666 less the umask, like open() would give; a replaced file keeps
    its mode (checked against a file made with plain open())."""
    import os
    import stat

    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    fileio.write_bytes(tmp_path / "new.bin", b"y")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "new.bin") == mode(plain)
    os.chmod(plain, 0o640)
    fileio.write_bytes(plain, b"z")
    assert mode(plain) == 0o640
