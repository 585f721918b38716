"""Attribute probes and the probe Frechet distance, checked on freshly drawn data.

The probes are trained once per session (32x32, the small profile's size) into the
session's cache (a fresh temporary folder unless DCGAN_CACHE is set, see conftest.py), as CI
does from a cold cache; every test, and the notebooks run in the same session, reuse them.
"""

import time

import numpy as np
import pytest

from dcgan_tf import probes, procedural

SIZE = 32
FRESH_SEED = 54_321  # neither the probes' training/validation seeds nor the GAN's


@pytest.fixture(scope="session")
def trained():
    probes._LOADED.clear()
    seconds, result = {}, {}
    for name in procedural.NAMES:
        start = time.perf_counter()
        result[name] = probes.get_probes(name, SIZE, verbose=0)
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
    assert np.isclose(probes.frechet_from_stats(m1, np.diag(a), m2, np.diag(b)), expected)
    # general covariances, against the symmetric form Tr(A + B - 2 (A^1/2 B A^1/2)^1/2)
    x, y = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    A, B = x @ x.T + 0.1 * np.eye(6), y @ y.T + 0.1 * np.eye(6)
    ra = _sqrtm_psd(A)
    expected = np.sum((m1[:1] - m2[:1]) ** 2) + np.trace(A + B - 2 * _sqrtm_psd(ra @ B @ ra))
    got = probes.frechet_from_stats(np.r_[m1[:1], np.zeros(5)], A, np.r_[m2[:1], np.zeros(5)], B)
    assert np.isclose(got, expected, rtol=1e-6)
    assert probes.frechet_from_stats(m1, A[:5, :5], m1, A[:5, :5]) < 1e-6
    # from samples: the Gaussian fit converges to the closed form
    n = 200_000
    s1 = rng.normal(size=(n, 2)) * [1.0, 2.0]
    s2 = rng.normal(size=(n, 2)) * [3.0, 0.5] + [1.0, 0.0]
    expected = 1.0 + (1 - 3) ** 2 + (2 - 0.5) ** 2
    assert abs(probes.frechet_distance(s1, s2) - expected) < 0.05
    with pytest.raises(ValueError, match="two"):
        probes.frechet_distance(s1[:1], s2[:1])


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
