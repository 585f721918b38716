"""Procedural faces and rooms: shapes, determinism, factor independence, masks, the cache."""

import hashlib
import threading

import numpy as np
import pytest
from scipy import ndimage

from dcgan_tf.groundtruth import procedural


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))


# The drawing of 8 faces and 8 rooms (seed 0, 32 px), pinned bit for bit; see the test.
PINNED = {
    "version": 2,
    "faces": "c4ddaf24526f29bdfe240c2ff4fa1acb978022c6f17f95bec2195a6ced78289f",
    "rooms": "a3bb898fc3feac942d2a0d43891db6e0f5f41b827b8c812a063458d3651e989e",
}


@pytest.fixture
def small_chunks(monkeypatch):
    # Several chunks from a few images, so chunking and workers are exercised cheaply.
    monkeypatch.setattr(procedural, "CHUNK", 16)


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("name", ["faces", "rooms"])
def test_shapes_and_dtypes(name, size):
    images, labels = procedural.make(name, 5, seed=3, size=size)
    assert images.shape == (5, size, size, 3) and images.dtype == np.uint8
    for key, value in labels.items():
        assert len(value) == 5, key
    if name == "rooms":
        for obj in procedural.ROOM_OBJECTS:
            mask = labels[f"{obj}_mask"]
            assert mask.shape == (5, size, size) and mask.dtype == bool
    else:
        for key in ("yaw", "smile", "smiling", "glasses", "beard", "hair_style",
                    "hair_color", "skin_tone", "background", "dx", "dy", "scale", "roll"):
            assert key in labels


def test_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        procedural.make_faces(2, size=48)
    with pytest.raises(ValueError, match="unknown procedural"):
        procedural.load("cats", 2)
    with pytest.raises(ValueError, match="unknown faces factor"):
        procedural.make_faces(2, factors={"moustache": 1})
    with pytest.raises(ValueError, match="3 values for 2"):
        procedural.make_faces(2, factors={"yaw": [0, 0, 0]})


@pytest.mark.parametrize("name", ["faces", "rooms"])
def test_deterministic_per_seed_and_prefix_stable(name, small_chunks):
    a, la = procedural.make(name, 40, seed=5, size=32)
    b, lb = procedural.make(name, 40, seed=5, size=32)
    c, _ = procedural.make(name, 40, seed=6, size=32)
    assert np.array_equal(a, b)
    assert all(np.array_equal(la[k], lb[k]) for k in la)
    assert not np.array_equal(a, c)
    # the first k images of a larger draw are the draw of k images
    d, _ = procedural.make(name, 21, seed=5, size=32)
    assert np.array_equal(a[:21], d)


@pytest.mark.parametrize("name", ["faces", "rooms"])
def test_worker_count_does_not_change_the_data(name, small_chunks):
    one, l1 = procedural.make(name, 50, seed=2, size=32, workers=1)
    two, l2 = procedural.make(name, 50, seed=2, size=32, workers=2)
    assert np.array_equal(one, two)
    assert all(np.array_equal(l1[k], l2[k]) for k in l1)


def test_factors_independent_and_balanced():
    f = procedural.sample_factors("faces", 20_000, seed=0)
    for key in procedural.FACE_BINARY:
        assert abs(f[key].mean() - 0.5) < 0.02, key
    keys = ["yaw", "smiling", "glasses", "beard", "hair_style", "hair_color", "skin_tone",
            "background", "dx", "dy", "scale", "roll"]
    corr = np.corrcoef(np.stack([f[k].astype(float) for k in keys]))
    off_diag = np.abs(corr - np.eye(len(keys)))
    assert off_diag.max() < 0.04, keys[np.unravel_index(off_diag.argmax(), corr.shape)[0]]
    assert np.array_equal(f["smiling"], (f["smile"] > 0.25).astype(int))
    r = procedural.sample_factors("rooms", 20_000, seed=0)
    for key in procedural.ROOM_BINARY:
        assert abs(r[key].mean() - 0.5) < 0.02, key
    keys = ["window_count", "door", "lamp", "picture", "cam_x", "wall_color", "bed_x"]
    corr = np.corrcoef(np.stack([r[k].astype(float) for k in keys]))
    assert np.abs(corr - np.eye(len(keys))).max() < 0.04


def _changed_region(a, b):
    diff = np.abs(a.astype(int) - b.astype(int)).max(-1) > 8
    ys, xs = np.nonzero(diff)
    return diff, ys, xs


def test_one_factor_changes_only_its_part_of_the_face():
    # glasses on/off: only the band around the eyes changes, and it moves with the yaw
    still = {"roll": 0.0, "dx": 0.0, "dy": 0.0, "scale": 1.0}
    for yaw, side in ((-0.9, -1), (0.9, 1)):
        fixed = dict(still, yaw=yaw)
        off, _ = procedural.make_faces(6, seed=4, factors=dict(fixed, glasses=0))
        on, _ = procedural.make_faces(6, seed=4, factors=dict(fixed, glasses=1))
        for a, b in zip(off, on):
            diff, ys, xs = _changed_region(a, b)
            assert diff.sum() > 20
            assert 0.25 * 64 < ys.min() and ys.max() < 0.62 * 64
            # yaw > 0 turns the face (and the glasses) towards the picture's right
            assert np.sign(xs.mean() - 31.5) == side
    # smiling or not: only the lower face changes
    neutral, ln = procedural.make_faces(6, seed=4, factors=dict(still, smiling=0))
    smiling, ls = procedural.make_faces(6, seed=4, factors=dict(still, smiling=1))
    assert (ln["smile"] <= 0.05).all() and (ls["smile"] >= 0.45).all()
    assert np.array_equal(ln["glasses"], ls["glasses"])
    for a, b in zip(neutral, smiling):
        diff, ys, _ = _changed_region(a, b)
        assert diff.sum() > 10 and ys.min() > 0.47 * 64  # below the eyes: mouth, cheeks


def test_yaw_turns_left_and_right_mirror_images():
    still = {"roll": 0.0, "dx": 0.0, "light": 0.0, "hair_part": 0.0, "hair_style": 2,
             "beard": 0, "glasses": 0}  # no textures: they are not mirror-symmetric
    left, _ = procedural.make_faces(8, seed=9, factors=dict(still, yaw=-0.8))
    right, _ = procedural.make_faces(8, seed=9, factors=dict(still, yaw=0.8))
    mirrored = right[:, :, ::-1].astype(float)
    to_mirror = np.abs(left - mirrored).mean()
    to_other = np.abs(left.astype(float) - right).mean()
    assert to_mirror < 0.15 * to_other  # left and right turns are mirror images


def test_faces_are_shaded_not_flat():
    images, _ = procedural.make_faces(4, seed=1)
    for img in images:
        colours = len(np.unique(img.reshape(-1, 3), axis=0))
        assert colours > 600  # gradients, soft shadows and anti-aliased edges


def test_room_labels_match_masks():
    images, labels = procedural.make_rooms(300, seed=11, size=64)
    masks = [labels[f"{k}_mask"] for k in procedural.ROOM_OBJECTS]
    assert (np.sum(masks, axis=0) <= 1).all()  # one owner per pixel
    assert labels["bed_mask"].any((1, 2)).all() and (labels["bed"] == 1).all()
    for obj in ("window", "door", "lamp", "picture"):
        present = labels[f"{obj}_mask"].any((1, 2))
        assert np.array_equal(present, labels[obj] == 1), obj
        assert abs(labels[obj].mean() - 0.5) < 0.1, obj
    assert np.allclose(labels["window_area"], labels["window_mask"].mean((1, 2)))
    assert np.array_equal(labels["window"], (labels["window_count"] > 0).astype(int))
    # each window is one connected blob of frame and glass
    blobs = [ndimage.label(m, np.ones((3, 3)))[1] for m in labels["window_mask"]]
    assert np.array_equal(blobs, labels["window_count"])


def test_masks_survive_downsampling_to_32():
    _, labels = procedural.make_rooms(200, seed=12, size=32)
    for obj in ("window", "door", "lamp", "picture"):
        assert np.array_equal(labels[f"{obj}_mask"].any((1, 2)), labels[obj] == 1), obj


def test_removing_windows_changes_only_window_pixels():
    keep = {"curtains": 0, "sky": 2}  # a night sky: no daylight on the floor either
    with_w, lw = procedural.make_rooms(40, seed=13, factors=dict(keep, window_count=2))
    without, lo = procedural.make_rooms(40, seed=13, factors=dict(keep, window=0))
    assert (lo["window_count"] == 0).all() and not lo["window_mask"].any()
    for key in ("door", "lamp", "picture", "room_w", "bed_x"):
        assert np.array_equal(lw[key], lo[key])
    for a, b, m in zip(with_w, without, lw["window_mask"]):
        diff = np.abs(a.astype(int) - b.astype(int)).max(-1) > 0
        # anti-aliased rims (the window's, and those of whatever stands in front of it)
        near = ndimage.binary_dilation(m, np.ones((5, 5)))
        assert m.any() and diff.any() and not (diff & ~near).any()


def test_load_caches_and_reuses(monkeypatch):
    images, labels = procedural.load("rooms", 20, seed=1, size=32)
    path = procedural.cache_path("rooms", 20, seed=1, size=32)
    assert path.exists()
    assert list(path.parent.glob("*.tmp*")) == []

    def no_drawing(*args, **kwargs):
        raise AssertionError("load() drew again although the cache exists")

    monkeypatch.setattr(procedural, "make", no_drawing)
    again, labels2 = procedural.load("rooms", 20, seed=1, size=32)
    assert np.array_equal(images, again)
    assert set(labels) == set(labels2)
    for key in labels:
        assert labels[key].dtype == labels2[key].dtype, key
        assert np.array_equal(labels[key], labels2[key]), key


def test_load_recovers_from_a_broken_cache_and_never_leaves_one(monkeypatch):
    path = procedural.cache_path("faces", 6, seed=2, size=32)
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable cache"):
        images, _ = procedural.load("faces", 6, seed=2, size=32)
    assert np.array_equal(images, procedural.make_faces(6, seed=2, size=32)[0])

    def crash(file, **arrays):  # the process dies half-way through writing
        file.write(b"PK partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        procedural.load("faces", 7, seed=2, size=32)
    assert not procedural.cache_path("faces", 7, seed=2, size=32).exists()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file


@pytest.mark.parametrize("name", ["faces", "rooms"])
def test_drawing_is_pinned(name):
    """The images (and room masks) are exactly those this kit has always drawn.

    Caches and trained probes are keyed by procedural.VERSION, so a drawing that changes
    silently would mix old and new pictures. Update a hash here only when a drawing change is
    intended, and then bump procedural.VERSION (and PINNED["version"]) with it. A new
    OpenCV may anti-alias differently: that too is a drawing change.
    """
    images, labels = procedural.make(name, 8, seed=0, size=32, workers=1)
    digest = hashlib.sha256(images.tobytes())
    if name == "rooms":
        for obj in procedural.ROOM_OBJECTS:
            digest.update(labels[f"{obj}_mask"].tobytes())
    assert procedural.VERSION == PINNED["version"], "bump PINNED with the drawing hashes"
    assert digest.hexdigest() == PINNED[name], f"the {name} drawing changed"


def test_load_by_two_writers_at_once(monkeypatch):
    # Two threads save the same cache file at the same moment: each must write its own
    # temporary file (a shared pid-named one is moved away under the other writer's feet).
    both_written = threading.Barrier(2, timeout=60)  # the timeout only guards a deadlock
    savez = np.savez

    def savez_then_wait(file, **arrays):
        savez(file, **arrays)
        both_written.wait()

    monkeypatch.setattr(np, "savez", savez_then_wait)
    results, errors = [], []

    def load():
        try:
            results.append(procedural.load("faces", 6, seed=3, size=32, workers=1))
        except Exception as err:  # reported below, with the other thread's outcome
            errors.append(err)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    path = procedural.cache_path("faces", 6, seed=3, size=32)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    monkeypatch.setattr(np, "savez", savez)
    again, _ = procedural.load("faces", 6, seed=3, size=32)
    assert np.array_equal(again, results[0][0]) and np.array_equal(again, results[1][0])
