"""The custom train_step: its losses, its updates, and its behaviour under tf.distribute."""

import subprocess
import sys
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


def test_a_step_moves_d_and_g_the_right_way(tiny_cfg):
    """After one D step D(x) rises and D(G(z)) falls; the G step then raises D(G(z))."""
    keras.utils.set_random_seed(4)
    cfg = tiny_cfg.replace(batch_size=64)
    gan = build_gan(cfg)
    x = batch(cfg, seed=1)
    z = np.random.default_rng(2).uniform(-1, 1, (64, cfg.z_dim)).astype("f4")

    def d_out(images):  # inference mode, so BN statistics do not move between probes
        return float(tf.reduce_mean(tf.sigmoid(gan.discriminator(images, training=False))))

    g0 = [w.numpy() for w in gan.generator.trainable_weights]
    real0, fake0 = d_out(x), d_out(gan.generate(z))
    for _ in range(3):
        gan.train_on_batch(x)
    assert d_out(x) > real0
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(g0, gan.generator.trainable_weights))
    assert gan.d_optimizer.iterations.numpy() == 3 == gan.g_optimizer.iterations.numpy()
    del fake0


def test_default_optimizers_are_the_papers(tiny_cfg):
    gan = build_gan(tiny_cfg)
    for opt in (gan.d_optimizer, gan.g_optimizer):
        assert isinstance(opt, keras.optimizers.Adam)
        assert float(opt.learning_rate) == pytest.approx(2e-4) and opt.beta_1 == 0.5


def test_uniform_and_normal_priors(tiny_cfg):
    z = build_gan(tiny_cfg).sample_z(4000).numpy()
    assert z.min() >= -1 and z.max() <= 1 and abs(z.mean()) < 0.02
    assert z.std() == pytest.approx(1 / np.sqrt(3), rel=0.02)  # uniform[-1, 1]
    zn = build_gan(tiny_cfg.replace(z_prior="normal")).sample_z(4000).numpy()
    assert zn.std() == pytest.approx(1.0, rel=0.02) and np.abs(zn).max() > 2.5


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
    assert all(np.isfinite(v) for v in logs.values())
    assert all(w.dtype == "float32" for w in gan.generator.trainable_weights)


def test_xla_step_matches_eager_graph_step(tiny_cfg):
    keras.utils.set_random_seed(5)
    plain = build_gan(tiny_cfg)
    keras.utils.set_random_seed(5)
    xla = build_gan(tiny_cfg.replace(xla=True))
    x = batch(tiny_cfg)
    a = plain.train_on_batch(x, return_dict=True)
    b = xla.train_on_batch(x, return_dict=True)
    assert xla.jit_compile is True and plain.jit_compile is False  # XLA really ran
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
    from dcgan_tf.train import build_gan

    cfg = DCGANConfig(resolution=32, width=8, batch_size=16, channels=3)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")

    def first_update(strategy):
        keras.utils.set_random_seed(1)
        gan = build_gan(cfg, strategy)
        logs = gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1,
                       verbose=0, shuffle=False).history
        weights = gan.generator.weights + gan.discriminator.weights
        return [w.numpy() for w in weights], logs

    single, log1 = first_update(tf.distribute.get_strategy())
    mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored_strategy.num_replicas_in_sync == 2
    mirrored, log2 = first_update(mirrored_strategy)
    before = [w.numpy() for w in build_gan(cfg).generator.weights]
    print("MAXDIFF", max(float(np.abs(a - b).max()) for a, b in zip(single, mirrored)))
    print("LOSSDIFF", max(abs(log1[k][0] - log2[k][0]) for k in log1))
""")


def test_mirrored_strategy_first_update_equals_single_device(tmp_path):
    """Two logical CPUs under MirroredStrategy make the same first update as one device."""
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    values = dict(line.split() for line in out.stdout.splitlines() if line[:4] in ("MAXD", "LOSS"))
    # Float32 sums in a different order: equal to rounding, far below one Adam step (2e-4).
    assert float(values["MAXDIFF"]) < 1e-5
    assert float(values["LOSSDIFF"]) < 1e-5
