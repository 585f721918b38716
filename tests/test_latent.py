"""dcgan_tf.studies.latent: interpolation against closed forms, arithmetic against plain
algebra, and the measurements on an analytic generator whose "probes" read the factors
back exactly."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from dcgan_tf.studies import latent

D = 48  # the analytic generator shows z as a 4x4x3 image


class LinearFaces:
    """G(z) = z / scale laid out as a 4x4x3 image: a linear generator whose images keep z.

    Its probe decodes z from the pixels (exact up to uint8 rounding, scale/255 in z units)
    and reads factors as known functions of z: smiling from z[0], beard from z[1], glasses
    from z[2], yaw = w . z for a fixed unit vector w; its features are the decoded z.
    """

    def __init__(self, seed=0, scale=2.0):
        w = np.random.default_rng(seed).standard_normal(D)
        self.w, self.scale = w / np.linalg.norm(w), scale

    def __call__(self, z):
        z = np.asarray(z, np.float32)
        return np.clip(z / self.scale, -1, 1).reshape(len(z), 4, 4, 3)

    def decode(self, images):
        x = np.asarray(images, np.float64).reshape(len(images), -1)
        return (x / 127.5 - 1.0) * self.scale

    def predict(self, images):
        z = self.decode(images)
        sig = lambda x: 1 / (1 + np.exp(-5 * x))  # noqa: E731
        return {"smiling": sig(z[:, 0]), "beard": sig(z[:, 1]), "glasses": sig(z[:, 2]),
                "yaw": z @ self.w}

    def features(self, images):
        return self.decode(images)


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


def test_turn_vector_turns_every_face_and_a_yawless_random_vector_does_not(faces):
    picked = latent.pick_exemplars_by_probes(
        faces, faces, {"left": lambda p: p["yaw"], "right": lambda p: -p["yaw"]},
        n=200, k=4, z_dim=D, seed=11)
    v = latent.turn_vector(picked["left"], picked["right"])
    assert v @ faces.w > 0
    z = latent.sample_prior(20, D, seed=12)
    res = latent.turn_monotonic_share(faces, faces, z, v * 0.3, tol=0.02)
    assert res["share"] == 1.0 and res["values"].shape == (20, 9)
    assert res["mean_change"] == pytest.approx(2 * 0.3 * v @ faces.w, abs=0.05)
    backwards = latent.turn_monotonic_share(faces, faces, z, v * 0.3, direction=-1)
    assert backwards["share"] == 0.0
    either = latent.turn_monotonic_share(faces, faces, z, -v * 0.3, direction=0)
    assert either["share"] == 1.0 and either["mean_change"] > 0
    # a random direction of the same length: yaw moves by 2 |w.u| along it; without its
    # yaw component it does not move at all, and no face counts as turned either way
    u = np.random.default_rng(13).standard_normal(D)
    u *= 0.3 * np.linalg.norm(v) / np.linalg.norm(u)
    random = latent.turn_monotonic_share(faces, faces, z, u, direction=0, tol=0.02)
    assert random["mean_change"] == pytest.approx(2 * abs(u @ faces.w), abs=0.05)
    flat = u - (u @ faces.w) * faces.w
    assert latent.turn_monotonic_share(faces, faces, z, flat, direction=0,
                                       tol=0.02)["share"] == 0.0
    with pytest.raises(ValueError, match="direction"):
        latent.turn_monotonic_share(faces, faces, z, v, direction=2)


class VYaw(LinearFaces):
    """The same G, with a probe whose yaw is |z[0]|: a V, so a path along z[0] is monotonic
    only while it stays on one side of 0."""

    def predict(self, images):
        return {"yaw": np.abs(self.decode(images)[:, 0])}


def test_turn_monotonic_share_equals_the_hand_count():
    # Paths z0 + alpha * (-0.5) for alpha = -1 .. 1 in steps of 0.25 run from z0 + 0.5 down
    # to z0 - 0.5, so |path| falls throughout for z0 = 0.6 and 0.9, rises throughout for
    # -0.6, and falls then rises for 0.1 and -0.1 (it crosses 0 between grid points).
    g = VYaw()
    z = np.zeros((5, D), np.float32)
    z[:, 0] = [0.6, 0.9, 0.1, -0.1, -0.6]
    v = np.zeros(D, np.float32)
    v[0] = -0.5
    down = latent.turn_monotonic_share(g, g, z, v, direction=-1)
    assert down["share"] == pytest.approx(2 / 5)
    # end-to-end fall |z0 + 0.5| - |z0 - 0.5|: 1, 1, 0.2, -0.2, -1
    assert down["mean_change"] == pytest.approx(0.2, abs=0.02)
    np.testing.assert_allclose(down["values"][2], np.abs(0.1 - 0.5 * np.linspace(-1, 1, 9)),
                               atol=0.01)
    up = latent.turn_monotonic_share(g, g, z, v, direction=1)
    assert up["share"] == pytest.approx(1 / 5)
    either = latent.turn_monotonic_share(g, g, z, v, direction=0)
    assert either["share"] == pytest.approx(3 / 5)
    assert either["mean_change"] == pytest.approx((1 + 1 + 0.2 + 0.2 + 1) / 5, abs=0.02)


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


# --------------------------------------------------------------------------- a real DCGAN


def test_tools_run_on_a_real_untrained_dcgan(tiny_cfg):
    from dcgan_tf.train import build_gan

    gan = build_gan(tiny_cfg)
    points = latent.sample_prior(3, tiny_cfg.z_dim, seed=17)
    images = latent.render(gan, latent.walk(points, steps=5))
    assert images.shape == (2, 5, 32, 32, 1) and images.dtype == np.uint8
    ratios = latent.walk_smoothness(gan, points, steps=5, method="linear")
    frames = latent.render(gan, latent.walk(points, steps=5, method="linear"))
    np.testing.assert_allclose(ratios, [_hand_step_ratio(row) for row in frames], rtol=1e-6)
    # DCGAN defaults: z_dim and prior come from its config
    picked = latent.pick_exemplars_by_probes(
        gan, _MeanBrightness(), {"bright": lambda p: p["bright"]}, n=50, k=2)
    assert picked["bright"].shape == (2, tiny_cfg.z_dim)


def _hand_step_ratio(frames):
    """max / mean of the L2 distances between consecutive frames, step by step."""
    steps = [np.sqrt(np.sum((frames[i + 1].astype(float) - frames[i].astype(float)) ** 2))
             for i in range(len(frames) - 1)]
    return max(steps) / (sum(steps) / len(steps))


class _MeanBrightness:
    def predict(self, images):
        return {"bright": np.asarray(images, float).mean(axis=(1, 2, 3))}


def test_measurements_with_the_real_probes_on_a_tiny_dcgan(tmp_path, monkeypatch):
    """The probes' real interface end to end: briefly trained probes, an untrained G."""
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    from dcgan_tf.config import DCGANConfig
    from dcgan_tf.groundtruth.probes import train_probes
    from dcgan_tf.train import build_gan

    probes = train_probes("faces", 32, n_train=256, epochs=1, progress=False)
    gan = build_gan(DCGANConfig(resolution=32, width=8, batch_size=16))
    concepts = {"A": {"smiling": True, "beard": False}, "B": {"smiling": False, "beard": False},
                "C": {"smiling": False, "beard": True},
                "left": lambda p: -p["yaw"], "right": lambda p: p["yaw"]}
    pools = latent.pick_exemplars_by_probes(gan, probes, concepts, n=200, k=4)
    target = {"smiling": True, "beard": True}
    res = latent.arithmetic_success(gan, probes, [pools[k] for k in "ABC"], target, trials=2)
    assert res["outputs"] == 18 and set(res["per_factor"]) == {"smiling", "beard"}
    pred = probes.predict(res["images"])
    smiling, beard = pred["smiling"] > 0.5, pred["beard"] > 0.5
    assert res["share"] == pytest.approx(np.mean(smiling & beard))
    assert res["per_factor"] == pytest.approx({"smiling": smiling.mean(),
                                               "beard": beard.mean()})
    v = latent.turn_vector(pools["left"], pools["right"])
    z = latent.sample_prior(5, seed=1)
    turn = latent.turn_monotonic_share(gan, probes, z, v, direction=-1)
    alphas = np.linspace(-1, 1, 9)
    yaw = np.stack([probes.predict(latent.render(gan, zi + alphas[:, None] * v))["yaw"]
                    for zi in z])
    np.testing.assert_allclose(turn["values"], yaw, rtol=1e-5, atol=1e-5)
    falls = [all(b <= a for a, b in zip(row, row[1:])) for row in yaw]
    assert turn["share"] == pytest.approx(np.mean(falls))
    assert turn["mean_change"] == pytest.approx(np.mean(yaw[:, 0] - yaw[:, -1]), abs=1e-5)
    points = latent.sample_prior(3, seed=2)
    ratios = latent.walk_smoothness(gan, points, 5, features=probes.features)
    frames = latent.render(gan, latent.walk(points, 5))
    np.testing.assert_allclose(ratios, [_hand_step_ratio(probes.features(row))
                                        for row in frames], rtol=1e-5)
    idx, _ = latent.nearest_neighbours(latent.render(gan, points), latent.render(gan, points),
                                       k=1, features=probes.features)
    np.testing.assert_array_equal(idx[:, 0], [0, 1, 2])


# --------------------------------------------------------------------------- the protocol


def test_measure_follows_its_seeds_on_the_linear_generator():
    """measure() on LinearFaces (scale 4: no clipping anywhere on the protocol's paths), each
    number against the protocol's own description worked out by hand from z."""
    from dcgan_tf.studies import latent_measures as lm

    g, seed, n, pool, tol = LinearFaces(scale=4.0), 5, 400, 20, 0.2
    res = lm.measure(g, g, seed=seed, n=n, pool=pool, trials=4, turn_vectors=3, turn_z=30,
                     tol=tol, walks=2, steps=6, z_dim=D)
    smile, glasses = lm.paper_problems().values()
    assert [a.target for a in res.arithmetic.values()] == [smile[3], glasses[3]]
    # chance: plain samples (stream CHANCE) whose probed factors match, i.e. whose z signs do
    z = latent.sample_prior(2000, D, seed=lm.stream(seed, lm.CHANCE))
    smile_res, glasses_res = res.arithmetic.values()
    assert smile_res.chance == pytest.approx(np.mean((z[:, 0] > 0) & (z[:, 1] > 0)))
    assert glasses_res.chance == pytest.approx(np.mean((z[:, 2] > 0) & (z[:, 1] < 0)))
    # pools of problem 0 are the most confident of its own draw: smiling women
    a, b, c = smile_res.pools
    assert (a[:, 0] > 0).all() and (a[:, 1] < 0).all() and (c[:, 1] > 0).all()
    drawn = latent.sample_prior(n, D, seed=lm.stream(seed, lm.POOLS, 0))
    assert set(map(tuple, a)) <= set(map(tuple, drawn))
    # every output decodes to its trial's sum of exemplars, drawn from problem 0's TRIALS
    # stream; the pixel sums use the 3-exemplar means' picks, and the share is the count of
    # outputs whose decoded z has the target's signs (smiling z[0] > 0, beard z[1] > 0)
    trial_seed = int(lm.stream(seed, lm.TRIALS, 0).generate_state(1)[0])
    for label, k, pixel in lm.SETTINGS:
        rng = np.random.default_rng([trial_seed, 0])
        sums = [sum(sign * p[rng.choice(pool, k, replace=False)].mean(0)
                    for sign, p in zip((1, -1, 1), (a, b, c))) for _ in range(4)]
        r = smile_res.settings[label]
        decoded = g.decode(r["images"])
        centres = decoded if pixel else decoded[::9]
        np.testing.assert_allclose(centres, sums, atol=0.05, err_msg=label)
        assert r["outputs"] == (4 if pixel else 4 * 9)
        assert r["share"] == pytest.approx(np.mean((decoded[:, 0] > 0) & (decoded[:, 1] > 0)))

    # turn: pools ranked by decoded yaw; the picks and random u from the TURN_PICKS stream
    zt = latent.sample_prior(n, D, seed=lm.stream(seed, lm.TURN_POOLS))
    yaw = g.predict(latent.render(g, zt))["yaw"]
    left = np.argsort(yaw, kind="stable")[:pool]
    right = [i for i in np.argsort(-yaw, kind="stable") if i not in set(left)][:pool]
    rng = np.random.default_rng(lm.stream(seed, lm.TURN_PICKS))
    vs, us = [], []
    for _ in range(3):
        li, ri = rng.choice(pool, 4, replace=False), rng.choice(pool, 4, replace=False)
        vs.append(zt[left[li]].mean(0) - zt[np.array(right)[ri]].mean(0))
        us.append(rng.standard_normal(D))  # the random direction, scaled to |v|
        us[-1] *= np.linalg.norm(vs[-1]) / np.linalg.norm(us[-1])
    t = res.turn
    np.testing.assert_allclose(t.norms, [np.linalg.norm(v) for v in vs], rtol=1e-5)
    # yaw is linear along z + alpha v: it moves by 2 w.v from alpha -1 to 1, for every z, so
    # a vector's z all count or none do: it counts when that beats the jitter allowed, 8 tol
    falls = [-2 * g.w @ v for v in vs]
    assert t.mean_change == pytest.approx(np.mean(falls), abs=0.05)
    assert t.shares == [float(f > 8 * tol) for f in falls]
    moves = [2 * abs(g.w @ u) for u in us]
    assert min(abs(m - 8 * tol) for m in moves + falls) > 0.1  # far from the edge: exact
    assert t.random_shares == [float(m > 8 * tol) for m in moves]
    assert t.values.shape == (30, 9)
    z0 = latent.sample_prior(10, D, seed=lm.stream(seed, lm.TURN_Z, 0))[0]
    np.testing.assert_allclose(t.values[0], (z0 + lm.ALPHAS[:, None] * vs[0]) @ g.w, atol=0.1)

    # walks through the WALKS streams: a linear path renders evenly paced; at t = 0.5 slerp's
    # norm is the mean of the ends' norms and the line's is |mean of the ends|
    w = res.walks.methods
    assert np.all(np.abs(w["linear"]["pixels"] - 1) < 0.05)
    np.testing.assert_allclose(w["linear"]["features"], w["linear"]["pixels"], rtol=1e-6)
    points = [latent.sample_prior(9, D, seed=lm.stream(seed, lm.WALKS, i)) for i in range(2)]
    norms = [np.linalg.norm(p, axis=1) for p in points]
    slerp_mid = np.mean([(r[:-1] + r[1:]) / 2 for r in norms])
    linear_mid = np.mean([np.linalg.norm((p[:-1] + p[1:]) / 2, axis=1) for p in points])
    assert w["slerp"]["mid_norm"] == pytest.approx(slerp_mid, rel=1e-5)
    assert w["linear"]["mid_norm"] == pytest.approx(linear_mid, rel=1e-5)
    frames = [latent.slerp(p[i], p[i + 1], np.linspace(0, 1, 6)) for p in points
              for i in range(8)]
    np.testing.assert_allclose(w["slerp"]["pixels"], [_hand_step_ratio(f / 4) for f in frames],
                               rtol=0.05)

    text = str(res)  # the benchmark's report
    assert f"chance (random samples that match): {smile_res.chance:.2f}" in text
    assert f"|v| mean {np.mean(t.norms):.2f}" in text and "D logit" not in text


def test_measure_checks_the_pool_size():
    g = LinearFaces()
    from dcgan_tf.studies import latent_measures

    with pytest.raises(ValueError, match="pool must be a whole number of at least 4"):
        latent_measures.measure(g, g, pool=3, z_dim=D)


# --------------------------------------------------------------------------- review fixes


def _record(monkeypatch, name):
    """Wrap latent.<name> so every call's result (sample_prior) or seed is kept in a list."""
    real, calls = getattr(latent, name), []

    def recording(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out if name == "sample_prior" else kwargs["seed"])
        return out

    monkeypatch.setattr(latent, name, recording)
    return calls


def test_measure_draws_share_no_z_across_seeds_or_within_a_call(monkeypatch):
    """Base seed 1 repeats none of seed 0's z, and within one call no two draws overlap, even
    with more problems (11) and turn vectors (101) than an offset scheme leaves room for."""
    from dcgan_tf.studies import latent_measures

    g = LinearFaces(scale=4.0)
    problems = {f"sum {i}": ({"smiling": True}, {"smiling": False}, {"beard": True},
                             {"smiling": True}) for i in range(11)}
    draws = _record(monkeypatch, "sample_prior")
    per_seed = {}
    for seed in (0, 1):
        del draws[:]
        latent_measures.measure(g, g, seed=seed, problems=problems, n=60, pool=4, trials=1,
                                turn_vectors=101, turn_z=101, walks=2, steps=3, z_dim=D)
        per_seed[seed] = [set(map(tuple, z)) for z in draws]
        sets = per_seed[seed]
        assert len(sets) == 1 + 11 + 1 + 101 + 2  # chance, pools, turn pools, turn z, walks
        for i, a in enumerate(sets):
            assert not any(a & b for b in sets[i + 1:]), (seed, i)
    assert not set().union(*per_seed[0]) & set().union(*per_seed[1])


def test_measure_gives_every_problem_its_own_trials(monkeypatch):
    from dcgan_tf.studies import latent_measures

    g = LinearFaces(scale=4.0)
    seeds = _record(monkeypatch, "arithmetic_success")
    latent_measures.measure(g, g, seed=3, n=200, pool=4, trials=2, turn_vectors=1, turn_z=2,
                            walks=1, steps=3, z_dim=D)
    settings = len(latent_measures.SETTINGS)
    first, second = seeds[:settings], seeds[settings:]
    assert len(seeds) == 2 * settings
    assert len(set(first)) == 1 and len(set(second)) == 1  # one sum's settings: same picks
    assert first[0] != second[0]


class Yaw0(LinearFaces):
    """The linear G with a probe whose yaw is z[0]."""

    def predict(self, images):
        return {"yaw": self.decode(images)[:, 0]}


class Frozen(Yaw0):
    """A G that ignores z: every face keeps its yaw, whatever the turn."""

    def __call__(self, z):
        return np.full((len(z), 4, 4, 3), 0.3, np.float32)


def test_a_face_that_does_not_turn_is_not_counted():
    z = latent.sample_prior(6, D, seed=20)
    for g in (Frozen(), Yaw0()):
        v = np.zeros(D, np.float32) if isinstance(g, Yaw0) else np.ones(D, np.float32)
        for direction in (-1, 0, 1):
            for tol in (0.0, 0.02):
                res = latent.turn_monotonic_share(g, g, z * 0.5, v, direction=direction,
                                                  tol=tol)
                assert res["share"] == 0.0, (type(g).__name__, direction, tol)
    # yaw = z[0] moves by 2 v[0] over alpha in [-1, 1]: it counts once that is more than the
    # 8 steps' allowed jitter (8 tol = 0.8)
    g, v = Yaw0(), np.zeros(D, np.float32)
    for v0, share in ((0.3, 0.0), (0.5, 1.0), (-0.5, 0.0)):
        v[0] = v0
        res = latent.turn_monotonic_share(g, g, z * 0.5, v, direction=1, tol=0.1)
        assert res["share"] == share, v0
        res = latent.turn_monotonic_share(g, g, z * 0.5, v, direction=0, tol=0.1)
        assert res["share"] == (0.0 if v0 == 0.3 else 1.0), v0


class _StandInDCGAN:
    """A DCGAN's interface on the linear G: generate() in cfg.pixel_range, and a D whose
    logit is the mean pixel it is fed (so the range it is fed in shows)."""

    def __init__(self, pixel_range):
        self.cfg = SimpleNamespace(pixel_range=pixel_range, z_dim=D, z_prior="uniform")
        self.faces = LinearFaces(scale=4.0)

    def generate(self, z):
        lo, hi = self.cfg.pixel_range
        return lo + (self.faces(z) + 1) / 2 * (hi - lo)

    def discriminator(self, x, training=False):
        assert not training
        return np.asarray(x, np.float64).mean(axis=(1, 2, 3))[:, None]


def test_plausibility_feeds_D_the_run_s_pixel_range():
    from dcgan_tf.studies import latent_measures

    images = np.full((4, 4, 4, 3), 51, np.uint8)  # a fifth of full scale
    for pixel_range, logit in (((0.0, 1.0), 0.2), ((-1.0, 1.0), -0.6)):
        p = latent_measures._Plausibility(_StandInDCGAN(pixel_range), None)
        assert p.d_logit(images) == pytest.approx(logit, abs=1e-6), pixel_range
        assert p.distance(images) is None
    rng = np.random.default_rng(21)
    reference = rng.integers(0, 256, (30, 4, 4, 3), dtype=np.uint8)
    queries = rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    p = latent_measures._Plausibility(LinearFaces(), reference)
    assert p.d_logit(queries) is None  # no discriminator
    brute = np.linalg.norm(queries.reshape(5, 1, -1).astype(float)
                           - reference.reshape(1, 30, -1).astype(float), axis=2).min(1)
    assert p.distance(queries) == pytest.approx(brute.mean(), rel=1e-6)
    # end to end: a sigmoid-output run with reference images
    gan = _StandInDCGAN((0.0, 1.0))
    res = latent_measures.measure(gan, gan.faces, seed=0, n=200, pool=4, trials=2,
                                  turn_vectors=1, turn_z=2, walks=1, steps=3,
                                  reference=reference)
    assert res.plain["n_reference"] == 30 and 0.3 < res.plain["d_logit"] < 0.7
    setting = next(iter(res.arithmetic.values())).settings["3-exemplar means"]
    d = latent_measures._Plausibility(gan, reference)
    assert setting["d_logit"] == pytest.approx(d.d_logit(setting["images"]))
    assert setting["distance"] == pytest.approx(d.distance(setting["images"])
                                                / res.plain["distance"])
    assert "D logit +0." in str(res) and "nearest of 30 training faces" in str(res)


def test_measure_walks_renders_each_walk_once_and_measures_t_half():
    """One render per walk and method (features from the same frames), and |z| mid-segment at
    t = 0.5 even when the segment has an even number of frames (no frame at t = 0.5)."""
    from dcgan_tf.studies import latent_measures

    g = LinearFaces(scale=4.0)
    rendered = []

    def G(z):
        rendered.append(len(z))
        return g(z)

    w = latent_measures.measure_walks(G, g, seed=0, walks=2, steps=4, z_dim=D,
                                      prior="uniform")
    assert sum(rendered) == 2 * 2 * 8 * 4  # 2 methods x 2 walks x 8 segments x 4 frames
    points = [latent.sample_prior(9, D, seed=latent_measures.stream(0, latent_measures.WALKS,
                                                                    i)) for i in range(2)]
    norms = [np.linalg.norm(p, axis=1) for p in points]
    assert w.methods["slerp"]["mid_norm"] == pytest.approx(
        np.mean([(r[:-1] + r[1:]) / 2 for r in norms]), rel=1e-5)
    assert w.methods["linear"]["mid_norm"] == pytest.approx(
        np.mean([np.linalg.norm((p[:-1] + p[1:]) / 2, axis=1) for p in points]), rel=1e-5)
    for method in ("linear", "slerp"):
        frames = [latent.render(g, latent.walk(p, 4, method)) for p in points]
        np.testing.assert_allclose(w.methods[method]["features"], [
            _hand_step_ratio(g.features(row)) for f in frames for row in f], rtol=1e-6)


@pytest.mark.parametrize("bad, message", [
    ({"turn_vectors": 0}, "turn_vectors"), ({"turn_z": 25}, "turn_z"),
    ({"turn_z": 5}, "turn_z"), ({"trials": 0}, "trials"), ({"walks": 0}, "walks"),
    ({"steps": 1}, "steps"), ({"tol": -0.1}, "tol"), ({"n": 11}, "n=11")])
def test_measure_checks_its_arguments(bad, message):
    from dcgan_tf.studies import latent_measures

    g = LinearFaces()
    kw = dict(n=200, pool=4, trials=2, turn_vectors=10, turn_z=20, walks=1, steps=3, z_dim=D)
    with pytest.raises(ValueError, match=message):
        latent_measures.measure(g, g, **{**kw, **bad})


def test_pick_by_probes_refuses_pools_larger_than_the_samples(faces):
    concepts = {"a": {"smiling": True}, "b": {"smiling": False}}
    with pytest.raises(ValueError, match=r"2 concepts x k=6 .* n=10"):
        latent.pick_exemplars_by_probes(faces, faces, concepts, n=10, k=6, z_dim=D)
    picked = latent.pick_exemplars_by_probes(faces, faces, concepts, n=12, k=6, z_dim=D)
    assert not set(map(tuple, picked["a"])) & set(map(tuple, picked["b"]))


def test_attribute_match_names_a_missing_factor():
    pred = {"smiling": np.array([0.9, 0.1])}
    np.testing.assert_array_equal(latent.attribute_match(pred, {"smiling": True}),
                                  [True, False])
    with pytest.raises(KeyError, match=r"no factor 'hat'.*\['smiling'\]"):
        latent.attribute_match(pred, {"hat": True})


def test_benchmark_searches_the_run_s_own_training_images(tmp_path, monkeypatch,
                                                         load_benchmark):
    from dcgan_tf import data
    from dcgan_tf.config import DCGANConfig
    from dcgan_tf.groundtruth import probes

    bench = load_benchmark("latent_measures")
    gan = SimpleNamespace(cfg=DCGANConfig(resolution=32, width=8, channels=3))
    monkeypatch.setattr(bench, "load_run", lambda run: gan)
    monkeypatch.setattr(probes, "get_probes", lambda name, size: f"{name} probes")
    seen = {}
    monkeypatch.setattr(bench, "measure", lambda G, p, **kw: seen.update(kw, probes=p))
    (tmp_path / "data.json").write_text(json.dumps({"source": "rooms:30"}))
    bench.main(["--run", str(tmp_path), "--reference", "12"])
    expected = np.stack(list(data.load_images("rooms:30", 32, 3).take(12)
                             .as_numpy_iterator()))
    np.testing.assert_array_equal(seen["reference"], expected)
    assert seen["probes"] == "faces probes"
    for record, message in (({"source": "<array>"}, "in-memory"),
                            ({"source": str(tmp_path / "gone")}, "cannot read")):
        (tmp_path / "data.json").write_text(json.dumps(record))
        with pytest.raises(SystemExit, match=message):
            bench.main(["--run", str(tmp_path), "--reference", "12"])
    (tmp_path / "data.json").unlink()
    with pytest.raises(SystemExit, match="data.json"):
        bench.main(["--run", str(tmp_path)])


def test_benchmark_refuses_probes_without_the_sums_factors(tmp_path, monkeypatch, capsys,
                                                          load_benchmark):
    bench = load_benchmark("latent_measures")
    monkeypatch.setattr(bench, "load_run", lambda run: pytest.fail("loaded the run"))
    with pytest.raises(SystemExit):
        bench.main(["--run", str(tmp_path), "--probes", "rooms"])
    assert "rooms probes have no" in capsys.readouterr().err
