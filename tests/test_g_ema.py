"""The moving average of G's weights (cfg.g_ema): what it averages, when, and what it saves."""

import keras
import numpy as np
import pytest

from dcgan_tf import checkpoint, runlog
from dcgan_tf.config import DCGANConfig, InputError
from dcgan_tf.train import build_gan, load_run, train


class RecordG(keras.callbacks.Callback):
    """G's weights before training and after every step, for a numpy replay of the average."""

    def on_train_begin(self, logs=None):
        self.seen = [self.model.generator.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(self.model.generator.get_weights())


def numpy_average(seen, d):
    """The documented rule, replayed: avg_t = c avg_(t-1) + (1 - c) w_t,
    c = min(d, (1+t)/(10+t))."""
    avg = [w.copy() for w in seen[0]]
    for t, weights in enumerate(seen[1:], start=1):
        c = min(d, (1 + t) / (10 + t))
        avg = [c * a + (1 - c) * w for a, w in zip(avg, weights, strict=True)]
    return avg


def test_the_average_follows_the_documented_rule_step_by_step(tiny_cfg, tmp_path):
    cfg = tiny_cfg.replace(g_ema=0.9)
    record = RecordG()
    gan = train(cfg, "digits", tmp_path / "run", progress=False, extra_callbacks=[record])
    assert len(record.seen) > 20  # enough steps for the warm-up to reach the decay 0.9
    want = numpy_average(record.seen, 0.9)
    got = gan.g_ema.get_weights()
    assert len(got) == len(gan.generator.weights) > 0  # BN's moving statistics included
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    # It is an average, not a copy: it differs from the last G, and samples come from it.
    assert max(np.abs(a - b).max() for a, b in zip(got, record.seen[-1], strict=True)) > 1e-3
    z = np.random.default_rng(0).uniform(-1, 1, (4, cfg.z_dim)).astype("f4")
    np.testing.assert_allclose(gan.generate(z), gan.g_ema(z, training=False), atol=1e-6)
    assert gan.sampler is gan.g_ema


def test_without_g_ema_samples_come_from_g_and_nothing_is_averaged(tiny_cfg):
    gan = build_gan(tiny_cfg)
    assert gan.g_ema is None and gan.sampler is gan.generator
    assert not any(k.startswith("g_ema/") for k in checkpoint._variables(gan))


def test_the_average_starts_as_g_and_does_not_change_training(tiny_cfg, tmp_path):
    keras.utils.set_random_seed(0)
    gan = build_gan(tiny_cfg.replace(g_ema=0.99))
    start = gan.g_ema.get_weights()
    assert len(start) == len(gan.generator.weights) > 0  # BN's moving statistics included
    for a, b in zip(start, gan.generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    plain = train(tiny_cfg.replace(epochs=1), "digits", tmp_path / "plain", progress=False)
    averaged = train(tiny_cfg.replace(epochs=1, g_ema=0.99), "digits", tmp_path / "avg",
                     progress=False)
    g_plain, g_averaged = plain.generator.get_weights(), averaged.generator.get_weights()
    assert len(g_plain) > 0
    for a, b in zip(g_plain, g_averaged, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_average_is_saved_and_an_interrupted_run_resumes_exactly(tiny_cfg, tmp_path):
    cfg = tiny_cfg.replace(g_ema=0.9)
    straight = train(cfg, "digits", tmp_path / "straight", progress=False)
    run = tmp_path / "resumed"
    train(cfg.replace(epochs=1), "digits", run, progress=False)
    loaded = load_run(run)
    assert loaded.g_ema is not None
    resumed = train(cfg, None, run, resume=True, progress=False)
    want = straight.g_ema.get_weights()
    assert len(want) == len(straight.generator.weights) > 0
    for a, b in zip(want, resumed.g_ema.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan")])
def test_a_decay_outside_0_1_is_refused(bad):
    with pytest.raises(InputError, match="g_ema"):
        DCGANConfig(g_ema=bad)


def test_the_cli_flag_sets_the_decay_and_refuses_a_bad_one(tmp_path, capsys):
    from dcgan_tf import cli

    args = cli.build_parser().parse_args(["train", "--g-ema", "0.995", "--out", str(tmp_path)])
    assert cli._config(args, "faces").g_ema == 0.995
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--g-ema", "1", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert "g_ema must be in [0, 1)" in capsys.readouterr().err


def test_the_lab_scores_the_plain_g_and_other_tables_apply_as_given():
    from dcgan_tf.studies import ablation

    base = DCGANConfig.profile("small", g_ema=0.99)
    assert ablation.run_config("paper", 1, base).g_ema == 0.0  # the lab: the paper's G
    table = {"avg": {"g_ema": 0.9, "epochs": 3}}
    cfg = ablation.run_config("avg", 2, base, table)
    assert (cfg.g_ema, cfg.epochs, cfg.seed) == (0.9, 3, 2)
    with pytest.raises(InputError, match="'paper'"):
        ablation.run_config("paper", 0, base, table)


def test_the_monitor_watches_the_g_being_trained(tiny_cfg, tmp_path):
    from dcgan_tf.health import monitor

    gan = build_gan(tiny_cfg.replace(g_ema=0.9))
    for w in gan.g_ema.weights:  # an average far from G: a blank image
        w.assign(np.zeros(w.shape, w.dtype))
    z = np.random.default_rng(1).uniform(-1, 1, (8, tiny_cfg.z_dim)).astype("f4")
    watch = monitor.HealthMonitor(tmp_path, np.zeros((8, 32, 32, 1), np.uint8), z)
    watch.set_model(gan)
    np.testing.assert_allclose(watch._samples(), gan.generator(z, training=False), atol=1e-6)
    assert np.abs(gan.generate(z)).max() == 0  # while samples come from the average


def test_score_log_scores_the_average_and_the_plain_g(tmp_path):
    from dcgan_tf.data import to_uint8
    from dcgan_tf.groundtruth import probes, procedural, scoring
    from dcgan_tf.train import fixed_noise

    run, n = tmp_path / "scored", 80
    cfg = DCGANConfig(resolution=32, width=8, batch_size=64, epochs=1, g_ema=0.9)
    train(cfg, "faces:256", run, progress=False,
          extra_callbacks=[scoring.ScoreLog(run, "faces", n)])
    cols = runlog.read_columns(run / scoring.SCORES_FILE)
    gan = load_run(run)
    probe = probes.get_probes("faces", 32)
    real, _ = procedural.make("faces", n, seed=scoring.REAL_SEEDS[0], size=32)
    z = fixed_noise(cfg, n, scoring.NOISE_SEED)
    averaged = to_uint8(gan.g_ema(z, training=False))
    plain = to_uint8(gan.generator(z, training=False))
    assert cols["fd"][-1] == pytest.approx(probes.probe_fd(probe, averaged, real), rel=1e-3)
    assert cols["fd_plain"][-1] == pytest.approx(probes.probe_fd(probe, plain, real), rel=1e-3)
    assert np.abs(averaged.astype(int) - plain).max() > 0  # two generators, two scores
    rep = scoring.score_run(run, "faces", n=n)
    assert rep.fd_trained_plain == pytest.approx(cols["fd_plain"][-1], rel=1e-6)
    assert "weight average" in rep.summary() and "plain" in rep.summary()


def test_the_quality_benchmark_runs_end_to_end(tmp_path, capsys, load_benchmark):
    from PIL import Image

    bench, out = load_benchmark("quality"), tmp_path / "quality"
    assert bench.main(["--smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = (out / "summary.md").read_text()
    assert table in printed and "| smoke | 2 | 1 |" in table
    for name in ("fd_minutes.png", "final_grids.png"):
        with Image.open(out / name) as image:
            assert image.width > 300 and image.height > 200
    # The summary's figures against the runs' own rows.
    rows = [r for r in bench.ablation.collect(out) if r["epoch"] == 2]
    summary, = [s for s in bench.summary_rows(rows, 512) if s["epoch"] == 2]
    assert summary["fd"][0] == pytest.approx(rows[0]["fd"])
    assert summary["fd_plain"][0] == pytest.approx(rows[0]["fd_plain"])
    assert summary["images_per_s"] == pytest.approx(512 * 2 / rows[0]["train_seconds"])
    assert bench.main(["--compare", f"tiny={out}/smoke/seed0", "--out", str(out)]) == 0
    with Image.open(out / "compare.png") as image:
        assert image.width > 300 and image.height > 150


MIRRORED_AVERAGE = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
from dcgan_tf.config import DCGANConfig
from dcgan_tf.train import build_gan

cfg = DCGANConfig(resolution=32, width=8, batch_size=8, g_ema=0.5)
gan = build_gan(cfg, tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
before = gan.generator.get_weights()
x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
gan.fit(tf.data.Dataset.from_tensors(x), epochs=1, verbose=0)
c = min(0.5, 2 / 11)  # the decay at G step t = 1
want = [c * b + (1 - c) * a for b, a in zip(before, gan.generator.get_weights())]
print("MAXDIFF", max(float(np.abs(w - e).max()) for w, e in zip(want, gan.g_ema.get_weights())))
"""


def test_the_average_updates_under_a_mirrored_strategy(run_script):
    """Two logical CPUs: the in-step update of the average works on mirrored variables."""
    out = run_script(MIRRORED_AVERAGE)
    diff, = [float(line.split()[1]) for line in out.splitlines() if line.startswith("MAXDIFF")]
    assert diff < 1e-6
