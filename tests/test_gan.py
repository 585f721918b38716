"""The custom train_step: its losses, its updates, and its behaviour under tf.distribute."""

import json
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcgan_tf.gan import DCGAN
from dcgan_tf.train import build_gan


def batch(cfg, n=None, seed=0):
    rng = np.random.default_rng(seed)
    n = n or cfg.batch_size
    return rng.uniform(-1, 1, (n, cfg.resolution, cfg.resolution, cfg.channels)).astype("f4")


def np_bce(p, label):
    return float(np.mean(-(label * np.log(p) + (1 - label) * np.log(1 - p))))


def test_losses_match_an_independent_computation(tiny_cfg):
    """With frozen weights (lr=0) the reported losses are the textbook ones, from numpy."""
    keras.utils.set_random_seed(3)
    gan = DCGAN(tiny_cfg)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    x = batch(tiny_cfg)
    # The same noise the step will draw: a copy of the model's seed state.
    twin = keras.random.SeedGenerator(0)
    twin.state.assign(gan.noise_seed.state.numpy())
    z = keras.random.uniform((tiny_cfg.batch_size, tiny_cfg.z_dim), -1, 1, seed=twin)
    fake = gan.generator(z, training=True)
    p_real = tf.sigmoid(gan.discriminator(x, training=True)).numpy()
    p_fake = tf.sigmoid(gan.discriminator(fake, training=True)).numpy()

    logs = gan.train_on_batch(x, return_dict=True)
    assert logs["d_loss"] == pytest.approx(np_bce(p_real, 1) + np_bce(p_fake, 0), rel=1e-4)
    # Non-saturating generator loss: -log D(G(z)), not log(1 - D(G(z))).
    assert logs["g_loss"] == pytest.approx(np_bce(p_fake, 1), rel=1e-4)
    assert logs["D(x)"] == pytest.approx(p_real.mean(), rel=1e-4)
    assert logs["D(G(z))"] == pytest.approx(p_fake.mean(), rel=1e-4)


def test_gradient_norms_match_an_independent_computation(tiny_cfg):
    """The logged d_grad_norm / g_grad_norm are the L2 norms of each network's gradient of
    its own loss, taken here with a separate tape and keras' own BCE (frozen weights)."""
    keras.utils.set_random_seed(5)
    gan = DCGAN(tiny_cfg)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    G, D = gan.generator, gan.discriminator
    x = batch(tiny_cfg, seed=2)
    twin = keras.random.SeedGenerator(0)
    twin.state.assign(gan.noise_seed.state.numpy())
    z = keras.random.uniform((tiny_cfg.batch_size, tiny_cfg.z_dim), -1, 1, seed=twin)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    fake = G(z, training=True)
    with tf.GradientTape() as tape:
        real_logits, fake_logits = D(x, training=True), D(fake, training=True)
        d_loss = bce(tf.ones_like(real_logits), real_logits) + \
            bce(tf.zeros_like(fake_logits), fake_logits)
    d_norm = np.sqrt(sum(np.sum(g.numpy() ** 2)
                         for g in tape.gradient(d_loss, D.trainable_weights)))
    with tf.GradientTape() as tape:
        gen_logits = D(G(z, training=True), training=True)
        g_loss = bce(tf.ones_like(gen_logits), gen_logits)
    g_norm = np.sqrt(sum(np.sum(g.numpy() ** 2)
                         for g in tape.gradient(g_loss, G.trainable_weights)))

    logs = gan.train_on_batch(x, return_dict=True)
    assert logs["d_grad_norm"] == pytest.approx(d_norm, rel=1e-3)
    assert logs["g_grad_norm"] == pytest.approx(g_norm, rel=1e-3)


def test_the_plain_step_chapter_2_shows_first_equals_train_step(tiny_cfg):
    """plain_train_step (one device, written plainly) and DCGAN.train_step, from the same
    start on the same batch: the same losses and the same weights after the step."""
    from dcgan_tf.gan import plain_train_step

    x = batch(tiny_cfg, seed=3)
    models = []
    for _ in range(2):
        keras.utils.set_random_seed(6)
        models.append(build_gan(tiny_cfg))
    fitted, plain = models
    logs = fitted.train_on_batch(x, return_dict=True)
    mine = plain_train_step(plain, x)
    assert mine["d_loss"] == pytest.approx(logs["d_loss"], rel=1e-4)
    assert mine["g_loss"] == pytest.approx(logs["g_loss"], rel=1e-4)
    for net in ("generator", "discriminator"):
        for a, b in zip(getattr(fitted, net).trainable_weights,
                        getattr(plain, net).trainable_weights):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6,
                                       err_msg=f"{net} {a.path}")
    # Both started from the same weights and moved them: the check is not vacuous.
    keras.utils.set_random_seed(6)
    start = build_gan(tiny_cfg).generator.trainable_weights[0].numpy()
    assert not np.allclose(start, plain.generator.trainable_weights[0].numpy())


def test_a_step_moves_d_and_g_the_right_way(tiny_cfg):
    """One step: D's update lowers D's loss on that very batch and pulls D(x) and D(G(z))
    apart; G's update, made against the updated D, lowers G's loss (raises D(G(z)))."""
    keras.utils.set_random_seed(4)
    cfg = tiny_cfg.replace(batch_size=64)
    gan = build_gan(cfg)
    G, D = gan.generator, gan.discriminator
    x = batch(cfg, seed=1)
    twin = keras.random.SeedGenerator(0)  # a copy of the model's noise state: the step's z
    twin.state.assign(gan.noise_seed.state.numpy())
    z = keras.random.uniform((cfg.batch_size, cfg.z_dim), -1, 1, seed=twin)

    def p(images):  # training mode: the batch statistics the step itself normalises with
        return tf.sigmoid(D(images, training=True)).numpy()

    fake0 = G(z, training=True)
    real0, faked0 = p(x), p(fake0)
    logs = gan.train_on_batch(x, return_dict=True)
    # The step saw exactly these images: its D loss is the one computed here beforehand.
    assert logs["d_loss"] == pytest.approx(np_bce(real0, 1) + np_bce(faked0, 0), rel=1e-4)

    real1, faked1 = p(x), p(fake0)  # the updated D on the same real and fake images
    assert np_bce(real1, 1) + np_bce(faked1, 0) < logs["d_loss"]
    # D(x) alone need not rise in one step (BN re-centres each batch); the gap must grow.
    assert real1.mean() - faked1.mean() > real0.mean() - faked0.mean()
    gen1 = p(G(z, training=True))  # the updated G, judged by the D it was updated against
    assert gen1.mean() > faked1.mean()
    assert np_bce(gen1, 1) < np_bce(faked1, 1)
    assert gan.d_optimizer.iterations.numpy() == 1 == gan.g_optimizer.iterations.numpy()


def test_default_optimizers_are_the_papers(tiny_cfg):
    gan = build_gan(tiny_cfg)
    for opt in (gan.d_optimizer, gan.g_optimizer):
        assert isinstance(opt, keras.optimizers.Adam)
        assert float(opt.learning_rate) == pytest.approx(2e-4) and opt.beta_1 == 0.5


def test_no_unused_optimizer_and_both_learning_rates_logged(tiny_cfg):
    from dcgan_tf.callbacks import LearningRates

    for mixed in (False, True):
        # Keras' default RMSprop (lr 0.001) would be logged and driven by lr callbacks.
        assert build_gan(tiny_cfg.replace(mixed_precision=mixed)).optimizer is None
    gan = DCGAN(tiny_cfg)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3),
                g_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(5e-4)))

    def slow_d_down(epoch, logs):
        if epoch == 1:
            gan.d_optimizer.learning_rate = 1e-5

    history = gan.fit(batch(tiny_cfg), batch_size=tiny_cfg.batch_size, epochs=2, verbose=0,
                      callbacks=[keras.callbacks.LambdaCallback(on_epoch_begin=slow_d_down),
                                 LearningRates()]).history
    np.testing.assert_allclose(history["d_lr"], [1e-3, 1e-5], rtol=1e-6)
    np.testing.assert_allclose(history["g_lr"], [5e-4, 5e-4], rtol=1e-6)
    assert "learning_rate" not in history


def test_uniform_and_normal_priors(tiny_cfg):
    z = build_gan(tiny_cfg).sample_z(4000).numpy()
    assert z.min() >= -1 and z.max() <= 1 and abs(z.mean()) < 0.02
    assert z.std() == pytest.approx(1 / np.sqrt(3), rel=0.02)  # uniform[-1, 1]
    zn = build_gan(tiny_cfg.replace(z_prior="normal")).sample_z(4000).numpy()
    assert zn.std() == pytest.approx(1.0, rel=0.02) and np.abs(zn).max() > 2.5


def test_priors_draw_what_earlier_runs_drew(tiny_cfg):
    """One sampler (dcgan_tf.prior) behind both streams, drawing the values the kit always
    drew, so saved fixed_noise.npy files and published figures stay valid."""
    from dcgan_tf.train import fixed_noise

    for prior in ("uniform", "normal"):
        cfg = tiny_cfg.replace(z_prior=prior, z_dim=7)
        rng = np.random.default_rng(cfg.seed + 1)
        before = (rng.uniform(-1.0, 1.0, (5, 7)) if prior == "uniform"
                  else rng.standard_normal((5, 7))).astype(np.float32)
        np.testing.assert_array_equal(fixed_noise(cfg, 5), before)
        gan = build_gan(cfg)
        twin = keras.random.SeedGenerator(0)
        twin.state.assign(gan.noise_seed.state.numpy())
        draw = keras.random.uniform if prior == "uniform" else keras.random.normal
        args = (-1.0, 1.0) if prior == "uniform" else ()
        np.testing.assert_array_equal(gan.sample_z(5).numpy(),
                                      draw((5, 7), *args, seed=twin).numpy())


def test_mixed_precision_step(tiny_cfg):
    cfg = tiny_cfg.replace(mixed_precision=True)
    gan = build_gan(cfg)
    assert keras.config.dtype_policy().name == "float32"  # restored after building
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert gan.generator.get_layer("deconv1").compute_dtype == "float16"
    assert gan.generator.output.dtype == "float32"  # tanh output runs in float32
    assert gan.discriminator.output.dtype == "float32"  # so does D's logit
    logs = gan.train_on_batch(batch(cfg), return_dict=True)
    # The first float16 steps overflow at the initial loss scale (2**15) and are skipped:
    # their infinite gradient norms are not a divergence and stay out of the logged mean.
    assert all(np.isfinite(v) for v in logs.values()), logs
    for _ in range(20):
        logs = gan.train_on_batch(batch(cfg), return_dict=True)
    assert gan.d_optimizer.dynamic_scale.numpy() < 2.0**15  # overflows did happen
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["d_grad_norm"] > 0 and logs["g_grad_norm"] > 0  # counted once finite
    assert all(w.dtype == "float32" for w in gan.generator.trainable_weights)


XLA = textwrap.dedent("""
    import json, os, sys
    import keras, numpy as np
    from dcgan_tf.config import DCGANConfig
    from dcgan_tf.train import build_gan

    cfg = DCGANConfig(resolution=32, width=8, batch_size=16, channels=1)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 1)).astype("float32")
    keras.utils.set_random_seed(5)
    a = build_gan(cfg).train_on_batch(x, return_dict=True)
    dumped_by_plain = len(os.listdir(sys.argv[1])) if os.path.isdir(sys.argv[1]) else 0
    keras.utils.set_random_seed(5)
    b = build_gan(cfg.replace(xla=True)).train_on_batch(x, return_dict=True)
    print(json.dumps({"plain": {k: float(v) for k, v in a.items()},
                      "xla": {k: float(v) for k, v in b.items()},
                      "dumped_by_plain": dumped_by_plain}))
""")


def test_xla_step_matches_eager_graph_step(tmp_path, run_script):
    """xla=True compiles the step with XLA (its HLO module is dumped) to the same numbers."""
    dump = tmp_path / "dump"
    # XLA reads its flags once per process, hence a subprocess; it writes every module it
    # compiles to the dump folder, so an empty folder means the step ran as a TF graph.
    env = {"TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": f"--xla_dump_to={dump} --xla_dump_hlo_as_text"}
    out = run_script(XLA, dump, env=env)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["dumped_by_plain"] == 0  # the plain step never went through XLA
    compiled = [f for f in dump.glob("*one_step_on_data*after_optimizations.txt")]
    assert compiled, sorted(p.name for p in dump.iterdir())[:10]
    hlo = "".join(f.read_text() for f in compiled)
    assert "convolution(" in hlo  # the networks themselves, not some side computation
    a, b = result["plain"], result["xla"]
    # D on the real batch is the same computation either way.
    assert b["D(x)"] == pytest.approx(a["D(x)"], rel=1e-4)
    # XLA's random kernel draws different (equally uniform) noise, so the fake-side
    # numbers differ; they stay in the range an untrained D gives.
    for k in ("D(G(z))", "d_loss", "g_loss"):
        assert np.isfinite(b[k]) and b[k] == pytest.approx(a[k], rel=0.1)


MIRRORED = textwrap.dedent("""
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.experimental.enable_op_determinism()
    import keras, numpy as np
    from dcgan_tf.config import DCGANConfig
    from dcgan_tf.gan import DCGAN

    cfg = DCGANConfig(resolution=32, width=8, batch_size=16, channels=3)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")

    def first_update(strategy):
        keras.utils.set_random_seed(1)
        with strategy.scope():
            gan = DCGAN(cfg)
            # SGD moves each weight by lr * gradient, so a gradient off by any factor shows
            # in the update (Adam's first step is about lr * sign(gradient), blind to scale).
            gan.compile(d_optimizer=keras.optimizers.SGD(0.1),
                        g_optimizer=keras.optimizers.SGD(0.1))
        trainable = gan.generator.trainable_weights + gan.discriminator.trainable_weights
        before = [w.numpy() for w in trainable]
        logs = gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1,
                       verbose=0, shuffle=False).history
        update = [w.numpy() - b for w, b in zip(trainable, before)]
        weights = [w.numpy() for w in gan.generator.weights + gan.discriminator.weights]
        return update, weights, logs

    single = first_update(tf.distribute.get_strategy())
    mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored_strategy.num_replicas_in_sync == 2
    mirrored = first_update(mirrored_strategy)
    size = max(float(np.abs(u).max()) for u in single[0])
    print("UPDATE", size)
    print("UPDATEDIFF", max(float(np.abs(a - b).max())
                            for a, b in zip(single[0], mirrored[0])))
    print("MAXDIFF", max(float(np.abs(a - b).max()) for a, b in zip(single[1], mirrored[1])))
    # Losses and D's outputs are global-batch figures on both. Gradient norms are each
    # replica's own (half-batch) gradient, averaged: a different figure, checked for sense.
    same = ("d_loss", "g_loss", "D(x)", "D(G(z))")
    print("LOSSDIFF", max(abs(single[2][k][0] - mirrored[2][k][0]) for k in same))
    print("GRADNORMS", min(mirrored[2][k][0] for k in ("d_grad_norm", "g_grad_norm")))
""")


def test_mirrored_strategy_first_update_equals_single_device(run_script):
    """Two logical CPUs under MirroredStrategy make the same first update as one device."""
    out = run_script(MIRRORED)
    values = {k: float(v) for k, v in (line.split(" ", 1) for line in out.splitlines())
              if k in ("UPDATE", "UPDATEDIFF", "MAXDIFF", "LOSSDIFF", "GRADNORMS")}
    # Float32 sums in a different order: equal to rounding. A gradient scaled by 2 (or 1/2)
    # would make UPDATEDIFF as large as the update itself.
    assert values["UPDATE"] > 1e-3
    assert values["UPDATEDIFF"] < 1e-4 * values["UPDATE"]
    assert values["MAXDIFF"] < 1e-5
    assert values["LOSSDIFF"] < 1e-5
    assert 0 < values["GRADNORMS"] < float("inf")
