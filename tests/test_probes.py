"""Attribute probes and the probe Frechet distance, checked on freshly drawn data.

The probes are trained once per session (32x32, the small profile's size) into the
session's cache (a fresh temporary folder unless DCGAN_CACHE is set, see conftest.py), as CI
does from a cold cache; every test, and the notebooks run in the same session, reuse them.
"""

import time
from pathlib import Path

import numpy as np
import pytest

from dcgan_tf.health import metrics
from dcgan_tf.groundtruth import probes, procedural

SIZE = 32
FRESH_SEED = 54_321  # neither the probes' training/validation seeds nor the GAN's


@pytest.fixture(scope="session")
def trained():
    probes._LOADED.clear()
    seconds, result = {}, {}
    for name in procedural.NAMES:
        start = time.perf_counter()
        result[name] = probes.get_probes(name, SIZE, progress=False)
        seconds[name] = round(time.perf_counter() - start, 1)
    print(f"\nprobes ready (trained unless cached) in {seconds} s")
    return result


@pytest.mark.parametrize("name", procedural.NAMES)
def test_probes_read_the_factors_of_fresh_data(trained, name):
    images, labels = procedural.make(name, 1000, seed=FRESH_SEED, size=SIZE)
    scores = trained[name].evaluate(images, labels)
    print(f"\n{name} held-out scores (accuracy; MAE for regressions): {scores}")
    for head in probes.binary_heads(name):
        assert scores[head] >= 0.98, (head, scores[head])
    for head, (kind, _) in probes.HEADS[name].items():
        truth = np.asarray(labels[head], float)
        if kind == "regression":  # far better than always guessing the mean
            baseline = np.mean(np.abs(truth - truth.mean()))
            assert scores[head] < 0.5 * baseline, (head, scores[head], baseline)
        elif isinstance(kind, int):  # far better than always guessing the commonest class
            baseline = np.bincount(truth.astype(int)).max() / len(truth)
            assert scores[head] > baseline + 0.3, (head, scores[head], baseline)


def test_attribute_rates_follow_the_drawn_factors(trained):
    p = trained["faces"]
    with_glasses, _ = procedural.make_faces(200, seed=FRESH_SEED, size=SIZE,
                                            factors={"glasses": 1, "smiling": 0})
    without, _ = procedural.make_faces(200, seed=FRESH_SEED, size=SIZE,
                                       factors={"glasses": 0, "smiling": 1})
    on, off = p.attribute_rates(with_glasses), p.attribute_rates(without)
    assert on["glasses"] > 0.95 and off["glasses"] < 0.05
    assert on["smiling"] < 0.05 and off["smiling"] > 0.95
    assert abs(on["beard"] - off["beard"]) < 0.05  # same faces, beards untouched
    rooms, _ = procedural.make_rooms(200, seed=FRESH_SEED, size=SIZE, factors={"window": 0})
    assert trained["rooms"].attribute_rates(rooms)["window"] < 0.05


def test_input_conventions(trained):
    p = trained["faces"]
    images, _ = procedural.make_faces(16, seed=FRESH_SEED, size=SIZE)
    as_uint8 = p.predict(images)
    as_float = p.predict(images.astype(np.float32) / 127.5 - 1)
    for head in as_uint8:
        np.testing.assert_allclose(as_uint8[head], as_float[head], atol=1e-5)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        p.predict(images.astype(np.float32))  # [0, 255] floats are a mistake, not input
    with pytest.raises(ValueError, match="shaped"):
        p.predict(images[..., :2])
    # a 64x64 generator can be scored by the 32x32 probe: images are area-resized
    big, labels = procedural.make_faces(200, seed=FRESH_SEED, size=64)
    scores = p.evaluate(big, labels)
    assert min(scores[h] for h in probes.binary_heads("faces")) > 0.95
    assert p.features(images).shape == (16, probes.FEATURES)


def test_cache_is_reused_without_training(trained, monkeypatch):
    images, _ = procedural.make_rooms(8, seed=FRESH_SEED, size=SIZE)
    before = trained["rooms"].predict(images)
    probes._LOADED.clear()

    def no_training(*args, **kwargs):
        raise AssertionError("get_probes trained again although the cache exists")

    monkeypatch.setattr(probes, "train_probes", no_training)
    loaded = probes.get_probes("rooms", SIZE)
    assert loaded is not trained["rooms"]
    assert loaded.scores == trained["rooms"].scores
    after = loaded.predict(images)
    for head in before:
        np.testing.assert_allclose(before[head], after[head], atol=1e-6)
    assert probes.get_probes("rooms", SIZE) is loaded  # and kept in memory


def test_broken_cache_is_replaced_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    monkeypatch.setattr(probes, "_LOADED", {})
    path = probes.probe_path("faces", SIZE)
    path.write_bytes(b"half a file")
    calls = []

    def quick(name, size, **kwargs):  # an untrained model stands in for a real training
        calls.append(name)
        return probes.Probes(name, size, probes.build_model(name, size), {"note": 1.0})

    monkeypatch.setattr(probes, "train_probes", quick)
    with pytest.warns(UserWarning, match="unreadable probe cache"):
        fresh = probes.get_probes("faces", SIZE)
    assert calls == ["faces"] and fresh.scores == {"note": 1.0}
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, path.with_suffix(".json").name])  # no temporary files left behind
    monkeypatch.setattr(probes, "_LOADED", {})
    assert probes.get_probes("faces", SIZE).scores == {"note": 1.0}  # a valid .keras now


def _sqrtm_psd(a):
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def test_frechet_matches_closed_forms():
    rng = np.random.default_rng(0)
    # diagonal covariances: |m1 - m2|^2 + sum (sqrt(a) - sqrt(b))^2
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert np.isclose(metrics.frechet_from_stats(m1, np.diag(a), m2, np.diag(b)), expected)
    # general covariances, against the symmetric form Tr(A + B - 2 (A^1/2 B A^1/2)^1/2)
    x, y = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    A, B = x @ x.T + 0.1 * np.eye(6), y @ y.T + 0.1 * np.eye(6)
    ra = _sqrtm_psd(A)
    expected = np.sum((m1[:1] - m2[:1]) ** 2) + np.trace(A + B - 2 * _sqrtm_psd(ra @ B @ ra))
    got = metrics.frechet_from_stats(np.r_[m1[:1], np.zeros(5)], A, np.r_[m2[:1], np.zeros(5)], B)
    assert np.isclose(got, expected, rtol=1e-6)
    assert metrics.frechet_from_stats(m1, A[:5, :5], m1, A[:5, :5]) < 1e-6
    # from samples: the Gaussian fit converges to the closed form
    n = 200_000
    s1 = rng.normal(size=(n, 2)) * [1.0, 2.0]
    s2 = rng.normal(size=(n, 2)) * [3.0, 0.5] + [1.0, 0.0]
    expected = 1.0 + (1 - 3) ** 2 + (2 - 0.5) ** 2
    assert abs(metrics.frechet_distance(s1, s2) - expected) < 0.05
    with pytest.raises(ValueError, match="two"):
        metrics.frechet_distance(s1[:1], s2[:1])


def test_frechet_retries_a_singular_product_with_eps():
    """A feature that never fires (zero variance in both sets) makes the covariance product
    singular: the first square root is refused and eps on both diagonals gives the answer."""
    from scipy import linalg

    a, b = np.array([2.0, 0.5, 0.0]), np.array([0.5, 3.0, 0.0])
    m1, m2 = np.array([1.0, 0.0, 0.0]), np.zeros(3)
    with pytest.warns(linalg.LinAlgWarning):  # the path under test: the retry is needed
        linalg.sqrtm(np.diag(a) @ np.diag(b))
    exact = 1.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert metrics.frechet_from_stats(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(
        exact, abs=1e-5)
    # with a large eps the offset shows: Tr(A) + Tr(B) - 2 Tr((A + eps)^1/2 (B + eps)^1/2)
    eps = 0.5
    offset = 1.0 + a.sum() + b.sum() - 2 * np.sum(np.sqrt((a + eps) * (b + eps)))
    got = metrics.frechet_from_stats(m1, np.diag(a), m2, np.diag(b), eps=eps)
    assert got == pytest.approx(max(offset, 0.0), rel=1e-9)
    with pytest.raises(ValueError, match="no usable real square root"):
        metrics.frechet_from_stats(m1, np.diag([np.nan, 1, 1]), m2, np.diag(b))


def test_probe_fd_small_for_two_draws_large_for_noise(trained):
    p = trained["faces"]
    a, _ = procedural.make_faces(1500, seed=FRESH_SEED, size=SIZE)
    b, _ = procedural.make_faces(1500, seed=FRESH_SEED + 1, size=SIZE)
    noise = np.random.default_rng(0).integers(0, 256, a.shape, dtype=np.uint8)
    shifted, _ = procedural.make_faces(1500, seed=FRESH_SEED + 2, size=SIZE,
                                       factors={"glasses": 1})
    real_real = probes.probe_fd(p, a, b)
    real_shifted = probes.probe_fd(p, a, shifted)
    real_noise = probes.probe_fd(p, a, noise)
    print(f"\nprobe FD: real-real {real_real:.3f}, real-glasses-only {real_shifted:.3f}, "
          f"real-noise {real_noise:.3f}")
    assert real_real < 0.02 * real_noise
    assert real_shifted > 3 * real_real  # one factor out of balance is already visible


def test_cache_writes_go_through_unique_temporary_files(tmp_path, monkeypatch):
    """Two writers of the same cache file (two threads, or two processes with the same pid
    in containers) must each write their own temporary file (dcgan_tf.fileio)."""
    import keras

    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    monkeypatch.setattr(probes, "train_probes", lambda name, size, **kwargs: probes.Probes(
        name, size, probes.build_model(name, size), {"note": 1.0}))
    saved, real_save = [], keras.Model.save

    def save(model, filepath, *args, **kwargs):
        saved.append(Path(filepath))
        return real_save(model, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save)
    path = probes.probe_path("faces", SIZE)
    for _ in range(2):
        monkeypatch.setattr(probes, "_LOADED", {})
        path.unlink(missing_ok=True)
        probes.get_probes("faces", SIZE)
    assert len(saved) == 2 and saved[0] != saved[1], saved
    assert all(p.parent == path.parent and p.name.startswith(".") and p.suffix == ".keras"
               for p in saved), saved
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, path.with_suffix(".json").name])


# --------------------------------------------------------------------------- label probes


def _squares(n, seed):
    """Noise images where label "Square" means a bright square in the top-left corner."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 120, (n, 32, 32, 3), dtype=np.uint8)
    square = rng.random(n) < 0.5
    images[square, 2:12, 2:12] = 230
    return images, {"Square": square}


def _weights(probe):
    return probe.model.get_weights()


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _differ(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(a, b))


def test_label_probe_learns_a_labelled_array_source(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    probe = probes.train_label_probe(_squares(512, 0), names=("Square",), resolution=32,
                                     epochs=4, batch_size=32, progress=False)
    images, labels = _squares(200, 1)
    p = probe.predict(images)["Square"]
    assert p.shape == (200,) and ((p > 0.5) == labels["Square"]).mean() > 0.9
    assert probe.features(images).shape == (200, 128)
    assert not list(tmp_path.glob("*label_probe*"))  # arrays have no name to cache under


def test_label_probe_does_not_depend_on_earlier_seeding():
    """The shuffle of its pipeline combines with TF's global seed: seeded before it is built,
    the probe is the same whatever the process seeded before."""
    import keras

    source = _squares(128, 2)

    def after(earlier_seed):
        keras.utils.set_random_seed(earlier_seed)
        return _weights(probes.train_label_probe(source, names=("Square",), resolution=32,
                                                 epochs=1, batch_size=32, progress=False))

    _assert_same(after(1), after(2))


def test_label_probe_cache_is_keyed_by_every_training_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    kw = dict(names=("smiling",), resolution=32, batch_size=64, progress=False)
    one = probes.train_label_probe("faces:256", epochs=1, **kw)
    two = probes.train_label_probe("faces:256", epochs=2, **kw)
    fresh_two = probes.train_label_probe("faces:256", epochs=2, cache=False, **kw)
    assert _differ(_weights(one), _weights(two))
    _assert_same(_weights(two), _weights(fresh_two))  # trained, not read from one's file
    assert len(list(tmp_path.glob("label_probe_*.keras"))) == 2
    _assert_same(_weights(probes.train_label_probe("faces:256", epochs=2, **kw)),
                 _weights(two))  # and now from the cache
    base = dict(source="faces:256", names=("smiling",), resolution=32, epochs=2,
                batch_size=64, seed=0)
    changes = [{"source": "faces:512"}, {"names": ("smiling", "yaw")}, {"resolution": 64},
               {"epochs": 3}, {"batch_size": 32}, {"seed": 1}]
    paths = {probes.label_probe_path(**{**base, **c}) for c in changes}
    assert len(paths | {probes.label_probe_path(**base)}) == len(changes) + 1


def test_label_probe_reads_images_like_the_procedural_probes():
    """uint8 [0, 255] and float [-1, 1] images are the same picture; other sizes are resized;
    an empty batch or [0, 255] floats are refused (to_model_input, as in Probes)."""
    probe = probes.LabelProbe(probes._label_model(("Square",), 32), ("Square",))
    images, _ = _squares(6, 3)
    as_uint8, feats = probe.predict(images)["Square"], probe.features(images)
    np.testing.assert_allclose(probe.predict(images / 127.5 - 1)["Square"], as_uint8, atol=1e-5)
    np.testing.assert_allclose(probe.features(images.astype(np.float32) / 127.5 - 1), feats,
                               atol=1e-5)
    big = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)  # 64x64, area-resizes back
    np.testing.assert_allclose(probe.features(big), feats, atol=1e-4)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        probe.predict(images.astype(np.float32))
    with pytest.raises(ValueError, match="no images"):
        probe.predict(images[:0])


def test_label_probe_path_keys_the_procedural_version_and_parses_unambiguously(monkeypatch):
    base = dict(resolution=32, epochs=1, batch_size=64, seed=0)
    faces = probes.label_probe_path("faces:256", ("smiling",), **base)
    celeb = probes.label_probe_path("tfds:celeb_a", ("Smiling",), **base)
    monkeypatch.setattr(probes.procedural, "VERSION", probes.procedural.VERSION + 1)
    assert probes.label_probe_path("faces:256", ("smiling",), **base) != faces  # redrawn
    assert probes.label_probe_path("tfds:celeb_a", ("Smiling",), **base) == celeb
    assert probes.label_probe_path("faces:256", ("a_b",), **base) != probes.label_probe_path(
        "faces:256", ("a", "b"), **base)


def test_label_probe_save_is_atomic(tmp_path, monkeypatch):
    """A save that dies half-way leaves no cache file that a later call would load."""
    import keras

    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    real_save = keras.Model.save

    def dies_half_way(model, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", dies_half_way)
    kw = dict(names=("smiling",), resolution=32, epochs=1, batch_size=64, progress=False)
    with pytest.raises(OSError, match="disk full"):
        probes.train_label_probe("faces:256", **kw)
    assert not list(tmp_path.glob("*label_probe*"))
    monkeypatch.setattr(keras.Model, "save", real_save)
    probe = probes.train_label_probe("faces:256", **kw)  # trains again, no damaged file
    assert [p.name for p in tmp_path.glob("*label_probe*")] == [
        probes.label_probe_path("faces:256", ("smiling",), 32, 1, 64, 0).name]
    assert probe.predict(np.zeros((2, 32, 32, 3), np.uint8))["smiling"].shape == (2,)


def test_label_probe_on_mocked_celeb_a(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    names = ("Smiling", "Eyeglasses", "Male", "yaw")
    kw = dict(names=names, resolution=32, epochs=1, batch_size=16)
    with tfds.testing.mock_data(num_examples=64, policy=tfds.testing.MockPolicy.USE_CODE):
        probe = probes.train_label_probe(progress=False, **kw)
    assert list(tmp_path.glob("label_probe_tfds-celeb_a_32px_*.keras"))
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    pred = probe.predict(images)
    assert set(pred) == set(names) and all(v.shape == (5,) for v in pred.values())
    assert all(((pred[n] >= 0) & (pred[n] <= 1)).all() for n in names[:3])  # sigmoid heads
    again = probes.train_label_probe(**kw)  # from the cache, no data
    np.testing.assert_allclose(again.predict(images)["Male"], pred["Male"], rtol=1e-5)
