"""Scoring a run trained on procedural data: probe Frechet distance and attribute rates.

The main job (`python -m dcgan_tf train`) ends with this report. It answers two questions
with numbers instead of by eye:

* How close are the samples to the data? The probe Frechet distance (see
  dcgan_tf.groundtruth.probes) of generated vs held-out real images, next to the same
  distance for an untrained generator (the ceiling) and for a second real draw (the floor:
  a finite sample is never at zero).
* Does the generator draw every attribute about as often as the data has it? A collapsed
  generator (one face over and over) shows up as rates near 0 or 1.

`ScoreLog` measures the same after every epoch of a run (the ablation runner's curves).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import keras
import numpy as np

from dcgan_tf.config import InputError
from dcgan_tf import checkpoint, seeds
from dcgan_tf import train as train_module  # build_gan looked up per call: tests wrap it
from dcgan_tf.fileio import write_json
from dcgan_tf.groundtruth import probes, procedural
from dcgan_tf.inference import render
from dcgan_tf.health.metrics import frechet_distance
from dcgan_tf.runlog import append_rows, keep_rows, read_rows
from dcgan_tf.train import fixed_noise, load_run

REAL_SEEDS = seeds.SCORING_REAL  # held-out real draws (dcgan_tf.seeds)
NOISE_SEED = seeds.SCORING_NOISE  # the latent vectors of the scored samples
SCORES_FILE = "scores.csv"  # ScoreLog's per-epoch scores in a run folder


@dataclass
class RunReport:
    """The scores of one run; `summary()` prints them, `report.json` in the run keeps them."""

    name: str
    resolution: int
    n: int
    epochs: int
    fd_trained: float
    fd_untrained: float
    fd_real_vs_real: float
    rates_generated: dict = field(default_factory=dict)
    rates_real: dict = field(default_factory=dict)
    # With cfg.g_ema, fd_trained scores the weight average that samples come from, and this
    # the G being trained (None without an average).
    fd_trained_plain: float | None = None

    def summary(self) -> str:
        rows = [(f"trained generator ({self.epochs} epochs)", self.fd_trained)]
        if self.fd_trained_plain is not None:
            rows = [(f"trained generator ({self.epochs} epochs), weight average",
                     self.fd_trained),
                    ("trained generator, plain G", self.fd_trained_plain)]
        rows += [("untrained generator", self.fd_untrained),
                 ("second real draw (the floor)", self.fd_real_vs_real)]
        width = max(len(label) for label, _ in rows)
        lines = [
            f"probe Frechet distance on {self.n} {self.name} images at "
            f"{self.resolution}x{self.resolution} (lower is closer to the data):",
            *(f"  {label:{width}s} {value:10.2f}" for label, value in rows),
            "share of images in which the probes see each attribute:",
            f"  {'attribute':12s} {'generated':>10s} {'real':>8s}",
        ]
        for key, real in self.rates_real.items():
            lines.append(f"  {key:12s} {self.rates_generated[key]:10.3f} {real:8.3f}")
        return "\n".join(lines)


class Scorer:
    """What scoring a generator against procedural `name` data needs, prepared once.

    The probes at the model's resolution, the features of n held-out real images
    (REAL_SEEDS[0]) and n latent vectors (NOISE_SEED): score_run and ScoreLog both score
    through this, so a per-epoch FD and the final report's FD are the same measurement.
    """

    def __init__(self, cfg, name: str = "faces", n: int = 2_000, where="this run"):
        if cfg.channels != 3:
            raise InputError(f"{where}: the {name} probes read RGB images, this run has "
                             f"{cfg.channels} channel(s)")
        if n < 2:
            raise InputError(f"n={n}: need at least two images per set")
        self.name, self.n, self.resolution = name, n, cfg.resolution
        self.probe = probes.get_probes(name, cfg.resolution)
        self.real, _ = procedural.load(name, n, seed=REAL_SEEDS[0], size=cfg.resolution)
        self.real_features = self.probe.features(self.real)
        self.z = fixed_noise(cfg, n, NOISE_SEED)

    def images(self, gan, plain: bool = False) -> np.ndarray:
        """uint8 images for the scorer's fixed latent vectors: from the DCGAN's sampler
        (its weight average under cfg.g_ema), or from the G being trained if `plain`."""
        if not plain:
            return render(gan, self.z)
        return render(lambda z: gan.generator(z, training=False), self.z,
                      pixel_range=gan.cfg.pixel_range)

    def fd(self, images) -> float:
        """Probe Frechet distance of `images` to the held-out real draw."""
        return frechet_distance(self.probe.features(images), self.real_features)

    def rates(self, images) -> dict[str, float]:
        """Share of `images` in which the probes see each binary attribute."""
        return self.probe.attribute_rates(images)


def score_run(run_dir, name: str = "faces", n: int = 2_000) -> RunReport:
    """Score the last checkpoint of `run_dir` against procedural `name` data; writes
    RUN/report.json and returns the report."""
    run_dir = Path(run_dir)
    gan = load_run(run_dir)
    cfg = gan.cfg
    scorer = Scorer(cfg, name, n, where=run_dir)
    real2, _ = procedural.load(name, n, seed=REAL_SEEDS[1], size=cfg.resolution)
    fake = scorer.images(gan)
    # Seeded as train() seeds it before building: exactly the generator the run started
    # from, so the figure does not depend on what the process drew before.
    keras.utils.set_random_seed(cfg.seed)
    untrained = scorer.images(train_module.build_gan(cfg))
    report = RunReport(
        name=name, resolution=cfg.resolution, n=n,
        epochs=checkpoint.saved_epoch(run_dir),
        fd_trained=scorer.fd(fake), fd_untrained=scorer.fd(untrained),
        fd_real_vs_real=scorer.fd(real2),
        rates_generated=scorer.rates(fake), rates_real=scorer.rates(scorer.real),
        fd_trained_plain=scorer.fd(scorer.images(gan, plain=True)) if gan.g_ema else None)
    write_json(run_dir / "report.json", asdict(report))
    return report


class ScoreLog(keras.callbacks.Callback):
    """Scores the generator after every epoch: one row per epoch in RUN/scores.csv.

    Columns: epoch, fd (probe FD, see Scorer), rate_<attribute> per binary attribute, fd_plain
    (with cfg.g_ema: the FD of the G being trained, `fd` being the weight average's) and
    train_seconds: the time spent in training steps so far, from each epoch's start to its
    last step (not the end-of-epoch callbacks, not the scoring). A resumed run first drops
    the rows past its checkpoint, as StepLog does, and carries the time on.
    """

    def __init__(self, run_dir, name: str = "faces", n: int = 500):
        super().__init__()
        self.path = Path(run_dir) / SCORES_FILE
        self.name, self.n = name, n
        self.scorer, self.seconds, self.resumed = None, 0.0, False
        self.start = self.last_step = 0.0

    def on_train_begin(self, logs=None):
        self.scorer = Scorer(self.model.cfg, self.name, self.n, where=self.path.parent)
        self.resumed = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self.resumed:  # the first epoch of this fit() is the one resumed from
            keep_rows(self.path, "epoch", epoch)
            self.seconds = _last_seconds(self.path)
            self.resumed = True
        self.start = self.last_step = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last_step = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += self.last_step - self.start
        images = self.scorer.images(self.model)
        rates = {f"rate_{k}": v for k, v in self.scorer.rates(images).items()}
        row = {"epoch": epoch + 1, "fd": self.scorer.fd(images), **rates}
        if self.model.g_ema is not None:
            row["fd_plain"] = self.scorer.fd(self.scorer.images(self.model, plain=True))
        row["train_seconds"] = round(self.seconds, 3)
        append_rows(self.path, [row], list(row))


def _last_seconds(path: Path) -> float:
    rows = read_rows(path)
    return float(rows[-1]["train_seconds"]) if rows else 0.0


def _blur(sigma):
    return lambda x: np.stack([cv2.GaussianBlur(im, (0, 0), sigma).reshape(im.shape)
                               for im in x])


def _noise(sd):
    def add(x):
        rng = np.random.default_rng(0)
        return np.clip(x + rng.normal(0, sd, x.shape), 0, 255).round().astype(np.uint8)
    return add


def _halved(x):
    side = x.shape[1]
    return np.stack([cv2.resize(cv2.resize(im, (side // 2, side // 2),
                                           interpolation=cv2.INTER_AREA), (side, side),
                                interpolation=cv2.INTER_LINEAR).reshape(im.shape)
                     for im in x])


# Real images made a little worse: what a given probe FD looks like (benchmarks/quality.py).
DEGRADATIONS = {
    "a second real draw (the floor)": lambda x: x,
    "Gaussian blur, sigma 0.5 px": _blur(0.5),
    "Gaussian blur, sigma 0.75 px": _blur(0.75),
    "Gaussian blur, sigma 1 px": _blur(1.0),
    "half resolution, scaled back up": _halved,
    "pixel noise, sd 8 of 255": _noise(8),
    "pixel noise, sd 24 of 255": _noise(24),
}


def reference_points(scorer: Scorer) -> dict[str, float]:
    """The FD `scorer` gives a second real draw (score_run's floor), as is and under each of
    DEGRADATIONS: the ruler a generator's FD is read against."""
    second, _ = procedural.load(scorer.name, scorer.n, seed=REAL_SEEDS[1],
                                size=scorer.resolution)
    return {label: scorer.fd(change(second)) for label, change in DEGRADATIONS.items()}
