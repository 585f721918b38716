"""The main job's report: probe Frechet distances and attribute rates of a trained run."""

import csv
import json

import numpy as np
import pytest

from dcgan_tf import cli, plots, runlog
from dcgan_tf.config import DCGANConfig
from dcgan_tf.data import to_uint8
from dcgan_tf.groundtruth import probes, procedural, scoring
from dcgan_tf.train import fixed_noise, load_run, train

SIZE = 32  # the probes test_probes.py trains for the session are reused at this size


@pytest.fixture(scope="module")
def faces_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "faces"
    cfg = DCGANConfig(resolution=SIZE, width=8, batch_size=64, epochs=1)
    train(cfg, "faces:512", run, progress=False)
    return run


def test_score_run_matches_an_independent_computation(faces_run):
    rep = scoring.score_run(faces_run, "faces", n=300)
    probe = probes.get_probes("faces", SIZE)
    real, _ = procedural.make("faces", 300, seed=scoring.REAL_SEEDS[0], size=SIZE)
    gan = load_run(faces_run)
    fake = np.asarray(gan.generate(fixed_noise(gan.cfg, 300, scoring.NOISE_SEED)))
    fake = np.clip(np.round((fake + 1) * 127.5), 0, 255).astype(np.uint8)
    assert rep.fd_trained == pytest.approx(probes.probe_fd(probe, fake, real), rel=1e-3)
    assert set(rep.rates_real) == set(probes.binary_heads("faces"))
    # real faces carry each attribute in a fair share of images by construction
    assert all(0.2 < r < 0.8 for r in rep.rates_real.values()), rep.rates_real
    # two real draws are far closer than noise from an untrained generator
    assert rep.fd_real_vs_real < rep.fd_untrained / 5
    assert rep.epochs == 1
    saved = json.loads((faces_run / "report.json").read_text())
    assert saved["fd_trained"] == pytest.approx(rep.fd_trained)
    text = rep.summary()
    assert "untrained generator" in text and "smiling" in text


def test_the_untrained_generator_is_the_one_the_run_started_from(faces_run, monkeypatch):
    import keras
    from PIL import Image

    from dcgan_tf import train as train_module
    from dcgan_tf.studies import latent

    built = []
    real_build = train_module.build_gan
    monkeypatch.setattr(train_module, "build_gan",
                        lambda *a, **k: built.append(real_build(*a, **k)) or built[-1])
    keras.utils.set_random_seed(999)  # whatever the process drew before must not matter
    scoring.score_run(faces_run, "faces", n=50)
    z_fixed = np.load(faces_run / "fixed_noise.npy")
    start = plots.grid(latent.render(built[-1], z_fixed))  # what train() saved before step 1
    saved = np.asarray(Image.open(faces_run / "samples" / "epoch_000.png"))[::2, ::2]
    np.testing.assert_array_equal(start, saved)


def test_a_grayscale_run_cannot_be_scored(tmp_path, tiny_cfg):
    train(tiny_cfg.replace(epochs=1), "digits", tmp_path / "d", progress=False)
    with pytest.raises(ValueError, match="RGB"):
        scoring.score_run(tmp_path / "d", "faces", n=10)


def test_cli_on_faces_prints_the_report(tmp_path, capsys):
    run = tmp_path / "cli_faces"
    code = cli.main(["train", "--data", "faces:256", "--out", str(run), "--epochs", "1",
                     "--width", "8", "--batch-size", "64", "--score-n", "200"])
    assert code == 0
    out = capsys.readouterr().out
    assert "probe Frechet distance" in out and (run / "report.json").is_file()


def test_score_log_scores_every_epoch_as_score_run_does(tmp_path):
    run, n = tmp_path / "scored", 80
    cfg = DCGANConfig(resolution=SIZE, width=8, batch_size=64, epochs=2)
    train(cfg, "faces:256", run, progress=False,
          extra_callbacks=[scoring.ScoreLog(run, "faces", n)])
    cols = runlog.read_columns(run / scoring.SCORES_FILE)
    np.testing.assert_array_equal(cols["epoch"], [1, 2])
    assert cols["fd"][0] != cols["fd"][1]  # each epoch scores the generator of that epoch
    assert 0 < cols["train_seconds"][0] < cols["train_seconds"][1]
    assert cols["fd"][-1] == pytest.approx(scoring.score_run(run, "faces", n=n).fd_trained)
    # The same score computed from scratch: a fresh real draw, the checkpoint's generator.
    probe = probes.get_probes("faces", SIZE)
    real, _ = procedural.make("faces", n, seed=scoring.REAL_SEEDS[0], size=SIZE)
    fake = to_uint8(load_run(run).generate(fixed_noise(cfg, n, scoring.NOISE_SEED)))
    assert cols["fd"][-1] == pytest.approx(probes.probe_fd(probe, fake, real), rel=1e-3)
    for key, rate in probe.attribute_rates(fake).items():
        assert cols[f"rate_{key}"][-1] == pytest.approx(rate)

    # A row past the checkpoint (as an older checkpoint restored by hand leaves) is dropped
    # on resume, the epoch is scored again, and the training time carries on.
    with open(run / scoring.SCORES_FILE, newline="") as f:
        header = next(csv.reader(f))
    stale = {key: 999 for key in header} | {"epoch": 3, "fd": -1}
    with open(run / scoring.SCORES_FILE, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=header).writerow(stale)
    train(cfg.replace(epochs=3), None, run, resume=True, progress=False,
          extra_callbacks=[scoring.ScoreLog(run, "faces", n)])
    resumed = runlog.read_columns(run / scoring.SCORES_FILE)
    np.testing.assert_array_equal(resumed["epoch"], [1, 2, 3])
    np.testing.assert_array_equal(resumed["fd"][:2], cols["fd"])
    assert resumed["fd"][2] > 0
    assert cols["train_seconds"][1] < resumed["train_seconds"][2] < 999


def test_reference_points_are_the_reports_floor_and_grow_with_blur(faces_run):
    points = scoring.reference_points(scoring.Scorer(DCGANConfig(resolution=SIZE), "faces", 300))
    floor = scoring.score_run(faces_run, "faces", n=300).fd_real_vs_real
    assert points["a second real draw (the floor)"] == pytest.approx(floor, rel=1e-6)
    blurs = [points[f"Gaussian blur, sigma {s} px"] for s in ("0.5", "0.75", "1")]
    assert floor < blurs[0] < blurs[1] < blurs[2]
    assert points["pixel noise, sd 8 of 255"] < points["pixel noise, sd 24 of 255"]
    # Independent check of one point: blur by hand with scipy, score with the probes.
    from scipy.ndimage import gaussian_filter

    probe = probes.get_probes("faces", SIZE)
    real, _ = procedural.load("faces", 300, seed=scoring.REAL_SEEDS[0], size=SIZE)
    second, _ = procedural.load("faces", 300, seed=scoring.REAL_SEEDS[1], size=SIZE)
    blurred = np.stack([np.stack([gaussian_filter(im[..., c].astype(float), 1.0,
                                                  mode="mirror", truncate=3.0)
                                  for c in range(3)], -1) for im in second])
    by_hand = probes.probe_fd(probe, blurred.round().clip(0, 255).astype(np.uint8), real)
    assert by_hand == pytest.approx(points["Gaussian blur, sigma 1 px"], rel=0.1)
