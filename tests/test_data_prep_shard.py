"""data_prep shard: the TFRecord contract, and shards loading through dcgan_tf's data entry."""

import hashlib
import io
import json
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from data_prep import cli, synthetic
from data_prep.dedup import dedup
from data_prep.detect import DetectConfig, detect
from data_prep.download import download
from data_prep.manifest import Manifest
from data_prep.shard import read_shards, shard

PEOPLE = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A work folder built through download (from a local server), detect and dedup."""
    root = tmp_path_factory.mktemp("shard")
    photos = root / "served"
    photos.mkdir()
    for i, (img, _) in enumerate(synthetic.face_scenes(4, seed=11)):
        cv2.imwrite(str(photos / f"p{i}.jpg"), img[..., ::-1])
    # One photo served twice under two names: its faces must not be shipped twice.
    (photos / "p0_again.jpg").write_bytes((photos / "p0.jpg").read_bytes())
    with synthetic.serve_folder(photos) as base:
        urls = [f"{base}/p{i}.jpg {PEOPLE[i]}" for i in range(4)] + [f"{base}/p0_again.jpg"]
        (root / "urls.txt").write_text("\n".join(urls) + "\n")
        download(root / "urls.txt", root / "work", workers=2, timeout=5, retries=0)
    detect(root / "work", None, DetectConfig(), workers=1)
    # Same bytes from two URLs give one file, so add a re-encoded copy to dedup for real.
    img = cv2.imread(str(photos / "p1.jpg"))
    cv2.imwrite(str(root / "work" / "images" / "p1_reencoded.png"), img)
    detect(root / "work", None, DetectConfig(), workers=1)
    dedup(root / "work", "phash")
    return root / "work"


def test_shards_follow_the_contract(work):
    info = shard(work, num_shards=3)
    out = work / "shards"
    meta = json.loads((out / "shards.json").read_text())
    names = meta["files"]
    assert re.fullmatch(r"shard-00000-of-00003-[0-9a-f]{8}\.tfrecord", names[0])
    assert names == [names[0].replace("00000-of", f"{i:05d}-of") for i in range(3)]
    assert sorted(p.name for p in out.glob("*.tfrecord")) == names
    assert meta["count"] == info["count"]

    m = Manifest(work)
    det = m.latest("detect")
    dd = m.latest("dedup")
    kept = {b["crop"]: (key, b) for key, r in det.items() for b in r.get("boxes", [])
            if b["kept"]}
    shipped = [c for c in kept if dd[c]["status"] == "ok"]
    assert 0 < len(shipped) < len(kept)  # duplicates were left out
    records = read_shards(out)
    assert len(records) == len(shipped) == meta["count"]
    by_sha = {kept[c][1]["crop_sha256"]: c for c in shipped}
    sources = {}  # photo file -> the URLs that gave it, with their names
    for url, r in m.latest("download").items():
        if r["status"] == "ok":
            sources.setdefault(r["file"], []).append((url, r["name"]))
    for rec in records:
        png = rec["image/encoded"]
        assert hashlib.sha256(png).hexdigest().encode() == rec["image/sha256"]
        crop = by_sha[rec["image/sha256"].decode()]
        assert png == (work / crop).read_bytes()
        arr = np.asarray(Image.open(io.BytesIO(png)))
        assert arr.shape == (64, 64, 3) and arr.dtype == np.uint8
        assert (rec["image/height"], rec["image/width"]) == (64, 64)
        key, box = kept[crop]
        assert np.allclose(rec["image/box"], box["box"], atol=1e-3)
        if key in sources:  # downloaded: a URL and the person's name travel with it
            named = sorted((u, n) for u, n in sources[key] if n) or sorted(sources[key])
            assert (rec["image/source"].decode(), rec["image/name"].decode()) == named[0]
        else:  # the re-encoded copy was put in the folder by hand
            assert rec["image/source"].decode() == str((work / key).resolve())
            assert rec["image/name"] == b""
    assert {r["image/name"].decode() for r in records} >= set(PEOPLE)


def test_rerun_replaces_the_whole_set(work, tmp_path):
    shard(work, num_shards=3)
    info = shard(work, num_shards=2, png_dir=tmp_path / "png")
    files = sorted(p.name for p in (work / "shards").glob("*.tfrecord"))
    assert files == json.loads((work / "shards" / "shards.json").read_text())["files"]
    assert [f[:20] for f in files] == ["shard-00000-of-00002", "shard-00001-of-00002"]
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == info["count"] == len(read_shards(work / "shards"))
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == p.stem for p in pngs)


def test_shards_load_through_dcgan_tf_data(work):
    """The round trip the kit exists for: data_prep's shards feed dcgan_tf's data entry."""
    data = pytest.importorskip("dcgan_tf.data")
    from dcgan_tf.config import DCGANConfig

    shard(work, num_shards=2)
    crops = {r["image/sha256"]: np.asarray(Image.open(io.BytesIO(r["image/encoded"])))
             for r in read_shards(work / "shards")}
    loaded = [x.numpy() for x in data.load_images(str(work / "shards"), 64, 3, cache=False)]
    assert len(loaded) == len(crops)
    want = sorted(hashlib.sha256(a.tobytes()).hexdigest() for a in crops.values())
    got = sorted(hashlib.sha256(a.tobytes()).hexdigest() for a in loaded)
    assert got == want  # the very pixels of the crops, nothing lost or altered
    cfg = DCGANConfig(resolution=32, channels=3, batch_size=4)
    batches, steps = data.make_dataset(str(work / "shards"), cfg)
    x = next(iter(batches)).numpy()
    assert steps == len(crops) // 4 and x.shape == (4, 32, 32, 3)
    assert -1.0 <= x.min() < 0.0 < x.max() <= 1.0


def test_cli_all_on_a_folder(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, (img, _) in enumerate(synthetic.face_scenes(2, seed=12)):
        cv2.imwrite(str(photos / f"s{i}.jpg"), img[..., ::-1])
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    work = tmp_path / "work"
    assert cli.main(["all", str(photos), "--work", str(work), "--method", "phash",
                     "--shards", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 ok" in out and "1 rejected" in out and "shard: " in out
    assert len(list((work / "shards").glob("*.tfrecord"))) == 2
    assert cli.main(["status", "--work", str(work)]) == 0
    status = capsys.readouterr().out
    assert "detect: 2 ok, 1 rejected" in status and "shard: 1 ok" in status
    assert cli.main(["shard", "--work", str(tmp_path / "empty")]) == 2  # nothing to shard
    assert "no kept face crops" in capsys.readouterr().err


def test_a_failed_rewrite_leaves_the_old_shards_and_no_temporary_files(work, monkeypatch):
    from data_prep import shard as shard_mod

    shard(work, num_shards=2)
    out = work / "shards"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real, calls = shard_mod.example, []

    def fail_on_the_third(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(*a, **kw)

    monkeypatch.setattr(shard_mod, "example", fail_on_the_third)
    with pytest.raises(OSError, match="disk full"):
        shard(work, num_shards=3)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing half-written


def test_a_crash_between_renames_leaves_the_listed_set_whole(work, monkeypatch):
    """shards.json is the commit point: until it is rewritten it lists the old set, whose
    files are all still there and unchanged; what the crash left beside them goes on the
    next run."""
    import os

    shard(work, num_shards=2)
    out = work / "shards"
    index = (out / "shards.json").read_bytes()
    old = {n: (out / n).read_bytes() for n in json.loads(index)["files"]}
    want = sorted(r["image/encoded"] for r in read_shards(out))
    real, renames = os.replace, []

    def crash_on_the_second_shard(src, dst):
        if str(dst).endswith(".tfrecord"):
            renames.append(dst)
            if len(renames) == 2:
                raise OSError("power cut")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_the_second_shard)
    with pytest.raises(OSError, match="power cut"):
        shard(work, num_shards=3)
    monkeypatch.setattr(os, "replace", real)
    assert (out / "shards.json").read_bytes() == index
    assert {n: (out / n).read_bytes() for n in old} == old
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp files
    data = pytest.importorskip("dcgan_tf.data")
    loaded = [x.numpy() for x in data.load_images(str(out), 64, 3, cache=False)]
    assert sorted(a.tobytes() for a in loaded) == sorted(
        np.asarray(Image.open(io.BytesIO(png))).tobytes() for png in want)
    # The next run replaces the set and removes the old shards and the crash's leftovers.
    info = shard(work, num_shards=3)
    left = sorted(p.name for p in out.glob("*.tfrecord"))
    assert left == sorted(json.loads((out / "shards.json").read_text())["files"])
    assert len(left) == 3 and len(read_shards(out)) == info["count"] == len(want)
