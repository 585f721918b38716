"""dcgan_tf.latent: interpolation against closed forms, arithmetic against plain algebra, and
the measurements on an analytic generator whose "probes" read the factors back exactly."""

import numpy as np
import pytest

from dcgan_tf import latent

D = 48  # the analytic generator shows z as a 4x4x3 image


class LinearFaces:
    """G(z) = z / 2 laid out as a 4x4x3 image: a linear generator whose images keep z.

    Its probe decodes z from the pixels (exact up to uint8 rounding, 1/64 in z units) and
    reads factors as known functions of z: smiling from z[0], beard from z[1], glasses from
    z[2], yaw = w . z for a fixed unit vector w.
    """

    def __init__(self, seed=0):
        w = np.random.default_rng(seed).standard_normal(D)
        self.w = w / np.linalg.norm(w)

    def __call__(self, z):
        z = np.asarray(z, np.float32)
        return np.clip(z / 2, -1, 1).reshape(len(z), 4, 4, 3)

    @staticmethod
    def decode(images):
        x = np.asarray(images, np.float64).reshape(len(images), -1)
        return (x / 127.5 - 1.0) * 2

    def predict(self, images):
        z = self.decode(images)
        sig = lambda x: 1 / (1 + np.exp(-5 * x))  # noqa: E731
        return {"smiling": sig(z[:, 0]), "beard": sig(z[:, 1]), "glasses": sig(z[:, 2]),
                "yaw": z @ self.w}


@pytest.fixture
def faces():
    return LinearFaces()


# --------------------------------------------------------------------------- interpolation


def test_lerp_is_the_straight_line():
    rng = np.random.default_rng(0)
    z0, z1 = rng.uniform(-1, 1, (2, 100))
    t = np.array([0.0, 0.3, 1.0, 1.5])
    path = latent.lerp(z0, z1, t)
    np.testing.assert_allclose(path, z0 + t[:, None] * (z1 - z0), atol=1e-6)
    # equal steps in t give equal steps in z
    steps = np.diff(latent.interpolate(z0, z1, 7, "linear"), axis=0)
    np.testing.assert_allclose(steps, np.broadcast_to((z1 - z0) / 6, steps.shape), atol=1e-6)


def test_slerp_matches_the_circle_in_2d():
    a, b, r = 0.4, 2.1, 3.0
    t = np.linspace(0, 1, 11)
    path = latent.slerp(r * np.array([np.cos(a), np.sin(a)]),
                        r * np.array([np.cos(b), np.sin(b)]), t)
    expected = r * np.stack([np.cos(a + t * (b - a)), np.sin(a + t * (b - a))], axis=1)
    np.testing.assert_allclose(path, expected, atol=1e-9)


def test_slerp_ends_unit_angular_speed_and_linear_norm_in_100d():
    rng = np.random.default_rng(1)
    z0, z1 = rng.uniform(-1, 1, 100), 2.0 * rng.uniform(-1, 1, 100)
    t = np.linspace(0, 1, 9)
    path = latent.slerp(z0, z1, t)
    np.testing.assert_allclose(path[0], z0, atol=1e-9)
    np.testing.assert_allclose(path[-1], z1, atol=1e-9)
    norms = np.linalg.norm(path, axis=1)
    r0, r1 = np.linalg.norm(z0), np.linalg.norm(z1)
    np.testing.assert_allclose(norms, (1 - t) * r0 + t * r1, rtol=1e-9)
    unit = path / norms[:, None]
    omega = np.arccos(z0 @ z1 / (r0 * r1))
    angle_from_start = np.arccos(np.clip(unit @ (z0 / r0), -1, 1))
    np.testing.assert_allclose(angle_from_start, t * omega, atol=1e-6)
    # the path stays in the plane of z0 and z1
    basis, _ = np.linalg.qr(np.stack([z0, z1], axis=1))
    np.testing.assert_allclose(basis @ (basis.T @ path.T), path.T, atol=1e-9)


def test_slerp_parallel_antipodal_and_zero_vectors():
    rng = np.random.default_rng(2)
    z0 = rng.uniform(-1, 1, 100)
    t = np.linspace(0, 1, 5)
    near = latent.slerp(z0, z0 * (1 + 1e-12), t)
    assert np.isfinite(near).all()
    np.testing.assert_allclose(near, latent.lerp(z0, z0, t), atol=1e-6)
    opposite = latent.slerp(z0, -z0, t)
    assert np.isfinite(opposite).all()
    np.testing.assert_allclose(np.linalg.norm(opposite, axis=1), np.linalg.norm(z0), rtol=1e-9)
    np.testing.assert_allclose(opposite[-1], -z0, atol=1e-9)
    assert abs(opposite[2] @ z0) < 1e-9  # halfway round: orthogonal to the start
    assert np.isfinite(latent.slerp(np.zeros(100), z0, t)).all()


def test_typical_norm_and_the_shrinking_linear_midpoint():
    for prior in ("uniform", "normal"):
        z = latent.sample_prior(4000, 100, prior, seed=3)
        mean, std = latent.typical_norm(100, prior)
        norms = np.linalg.norm(z, axis=1)
        assert abs(norms.mean() - mean) < 0.02 * mean
        assert abs(norms.std() - std) < 0.1 * std
        a, b = z[:2000], z[2000:]
        linear_mid = np.linalg.norm((a + b) / 2, axis=1)
        slerp_mid = np.array([np.linalg.norm(latent.slerp(x, y, 0.5)[0]) for x, y in
                              zip(a[:200], b[:200])])
        assert abs(linear_mid.mean() / mean - 1 / np.sqrt(2)) < 0.02  # inside the shell
        assert abs(slerp_mid.mean() - mean) < 3 * std  # on it
    with pytest.raises(ValueError, match="prior"):
        latent.sample_prior(2, prior="cauchy")


def test_walk_rows_run_between_consecutive_points():
    points = latent.sample_prior(9, 100, seed=4)
    for method in ("linear", "slerp"):
        grid = latent.walk(points, steps=10, method=method)
        assert grid.shape == (8, 10, 100)
        np.testing.assert_allclose(grid[:, 0], points[:-1], atol=1e-5)
        np.testing.assert_allclose(grid[:, -1], points[1:], atol=1e-5)
        np.testing.assert_allclose(grid[:-1, -1], grid[1:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="method"):
        latent.walk(points, method="cubic")
    with pytest.raises(ValueError, match="at least 2 points"):
        latent.walk(points[:1])


# --------------------------------------------------------------------------- arithmetic


def test_concept_arithmetic_is_algebra_on_means():
    rng = np.random.default_rng(5)
    a, b, c = rng.uniform(-1, 1, (3, 3, 100))
    y = latent.arithmetic(a, b, c)
    np.testing.assert_allclose(y, a.mean(0) - b.mean(0) + c.mean(0), atol=1e-6)
    np.testing.assert_allclose(latent.arithmetic(a[0], b[0], c[0]), a[0] - b[0] + c[0],
                               atol=1e-6)
    np.testing.assert_allclose(latent.concept_mean(a), a.mean(0), atol=1e-6)


def test_fig7_neighbours_stay_within_the_noise_box():
    y = latent.sample_prior(1, 100, seed=6)[0]
    nine = latent.fig7_grid(y, rng=0)
    assert nine.shape == (9, 100)
    np.testing.assert_array_equal(nine[0], y)
    offsets = nine[1:] - y
    assert np.abs(offsets).max() <= 0.25 + 1e-6
    assert np.abs(offsets).max() > 0.2 and abs(offsets.mean()) < 0.02  # uniform, centred
    np.testing.assert_array_equal(nine, latent.fig7_grid(y, rng=0))  # reproducible


def test_pixel_arithmetic_is_image_algebra():
    rng = np.random.default_rng(7)
    a, b, c = rng.integers(0, 256, (3, 3, 8, 8, 3), dtype=np.uint8)
    out = latent.pixel_arithmetic(a, b, c)
    ref = a.astype(float).mean(0) - b.astype(float).mean(0) + c.astype(float).mean(0)
    assert out.dtype == np.uint8 and out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out, np.clip(np.round(ref), 0, 255))


def test_pixel_arithmetic_of_a_linear_generator_equals_latent_arithmetic(faces):
    # For a linear G, G(mean a - mean b + mean c) = the same sum of images (up to rounding).
    rng = np.random.default_rng(8)
    a, b, c = rng.uniform(-0.6, 0.6, (3, 3, D)).astype(np.float32)
    by_pixels = latent.pixel_arithmetic(*(latent.render(faces, x) for x in (a, b, c)))
    by_z = latent.render(faces, latent.arithmetic(a, b, c)[None])[0]
    assert np.abs(by_pixels.astype(int) - by_z.astype(int)).max() <= 2


def test_turn_vector_points_from_right_to_left():
    left, right = np.full((4, 5), 1.0), np.full((4, 5), -1.0)
    np.testing.assert_allclose(latent.turn_vector(left, right), np.full(5, 2.0))
    path = latent.apply_turn(np.zeros((2, 5)), np.ones(5), [0.0, 0.5, 1.0])
    assert path.shape == (2, 3, 5)
    np.testing.assert_allclose(path[1, :, 0], [0.0, 0.5, 1.0])


# --------------------------------------------------------------------------- exemplars


def test_pick_by_hand_returns_the_sheet_cells():
    sheet = latent.sample_prior(64, 100, seed=9)
    np.testing.assert_array_equal(latent.pick_exemplars_by_hand(sheet, [3, 10, 63]),
                                  sheet[[3, 10, 63]])
    with pytest.raises(IndexError, match="64"):
        latent.pick_exemplars_by_hand(sheet, [2, 64])


def test_pick_by_probes_takes_the_top_scored_samples(faces):
    concepts = {"smiling woman": {"smiling": True, "beard": False},
                "also smiling": {"smiling": True},
                "left": lambda p: p["yaw"]}
    chosen, scores = latent.pick_exemplars_by_probes(
        faces, faces, concepts, n=300, k=4, z_dim=D, seed=10, return_scores=True)
    z = latent.sample_prior(300, D, seed=10)
    pred = faces.predict(latent.render(faces, z))
    joint = np.log(pred["smiling"]) + np.log(1 - pred["beard"])  # no saturation at gain 5
    top = np.argsort(-joint, kind="stable")[:4]
    np.testing.assert_array_equal(chosen["smiling woman"], z[top])
    np.testing.assert_allclose(scores["smiling woman"], joint[top], rtol=1e-9)
    assert (z[top, 0] > 0).all() and (z[top, 1] < 0).all()
    # the second concept may not reuse the first one's samples
    rest = np.setdiff1d(np.arange(300), top)
    second = rest[np.argsort(-pred["smiling"][rest], kind="stable")[:4]]
    np.testing.assert_array_equal(chosen["also smiling"], z[second])
    yaw = z @ faces.w
    assert (chosen["left"] @ faces.w > np.quantile(yaw, 0.95)).all()
    with pytest.raises(KeyError, match="hat"):
        latent.pick_exemplars_by_probes(faces, faces, {"x": {"hat": True}}, n=10, z_dim=D)


# --------------------------------------------------------------------------- measurements


def test_arithmetic_success_on_the_linear_generator(faces):
    concepts = {"smiling woman": {"smiling": True, "beard": False},
                "neutral woman": {"smiling": False, "beard": False},
                "neutral man": {"smiling": False, "beard": True}}
    pools = latent.pick_exemplars_by_probes(faces, faces, concepts, n=400, k=10, z_dim=D)
    pools = [pools[name] for name in concepts]
    target = {"smiling": True, "beard": True}
    for k, pixel in ((3, False), (1, False), (3, True)):
        res = latent.arithmetic_success(faces, faces, pools, target, k=k, pixel=pixel,
                                        trials=6, seed=0)
        assert res["outputs"] == (6 if pixel else 54)
        assert res["share"] == 1.0 and res["per_factor"] == {"smiling": 1.0, "beard": 1.0}
    wrong = latent.arithmetic_success(faces, faces, pools, {"smiling": False, "beard": True},
                                      trials=6)
    assert wrong["share"] == 0.0 and wrong["per_factor"]["beard"] == 1.0
    with pytest.raises(ValueError, match="fewer than k=20"):
        latent.arithmetic_success(faces, faces, pools, target, k=20)


def test_turn_vector_turns_every_face_and_a_random_vector_does_not(faces):
    picked = latent.pick_exemplars_by_probes(
        faces, faces, {"left": lambda p: p["yaw"], "right": lambda p: -p["yaw"]},
        n=200, k=4, z_dim=D, seed=11)
    v = latent.turn_vector(picked["left"], picked["right"])
    assert v @ faces.w > 0
    z = latent.sample_prior(20, D, seed=12)
    res = latent.turn_monotonic_share(faces, faces, z, v * 0.3)
    assert res["share"] == 1.0 and res["values"].shape == (20, 9) and res["mean_change"] > 0
    backwards = latent.turn_monotonic_share(faces, faces, z, v * 0.3, direction=-1)
    assert backwards["share"] == 0.0
    either = latent.turn_monotonic_share(faces, faces, z, -v * 0.3, direction=0)
    assert either["share"] == 1.0 and either["mean_change"] > 0
    with pytest.raises(ValueError, match="direction"):
        latent.turn_monotonic_share(faces, faces, z, v, direction=2)
    rng = np.random.default_rng(13)
    shares = [latent.turn_monotonic_share(
        faces, faces, z[:5], rng.standard_normal(D) * np.linalg.norm(v * 0.3) / np.sqrt(D)
    )["share"] for _ in range(20)]
    assert 0.1 < np.mean(shares) < 0.9


def test_step_ratio_and_walk_smoothness(faces):
    assert latent.step_ratio(np.arange(5.0)[:, None] * np.ones(3)) == pytest.approx(1.0)
    jumpy = np.array([0.0, 1.0, 2.0, 10.0, 11.0])[:, None]
    assert latent.step_ratio(jumpy) == pytest.approx(8.0 / (11.0 / 4))
    assert np.isnan(latent.step_ratio(np.zeros((4, 2))))
    points = latent.sample_prior(4, D, seed=14) * 0.9
    linear = latent.walk_smoothness(faces, points, steps=8, method="linear")
    assert linear.shape == (3,) and np.all(np.abs(linear - 1) < 0.05)
    # a generator with a cliff in the middle of z space makes one big step
    cliff = lambda z: np.tanh(40 * np.asarray(z)).reshape(len(z), 4, 4, 3)  # noqa: E731
    ends = np.stack([np.full(D, -0.5), np.full(D, 0.5)])
    assert latent.walk_smoothness(cliff, ends, steps=9, method="linear")[0] > 3


def test_render_keeps_leading_shape(faces):
    z = latent.sample_prior(12, D, seed=15).reshape(3, 4, D)
    images = latent.render(faces, z, batch_size=5)
    assert images.shape == (3, 4, 4, 4, 3) and images.dtype == np.uint8
    np.testing.assert_allclose(faces.decode(images.reshape(12, -1)), z.reshape(12, -1),
                               atol=2 / 127.5 + 1e-6)


# --------------------------------------------------------------------------- neighbours


def test_nearest_neighbours_against_brute_force():
    rng = np.random.default_rng(16)
    train = rng.integers(0, 256, (300, 6, 6, 3), dtype=np.uint8)
    queries = np.concatenate([train[[7, 123]], rng.integers(0, 256, (3, 6, 6, 3), np.uint8)])
    idx, dist = latent.nearest_neighbours(queries, train, k=4, chunk=64)
    flat_q = queries.reshape(5, -1).astype(float)
    flat_t = train.reshape(300, -1).astype(float)
    brute = np.linalg.norm(flat_q[:, None] - flat_t[None], axis=2)
    np.testing.assert_array_equal(idx, np.argsort(brute, axis=1, kind="stable")[:, :4])
    np.testing.assert_allclose(dist, np.sort(brute, axis=1)[:, :4], rtol=1e-6, atol=1e-4)
    assert idx[0, 0] == 7 and idx[1, 0] == 123 and dist[0, 0] < 1e-3
    # in a feature space: the mean colour
    feats = lambda x: np.asarray(x, float).mean(axis=(1, 2))  # noqa: E731
    idx_f, _ = latent.nearest_neighbours(queries, train, k=2, features=feats, chunk=50)
    brute_f = np.linalg.norm(feats(queries)[:, None] - feats(train)[None], axis=2)
    np.testing.assert_array_equal(idx_f, np.argsort(brute_f, axis=1, kind="stable")[:, :2])


# --------------------------------------------------------------------------- label probes


def _squares(n, seed):
    """Noise images where label "Square" means a bright square in the top-left corner."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 120, (n, 32, 32, 3), dtype=np.uint8)
    square = rng.random(n) < 0.5
    images[square, 2:12, 2:12] = 230
    return images, {"Square": square}


def test_label_probe_learns_a_labelled_array_source(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    probe = latent.train_label_probe(_squares(512, 0), names=("Square",), resolution=32,
                                     epochs=4, batch_size=32, verbose=0)
    images, labels = _squares(200, 1)
    p = probe.predict(images)["Square"]
    assert p.shape == (200,) and ((p > 0.5) == labels["Square"]).mean() > 0.9
    assert probe.features(images).shape == (200, 128)


def test_label_probe_on_mocked_celeb_a(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    names = ("Smiling", "Eyeglasses", "Male", "yaw")
    with tfds.testing.mock_data(num_examples=64, policy=tfds.testing.MockPolicy.USE_CODE):
        probe = latent.train_label_probe(names=names, resolution=32, epochs=1, batch_size=16,
                                         verbose=0)
    assert list(tmp_path.glob("label_probe_tfds-celeb_a_*_32.keras"))
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    pred = probe.predict(images)
    assert set(pred) == set(names) and all(v.shape == (5,) for v in pred.values())
    assert all(((pred[n] >= 0) & (pred[n] <= 1)).all() for n in names[:3])
    again = latent.train_label_probe(names=names, resolution=32)  # from the cache, no data
    np.testing.assert_allclose(again.predict(images)["Male"], pred["Male"], rtol=1e-5)


# --------------------------------------------------------------------------- a real DCGAN


def test_tools_run_on_a_real_untrained_dcgan(tiny_cfg):
    from dcgan_tf.train import build_gan

    gan = build_gan(tiny_cfg)
    points = latent.sample_prior(3, tiny_cfg.z_dim, seed=17)
    images = latent.render(gan, latent.walk(points, steps=5))
    assert images.shape == (2, 5, 32, 32, 1) and images.dtype == np.uint8
    ratios = latent.walk_smoothness(gan, points, steps=5, method="linear")
    assert ratios.shape == (2,) and np.all((ratios >= 1) & (ratios <= 4))  # 4 steps per row
    # DCGAN defaults: z_dim and prior come from its config
    picked = latent.pick_exemplars_by_probes(
        gan, _MeanBrightness(), {"bright": lambda p: p["bright"]}, n=50, k=2)
    assert picked["bright"].shape == (2, tiny_cfg.z_dim)


class _MeanBrightness:
    def predict(self, images):
        return {"bright": np.asarray(images, float).mean(axis=(1, 2, 3))}


def test_measurements_with_the_real_probes_on_a_tiny_dcgan(tmp_path, monkeypatch):
    """The probes' real interface end to end: briefly trained probes, an untrained G."""
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    from dcgan_tf.config import DCGANConfig
    from dcgan_tf.probes import train_probes
    from dcgan_tf.train import build_gan

    probes = train_probes("faces", 32, n_train=256, epochs=1, verbose=0)
    gan = build_gan(DCGANConfig(resolution=32, width=8, batch_size=16))
    concepts = {"A": {"smiling": True, "beard": False}, "B": {"smiling": False, "beard": False},
                "C": {"smiling": False, "beard": True},
                "left": lambda p: -p["yaw"], "right": lambda p: p["yaw"]}
    pools = latent.pick_exemplars_by_probes(gan, probes, concepts, n=200, k=4)
    res = latent.arithmetic_success(gan, probes, [pools[k] for k in "ABC"],
                                    {"smiling": True, "beard": True}, trials=2)
    assert res["outputs"] == 18 and 0 <= res["share"] <= 1
    assert set(res["per_factor"]) == {"smiling", "beard"}
    v = latent.turn_vector(pools["left"], pools["right"])
    turn = latent.turn_monotonic_share(gan, probes, latent.sample_prior(5, seed=1), v,
                                       direction=-1)
    assert turn["values"].shape == (5, 9) and 0 <= turn["share"] <= 1
    points = latent.sample_prior(3, seed=2)
    ratios = latent.walk_smoothness(gan, points, 5, features=probes.features)
    assert ratios.shape == (2,) and np.all(ratios >= 1)
    idx, _ = latent.nearest_neighbours(latent.render(gan, points), latent.render(gan, points),
                                       k=1, features=probes.features)
    np.testing.assert_array_equal(idx[:, 0], [0, 1, 2])
