"""data_prep detect: real packaged photos, composed scenes with known boxes, every box judged."""

import hashlib
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from data_prep import cli, synthetic
from data_prep.decode import load_rgb
from data_prep.detect import (DetectConfig, crop_square, detect, find_faces, haar_cascade_path, iou,
                              judge, make_detector)
from data_prep.manifest import Manifest

# Floors a little under what was measured on these scenes (recall 0.95-0.97, precision
# 0.99-1.0 over seeds 0-3 of synthetic.face_scenes, 100 faces each).
RECALL_FLOOR, PRECISION_FLOOR = 0.88, 0.95


@pytest.fixture(scope="module")
def haar():
    cfg = DetectConfig()
    return cfg, make_detector(cfg)


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_finds_the_face_in_real_packaged_photos(haar, name):
    cfg, det = haar
    img = (load_rgb(synthetic.grace_hopper_path()) if name == "grace_hopper"
           else synthetic.packaged_photo(name))
    kept = [b for b in find_faces(img, cfg, det) if b["kept"]]
    assert len(kept) == 1
    assert iou(kept[0]["box"], synthetic.PACKAGED_FACES[name]) > 0.5


def test_no_detections_on_face_free_photos(haar):
    cfg, det = haar
    for name in synthetic.FACE_FREE:
        found = [b["box"] for b in find_faces(synthetic.packaged_photo(name), cfg, det)
                 if b["kept"]]
        assert found == [], name


def test_recall_and_precision_on_composed_scenes(haar):
    cfg, det = haar
    tp = fp = fn = 0
    for img, truth in synthetic.face_scenes(25, seed=0):
        kept = [b["box"] for b in find_faces(img, cfg, det) if b["kept"]]
        a, b, c = synthetic.match_boxes(kept, truth)
        tp, fp, fn = tp + a, fp + b, fn + c
    recall, precision = tp / (tp + fn), tp / (tp + fp)
    print(f"composed scenes: recall {recall:.3f}, precision {precision:.3f}")
    assert tp + fn == 100
    assert recall >= RECALL_FLOOR and precision >= PRECISION_FLOOR


def test_crop_square_pads_past_the_border_like_numpy():
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 300:
        h, w = (int(v) for v in rng.integers(5, 60, 2))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        s = int(rng.integers(2, 2 * max(h, w)))
        x, y = int(rng.integers(-s // 2, w)), int(rng.integers(-s // 2, h))
        top, left, bottom, right = max(0, -y), max(0, -x), max(0, y + s - h), max(0, x + s - w)
        if max(top, bottom) >= h or max(left, right) >= w:
            continue  # numpy mirrors only once; keep to borders it can reproduce
        for mode in ("reflect", "edge", "constant"):
            ref = np.pad(img, ((top, bottom), (left, right), (0, 0)), mode=mode)
            ref = ref[y + top:y + top + s, x + left:x + left + s]
            assert np.array_equal(crop_square(img, [x, y, s, s], s, mode), ref), (x, y, s)
        checked += 1
    assert crop_square(img, [x, y, s, s], 64).shape == (64, 64, 3)


def test_every_box_gets_a_verdict():
    cfg = DetectConfig(min_size=64, min_score=1.0, margin=0.2)
    dets = [([100, 100, 120, 120], 5.0),  # a good face
            ([110, 105, 100, 100], 4.0),  # the same face, found again smaller
            ([400, 10, 40, 40], 6.0),  # too small
            ([300, 200, 90, 90], 0.2),  # a weak hit
            ([-60, 300, 90, 90], 5.0)]  # mostly off the photo
    out = {tuple(b["box"]): b for b in judge(dets, (400, 640, 3), cfg)}
    assert out[(100, 100, 120, 120)]["kept"] and out[(100, 100, 120, 120)]["padded"] == 0
    assert "overlaps a larger face" in out[(110, 105, 100, 100)]["reason"]
    assert out[(400, 10, 40, 40)]["reason"] == "too small: 40 px < 64 px"
    assert "low score" in out[(300, 200, 90, 90)]["reason"]
    assert "mostly outside" in out[(-60, 300, 90, 90)]["reason"]
    assert out[(100, 100, 120, 120)]["square"] == [76, 76, 168, 168]


def test_exif_orientation_is_honoured(tmp_path, haar):
    cfg, det = haar
    upright = synthetic.packaged_photo("astronaut")
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # as a sideways camera writes it
    assert not [b for b in find_faces(stored, cfg, det) if b["kept"]]  # Haar needs upright
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "sideways.jpg", exif=exif.tobytes(), quality=95)
    detect(tmp_path / "work", tmp_path, cfg, workers=1)
    rec = Manifest(tmp_path / "work").latest("detect")[str((tmp_path / "sideways.jpg"))]
    kept = [b for b in rec["boxes"] if b["kept"]]
    assert rec["size"] == [512, 512] and len(kept) == 1
    assert iou(kept[0]["box"], synthetic.PACKAGED_FACES["astronaut"]) > 0.5


def _photo_folder(folder):
    folder.mkdir()
    scenes = synthetic.face_scenes(3, seed=5)
    for i, (img, _) in enumerate(scenes):
        cv2.imwrite(str(folder / f"scene{i}.jpg"), img[..., ::-1])
    small, _ = synthetic.face_scenes(1, per_scene=4, face_px=(36, 44), seed=6)[0]
    cv2.imwrite(str(folder / "small_faces.png"), small[..., ::-1])
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("a text file with an image suffix")
    grey16 = (synthetic.packaged_photo("coffee")[..., 0].astype(np.uint16) * 257)
    Image.fromarray(grey16).save(folder / "coffee16.png")
    (folder / "readme.txt").write_text("not a photo: judged by decoding, like the rest")
    return scenes


def test_detect_step_records_everything_and_resumes(tmp_path):
    folder = tmp_path / "photos"
    scenes = _photo_folder(folder)
    work = tmp_path / "work"
    counts = detect(work, folder, DetectConfig(), workers=2)
    m = Manifest(work)
    latest = m.latest("detect")
    assert len(latest) == 8 and counts["ok"] == 3 and counts["rejected"] == 3
    assert counts["no_face"] == 2  # the greyscale 16-bit coffee, the scene of small faces
    reasons = {k.rsplit("/", 1)[-1]: r.get("reason") for k, r in latest.items()}
    assert "empty" in reasons["zero.jpg"] and "not an image" in reasons["notes.jpg"]
    assert "not an image" in reasons["readme.txt"]
    small = latest[str(folder / "small_faces.png")]["boxes"]
    assert small and all(b["reason"].startswith("too small") for b in small)
    # Kept crops are on disk, 64x64, their hashes recorded; boxes match the pasted faces.
    n_kept = 0
    for i, (_, truth) in enumerate(scenes):
        boxes = [b for b in latest[str(folder / f"scene{i}.jpg")]["boxes"] if b["kept"]]
        assert synthetic.match_boxes([b["box"] for b in boxes], truth)[0] >= 3
        for b in boxes:
            data = (work / b["crop"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == b["crop_sha256"]
            assert load_rgb(work / b["crop"]).shape == (64, 64, 3)
            n_kept += 1
    assert counts["faces_kept"] == n_kept
    # A re-run redoes nothing; a changed photo is looked at again.
    lines = m.path.read_text().count("\n")
    detect(work, folder, DetectConfig(), workers=2)
    assert m.path.read_text().count("\n") == lines
    (folder / "zero.jpg").write_bytes((folder / "scene0.jpg").read_bytes())
    counts = detect(work, folder, DetectConfig(), workers=2)
    assert m.path.read_text().count("\n") == lines + 1 and counts["ok"] == 4


def test_missing_detector_files_are_clear_errors(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="YuNet model file not found"):
        make_detector(DetectConfig(detector="yunet", yunet_model=str(tmp_path / "no.onnx")))
    with pytest.raises(FileNotFoundError, match="none given"):
        make_detector(DetectConfig(detector="yunet"))
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path) + "/")
    with pytest.raises(RuntimeError, match="opencv-python-headless<5"):
        haar_cascade_path()
    with pytest.raises(ValueError, match="size must be 64 or 128"):
        DetectConfig(size=32)
    # Scores differ in kind: Haar's stage weight (faces 2-8), YuNet's confidence in [0, 1].
    assert DetectConfig().score_floor == 1.0
    assert DetectConfig(detector="yunet").score_floor == 0.8
    assert DetectConfig(detector="yunet", min_score=0.5).score_floor == 0.5


def test_cli_errors_are_one_line(tmp_path, capsys):
    # Bad input on the command line: exit code 2, like a bad option.
    assert cli.main(["detect", "--work", str(tmp_path), "--images", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"data_prep detect: error: {tmp_path / 'no'}: no such folder of photos"
    assert cli.main(["detect", "--work", str(tmp_path), "--detector", "yunet"]) == 2
    assert "YuNet model file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["detect", "--size", "100"])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_detect_interrupted_by_ctrl_c_resumes_without_repeats(tmp_path, monkeypatch):
    from data_prep import detect as detect_mod

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (img, _) in enumerate(synthetic.face_scenes(8, seed=7)):
        cv2.imwrite(str(folder / f"s{i}.jpg"), img[..., ::-1])
    calls = []
    real_detect_file = detect_mod._detect_file
    monkeypatch.setattr(detect_mod, "_detect_file",
                        lambda *a: calls.append(a[0]) or real_detect_file(*a))
    real_append, appended = Manifest.append, []

    def append_then_ctrl_c(self, *a, **kw):
        rec = real_append(self, *a, **kw)
        appended.append(rec["key"])
        if len(appended) == 2:
            raise KeyboardInterrupt  # the user presses Ctrl-C after two photos
        return rec

    monkeypatch.setattr(Manifest, "append", append_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        detect(tmp_path / "work", folder, DetectConfig(), workers=2)
    first = set(Manifest(tmp_path / "work").latest("detect"))
    assert 2 <= len(first) < 8 and first == set(calls)  # everything started was recorded
    detect(tmp_path / "work", folder, DetectConfig(), workers=2)
    assert sorted(calls) == sorted(str(p) for p in folder.iterdir())  # each photo once
    assert len(Manifest(tmp_path / "work").latest("detect")) == 8


def test_every_file_is_recorded_and_symlinks_follow_one_rule(tmp_path):
    """Every file gets a record under its own path; links leading out are refused."""
    import json
    import os

    folder = tmp_path / "photos"
    folder.mkdir()
    img, _ = synthetic.face_scenes(1, seed=5)[0]
    cv2.imwrite(str(folder / "scene.jpg"), img[..., ::-1])
    # A photo without an extension is judged by its content, like every other file.
    (folder / "IMG_0001").write_bytes((folder / "scene.jpg").read_bytes())
    (folder / "readme.txt").write_text("notes about the photos")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # hidden: not an input
    os.symlink("scene.jpg", folder / "inside_link.jpg")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    os.symlink(secret, folder / "outside_link.jpg")
    os.symlink(folder / "deleted.jpg", folder / "broken_link.jpg")
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    cv2.imwrite(str(outside_dir / "other.jpg"), img[..., ::-1])
    os.symlink(outside_dir, folder / "linked_dir")
    os.mkfifo(folder / "pipe.jpg")  # reading it would block for ever

    work = tmp_path / "work"
    counts = detect(work, folder, DetectConfig(), workers=2)
    m = Manifest(work)
    latest = {k.rsplit("/", 1)[-1]: r for k, r in m.latest("detect").items()}
    assert set(m.latest("detect")) == {str(folder / n) for n in latest}
    assert set(latest) == {"scene.jpg", "IMG_0001", "readme.txt", "inside_link.jpg",
                           "outside_link.jpg", "broken_link.jpg", "linked_dir", "pipe.jpg"}
    status = {k: (r["status"], r.get("reason", "")) for k, r in latest.items()}
    assert status["scene.jpg"][0] == status["IMG_0001"][0] == "ok"
    assert status["inside_link.jpg"][0] == "ok"  # a link inside the folder is followed
    assert status["readme.txt"] == ("rejected", "not an image (no decoder recognises the "
                                                "content)")
    assert status["outside_link.jpg"][0] == "skipped" and "outside" in status[
        "outside_link.jpg"][1]
    assert status["broken_link.jpg"][0] == "skipped" and "broken" in status[
        "broken_link.jpg"][1]
    assert status["linked_dir"][0] == "skipped" and "folder" in status["linked_dir"][1]
    assert status["pipe.jpg"][0] == "skipped" and "not a regular file" in status[
        "pipe.jpg"][1]
    assert counts["skipped"] == 4 and counts["ok"] == 3 and counts["rejected"] == 1
    text = m.path.read_text()
    assert str(secret) not in text and str(outside_dir) not in text
    assert all(json.loads(line)["key"].startswith(str(folder)) for line in text.splitlines())
    # A re-run records nothing new: the skipped files keep their verdicts.
    lines = text.count("\n")
    detect(work, folder, DetectConfig(), workers=2)
    assert m.path.read_text().count("\n") == lines


def test_changed_settings_redo_the_photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (img, _) in enumerate(synthetic.face_scenes(2, seed=9)):
        cv2.imwrite(str(folder / f"s{i}.jpg"), img[..., ::-1])
    work = tmp_path / "work"
    detect(work, folder, DetectConfig(size=64), workers=1)
    m = Manifest(work)
    lines = m.path.read_text().count("\n")
    detect(work, folder, DetectConfig(size=128), workers=1)
    assert m.path.read_text().count("\n") == lines + 2  # both photos done again
    for rec in m.latest("detect").values():
        assert rec["settings"]["size"] == 128 and rec["crop_size"] == 128
        kept = [b for b in rec["boxes"] if b["kept"]]
        assert kept
        for b in kept:
            data = (work / b["crop"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == b["crop_sha256"]
            assert load_rgb(work / b["crop"]).shape == (128, 128, 3)
    detect(work, folder, DetectConfig(size=128), workers=1)  # same settings: nothing to do
    assert m.path.read_text().count("\n") == lines + 2


def test_a_photo_vanishing_mid_run_is_recorded_not_fatal(tmp_path, monkeypatch):
    from data_prep import detect as detect_mod

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (img, _) in enumerate(synthetic.face_scenes(3, seed=4)):
        cv2.imwrite(str(folder / f"s{i}.jpg"), img[..., ::-1])
    real_list, real_load = detect_mod.list_images, detect_mod.load_rgb

    def list_then_delete(*a, **kw):  # deleted after the folder was listed
        out = real_list(*a, **kw)
        (folder / "s0.jpg").unlink()
        return out

    def delete_then_load(path, *a, **kw):  # deleted just before its pixels are read
        if str(path).endswith("s1.jpg"):
            os.unlink(path)
        return real_load(path, *a, **kw)

    import os

    monkeypatch.setattr(detect_mod, "list_images", list_then_delete)
    monkeypatch.setattr(detect_mod, "load_rgb", delete_then_load)
    counts = detect(tmp_path / "work", folder, DetectConfig(), workers=1)
    latest = Manifest(tmp_path / "work").latest("detect")
    for name in ("s0.jpg", "s1.jpg"):
        rec = latest[str(folder / name)]
        assert rec["status"] == "failed" and rec["reason"].startswith("missing"), rec
    assert latest[str(folder / "s2.jpg")]["status"] == "ok"
    assert counts["ok"] == 1 and counts["failed"] == 2


def test_a_bug_is_recorded_with_its_traceback_and_fails_the_cli(tmp_path, monkeypatch,
                                                                 capsys):
    from data_prep import detect as detect_mod

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (img, _) in enumerate(synthetic.face_scenes(2, seed=4)):
        cv2.imwrite(str(folder / f"s{i}.jpg"), img[..., ::-1])

    def broken(*a, **kw):
        raise TypeError("a bug in the detector glue")

    monkeypatch.setattr(detect_mod, "find_faces", broken)
    work = tmp_path / "work"
    code = cli.main(["detect", "--work", str(work), "--images", str(folder), "--threads", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "nothing succeeded" in err and "Traceback" in err
    assert "TypeError: a bug in the detector glue" in err and "in broken" in err
    recs = Manifest(work).latest("detect").values()
    assert [r["status"] for r in recs] == ["error", "error"]
    assert all("TypeError: a bug" in r["traceback"] for r in recs)
    # Fixed, the same command redoes the photos the bug spoiled.
    monkeypatch.setattr(detect_mod, "find_faces", find_faces)
    assert cli.main(["detect", "--work", str(work), "--images", str(folder)]) == 0
    assert {r["status"] for r in Manifest(work).latest("detect").values()} == {"ok"}


def test_a_work_folder_inside_the_photo_folder_is_not_read_as_photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    img, _ = synthetic.face_scenes(1, seed=5)[0]
    cv2.imwrite(str(folder / "scene.jpg"), img[..., ::-1])
    for _ in range(2):  # the second run would find the first run's crops and manifest
        counts = detect(folder, folder, DetectConfig(), workers=1)
    assert list(Manifest(folder).latest("detect")) == ["scene.jpg"]
    assert counts["ok"] == 1 and counts["faces_kept"] >= 3


def test_a_photo_replaced_by_one_of_the_same_size_is_redone(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    img = synthetic.face_scenes(1, seed=9)[0][0]
    photo = folder / "s.bmp"  # uncompressed: a mirrored copy has exactly the same size
    cv2.imwrite(str(photo), img[..., ::-1])
    work = tmp_path / "work"
    detect(work, folder, DetectConfig(), workers=1)
    m = Manifest(work)
    before = m.latest("detect")[str(photo)]
    old_size, old_mtime = photo.stat().st_size, photo.stat().st_mtime_ns
    cv2.imwrite(str(photo), img[:, ::-1, ::-1])
    os.utime(photo, ns=(old_mtime + 10**9, old_mtime + 10**9))  # a later save
    assert photo.stat().st_size == old_size
    counts = detect(work, folder, DetectConfig(), workers=1)
    after = m.latest("detect")[str(photo)]
    assert counts["ok"] == 1 and after["time"] != before["time"]  # redone
    # The record now describes the new pixels: as a first run on the new photo finds them.
    fresh = tmp_path / "fresh"
    detect(fresh, folder, DetectConfig(), workers=1)
    ref = Manifest(fresh).latest("detect")[str(photo)]
    assert after["boxes"] == ref["boxes"] != before["boxes"]
    for b in after["boxes"]:
        if b["kept"]:
            assert (work / b["crop"]).read_bytes() == (fresh / b["crop"]).read_bytes()
