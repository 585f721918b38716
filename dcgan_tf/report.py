"""Scoring a run trained on procedural data: probe Frechet distance and attribute rates.

The main job (`python -m dcgan_tf train`) ends with this report. It answers two questions
with numbers instead of by eye:

* How close are the samples to the data? The probe Frechet distance (see dcgan_tf.probes)
  of generated vs held-out real images, next to the same distance for an untrained
  generator (the ceiling) and for a second real draw (the floor: a finite sample is never
  at zero).
* Does the generator draw every attribute about as often as the data has it? A collapsed
  generator (one face over and over) shows up as rates near 0 or 1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dcgan_tf.fileio import write_text

REAL_SEEDS = (9_001, 9_002)  # held-out draws: neither the GAN's (0, 1) nor the probes' seeds
NOISE_SEED = 12_345  # the latent vectors of the scored samples


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

    def summary(self) -> str:
        lines = [
            f"probe Frechet distance on {self.n} {self.name} images at "
            f"{self.resolution}x{self.resolution} (lower is closer to the data):",
            f"  trained generator ({self.epochs} epochs) {self.fd_trained:10.2f}",
            f"  untrained generator          {self.fd_untrained:10.2f}",
            f"  second real draw (the floor) {self.fd_real_vs_real:10.2f}",
            "share of images in which the probes see each attribute:",
            f"  {'attribute':12s} {'generated':>10s} {'real':>8s}",
        ]
        for key, real in self.rates_real.items():
            lines.append(f"  {key:12s} {self.rates_generated[key]:10.3f} {real:8.3f}")
        return "\n".join(lines)


def score_run(run_dir, name: str = "faces", n: int = 2_000) -> RunReport:
    """Score the last checkpoint of `run_dir` against procedural `name` data; writes
    RUN/report.json and returns the report."""
    import keras

    from dcgan_tf import checkpoint, procedural, probes
    from dcgan_tf.latent import render
    from dcgan_tf.train import build_gan, fixed_noise, load_run

    run_dir = Path(run_dir)
    gan = load_run(run_dir)
    cfg = gan.cfg
    if cfg.channels != 3:
        raise ValueError(f"{run_dir}: the {name} probes read RGB images, this run has "
                         f"{cfg.channels} channel(s)")
    if n < 2:
        raise ValueError(f"n={n}: need at least two images per set")
    probe = probes.get_probes(name, cfg.resolution)
    real, _ = procedural.load(name, n, seed=REAL_SEEDS[0], size=cfg.resolution)
    real2, _ = procedural.load(name, n, seed=REAL_SEEDS[1], size=cfg.resolution)
    z = fixed_noise(cfg, n, NOISE_SEED)
    fake = render(gan, z)
    # Seeded as train() seeds it before building: exactly the generator the run started
    # from, so the figure does not depend on what the process drew before.
    keras.utils.set_random_seed(cfg.seed)
    untrained = render(build_gan(cfg), z)

    real_feats = probe.features(real)
    fd = {key: probes.frechet_distance(probe.features(images), real_feats)
          for key, images in (("trained", fake), ("untrained", untrained), ("real", real2))}
    report = RunReport(
        name=name, resolution=cfg.resolution, n=n,
        epochs=checkpoint.saved_epoch(run_dir),
        fd_trained=fd["trained"], fd_untrained=fd["untrained"], fd_real_vs_real=fd["real"],
        rates_generated=probe.attribute_rates(fake), rates_real=probe.attribute_rates(real))
    write_text(run_dir / "report.json", json.dumps(asdict(report), indent=1) + "\n")
    return report
