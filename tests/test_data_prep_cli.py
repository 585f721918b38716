"""data_prep's command line: argument checks, exit codes, and total failure never hidden."""

import cv2
import pytest

from data_prep import cli, synthetic
from data_prep.detect import DetectConfig, detect
from data_prep.manifest import Manifest


@pytest.mark.parametrize("option", ["--retries", "--backoff"])
def test_negative_retries_and_backoff_are_refused_by_the_parser(tmp_path, capsys, option):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/a.jpg\n")
    with pytest.raises(SystemExit) as exc:
        cli.main(["download", str(urls), "--work", str(tmp_path / "w"), option, "-1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err and "'-1' must be 0 or more" in err
    assert not (tmp_path / "w").exists()  # refused before anything ran


def test_exit_codes_are_documented_in_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for line in ("0  ", "1  ", "2  ", "130"):
        assert line in out
    assert "exit codes" in out.lower() and "exit codes" in cli.__doc__.lower()


def test_bad_input_on_the_command_line_exits_2(tmp_path, capsys):
    assert cli.main(["download", str(tmp_path / "none.txt"), "--work", str(tmp_path)]) == 2
    assert "none.txt: no such file" in capsys.readouterr().err
    assert cli.main(["all", str(tmp_path / "none"), "--work", str(tmp_path)]) == 2
    capsys.readouterr()
    assert cli.main(["detect", "--work", str(tmp_path), "--margin", "5"]) == 2
    assert "margin" in capsys.readouterr().err


def test_a_download_where_nothing_succeeded_exits_1(tmp_path, capsys):
    urls = tmp_path / "urls.txt"
    urls.write_text("file:///etc/hostname\nftp://example.org/a.jpg\n")
    assert cli.main(["download", str(urls), "--work", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err
    assert "data_prep download: error: nothing succeeded" in err
    assert "unsupported URL scheme" in err  # the first failure's reason is shown


@pytest.fixture
def detected(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, (img, _) in enumerate(synthetic.face_scenes(2, seed=12)):
        cv2.imwrite(str(photos / f"s{i}.jpg"), img[..., ::-1])
    work = tmp_path / "work"
    counts = detect(work, photos, DetectConfig(), workers=1)
    assert counts["ok"] == 2
    return work


def test_dedup_where_no_crop_can_be_read_exits_1(detected, capsys):
    for crop in (detected / "crops").glob("*.png"):
        crop.unlink()
    assert cli.main(["dedup", "--work", str(detected), "--method", "phash"]) == 1
    err = capsys.readouterr().err
    assert "data_prep dedup: error: nothing succeeded" in err and "cannot read crop" in err
    assert {r["status"] for r in Manifest(detected).latest("dedup").values()} == {"failed"}


def test_shard_where_no_crop_can_be_read_exits_1_and_keeps_the_old_shards(detected, capsys):
    assert cli.main(["shard", "--work", str(detected), "--shards", "2"]) == 0
    shards = detected / "shards"
    before = {p.name: p.read_bytes() for p in shards.iterdir()}
    for crop in (detected / "crops").glob("*.png"):
        crop.write_bytes(b"changed")
    capsys.readouterr()
    assert cli.main(["shard", "--work", str(detected), "--shards", "3"]) == 1
    err = capsys.readouterr().err
    assert "data_prep shard: error: nothing succeeded" in err and "SHA-256 differs" in err
    assert {p.name: p.read_bytes() for p in shards.iterdir()} == before


@pytest.mark.parametrize("step, why", [("status", "no manifest yet"),
                                       ("dedup", "no kept face crops"),
                                       ("shard", "no kept face crops")])
def test_a_missing_input_exits_2_with_one_line(tmp_path, capsys, step, why):
    # The exit-code table: a file or folder not found is bad input (2), not a failure (1).
    assert cli.main([step, "--work", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"data_prep {step}: error: ")
    assert why in err and "manifest.jsonl" in err  # names the file it looked for
