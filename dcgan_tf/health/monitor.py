"""A training-health monitor: cheap signals of the failures the paper's guidelines prevent.

After every epoch the monitor renders a fixed batch of latent vectors and compares it with a
fixed batch of real images, in two spaces: small pixels (8x8, any data) and, for the
drawn sets, the features their probes give (passed in by train()). It writes one row per
epoch to RUN/health.csv, adds the values to the epoch's logs (so TensorBoard draws them),
redraws RUN/health.png, and says in plain words, once per signal, when one crosses its line:

  collapse     samples far less diverse than the data (diversity = mean pairwise distance)
  d_wins       D(x) near 1 and D(G(z)) near 0 for epochs in a row: G gets almost no signal
  oscillation  the fixed-noise samples keep swinging while they get no closer to the data
  divergence   a NaN/inf loss, or gradient norms grown far beyond the first epoch's
  saturation   far more of G's outputs at +-1 than the data has pixels at its extremes

The flags, with their first epoch and message, are kept in RUN/health.json. `watch` builds
the monitor for a run; pass it to train() as `monitor=watch`.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from dcgan_tf import seeds
from dcgan_tf.callbacks import epoch_steps
from dcgan_tf.config import DCGANConfig
from dcgan_tf.data import drawn_set, load_images, procedural_name
from dcgan_tf.fileio import read_json, write_json
from dcgan_tf.health.figure import health_figure
from dcgan_tf.health.metrics import diversity, frechet_distance, pixel_features, saturation
from dcgan_tf.inference import in_batches
from dcgan_tf.prior import sample_z
from dcgan_tf.runlog import append_rows, keep_rows, read_rows

SIGNALS = ("collapse", "d_wins", "oscillation", "divergence", "saturation")
COLUMNS = ("epoch", "diversity_pixels", "diversity_probes", "swing", "fd_pixels", "loss_std",
           "d_real", "d_fake", "d_grad_norm", "g_grad_norm", "saturation", "saturation_real")
N_SAMPLES = 512  # fixed z and real images compared every epoch
# Thresholds, chosen from measured runs (docs/results.md, "The stability lab"):
COLLAPSE_BELOW = 0.5  # diversity ratio, in either space, at two checks in a row
COLLAPSE_RISING = 1.25  # ... unless it grew by this factor since the last check
COLLAPSE_SEVERE = 0.25  # below this twice: collapse even while rising
D_WINS_ABOVE, D_WINS_FAKE_BELOW, D_WINS_EPOCHS = 0.95, 0.05, 2
SWING_ABOVE, OSCILLATION_EPOCHS = 0.8, 2  # swing in units of the data's own spread
EXPLODE_FACTOR = 20.0  # gradient norm over the first epoch's
SATURATION_MARGIN = 0.1  # share of outputs at +-1 beyond the data's share
HEALTH_CSV, HEALTH_JSON, HEALTH_PNG = "health.csv", "health.json", "health.png"


def thresholds() -> dict[str, float]:
    """The lines the monitor's signals are judged against (health.json keeps a copy)."""
    return {"collapse_below": COLLAPSE_BELOW, "collapse_rising": COLLAPSE_RISING,
            "collapse_severe": COLLAPSE_SEVERE,
            "d_wins_above": D_WINS_ABOVE, "d_wins_fake_below": D_WINS_FAKE_BELOW,
            "swing_above": SWING_ABOVE, "explode_factor": EXPLODE_FACTOR,
            "saturation_margin": SATURATION_MARGIN}


def read_flags(run_dir) -> dict[str, int]:
    """Signal -> first flagged epoch, from a run's health.json ({} if none)."""
    path = Path(run_dir) / HEALTH_JSON
    if not path.is_file():
        return {}
    return {f["signal"]: int(f["epoch"]) for f in read_json(path)["flags"]}


def summary(run_dir) -> str:
    """One line on what the monitor flagged in a run, and where its figure is."""
    seen = ", ".join(f"{s} from epoch {e}" for s, e in read_flags(run_dir).items())
    return (f"health monitor: {seen or 'nothing flagged'}; signals per epoch: "
            f"{Path(run_dir) / HEALTH_PNG}")


def watch(source, cfg: DCGANConfig, run_dir, start_epoch: int = 0, *,
          probes: bool = True) -> HealthMonitor:
    """The health monitor for a run: fixed z, real images from `source`, and for the drawn
    sets their probes' features (`probes=False` keeps it to pixels: no probes to train)."""
    # Up to 2,048 images read without caching, N_SAMPLES of them picked by a numpy RNG: no
    # TF random op, so the monitor leaves the run's weights and noise exactly as they were.
    ds = load_images(source, cfg.resolution, cfg.channels, cache="none").take(2048)
    pool = np.stack(list(ds.as_numpy_iterator()))
    rng = np.random.default_rng(cfg.seed + seeds.MONITOR_REAL_OFFSET)
    real = pool[rng.permutation(len(pool))[:N_SAMPLES]]
    drawn, features = drawn_set(source), None
    if drawn is not None and cfg.channels == 3 and probes:  # the probes know RGB only
        features = drawn.features(cfg.resolution)
    z = sample_z(cfg, N_SAMPLES, seed=cfg.seed + seeds.MONITOR_Z_OFFSET)
    return HealthMonitor(run_dir, real, z, cfg.pixel_range, features,
                         procedural_name(source) or "images", start_epoch)


class HealthMonitor(keras.callbacks.Callback):
    """Computes the health signals after every epoch; see the module docstring.

    `real` are uint8 training images (N_SAMPLES of them is plenty), `z` a fixed batch of
    latent vectors, `features` a function from uint8 images to feature vectors (for the
    drawn sets, their probes' features: see dcgan_tf.data.DrawnSet) or None. List it before
    NaNGuard (it records a divergence before the guard stops the run) and TensorBoard.
    """

    def __init__(self, run_dir, real, z, pixel_range=(-1.0, 1.0), features=None,
                 data_name: str = "images", start_epoch: int = 0, verbose: bool = True):
        super().__init__()
        self.dir = Path(run_dir)
        self.real = np.asarray(real)
        self.z = np.asarray(z, np.float32)
        self.pixel_range, self.features, self.data_name = pixel_range, features, data_name
        self.start_epoch, self.verbose = start_epoch, verbose

    # ---------------------------------------------------------------- set-up and records
    def on_train_begin(self, logs=None):
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.start_epoch == 0:  # a fresh run: nothing of an earlier attempt stays
            for name in (HEALTH_CSV, HEALTH_JSON, HEALTH_PNG):
                (self.dir / name).unlink(missing_ok=True)
        keep_rows(self.dir / HEALTH_CSV, "epoch", self.start_epoch)
        self.history = self._read_history()
        self.flags = [f for f in self._read_json().get("flags", [])
                      if f["epoch"] <= self.start_epoch]
        self.real_pixels = pixel_features(self.real)
        self.real_diversity = diversity(self.real_pixels)
        self.real_saturation = saturation(self.real)
        if self.features is not None:
            self.real_probe = self.features(self.real)
            self.real_probe_diversity = diversity(self.real_probe)
        # The swing of the first epoch is measured from the generator it starts with.
        self.previous = pixel_features(self._samples(), self.pixel_range)

    def _read_history(self) -> list[dict]:
        return [{k: float(v) if v else math.nan for k, v in row.items()}
                for row in read_rows(self.dir / HEALTH_CSV)]

    def _read_json(self) -> dict:
        path = self.dir / HEALTH_JSON
        return read_json(path, default={})

    def _samples(self) -> np.ndarray:
        # The G being trained, not the weight average samples come from (cfg.g_ema): the
        # monitor watches training, and an average would smooth away its oscillation.
        return in_batches(lambda z: np.asarray(self.model.generator(z, training=False)),
                          self.z, 256)

    # --------------------------------------------------------------------- every epoch
    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        # The epoch's steps, read once from the device (the model's StepBuffer).
        steps, bad = epoch_steps(self.model)
        if bad is not None:  # a diverged epoch has nothing healthy left to measure
            step, key, value = bad
            self._flag("divergence", epoch + 1, f"training diverged in epoch {epoch + 1}, "
                       f"step {step}: {key} became {value}")
            return
        self.d_losses = list(steps["d_loss"])
        row = self.measure(epoch + 1, logs)
        self.history.append(row)
        append_rows(self.dir / HEALTH_CSV, [row], COLUMNS)
        logs.update({f"health/{k}": v for k, v in row.items()
                     if k != "epoch" and math.isfinite(v)})
        self.check(row)
        self._write_json()
        health_figure(self.dir / HEALTH_CSV, self.dir / HEALTH_PNG, thresholds())

    def on_train_end(self, logs=None):
        if self.verbose:
            print(summary(self.dir), flush=True)

    def measure(self, epoch: int, logs) -> dict[str, float]:
        """This epoch's row of health.csv (see COLUMNS)."""
        images = self._samples()
        pixels = pixel_features(images, self.pixel_range)
        swing = np.linalg.norm(pixels - self.previous, axis=1).mean() / self.real_diversity
        self.previous = pixels
        probe_ratio = math.nan
        if self.features is not None:
            probe_ratio = diversity(self.features(images)) / self.real_probe_diversity
        finite = [v for v in self.d_losses if math.isfinite(v)]
        return {
            "epoch": epoch,
            "diversity_pixels": diversity(pixels) / self.real_diversity,
            "diversity_probes": probe_ratio,
            "swing": float(swing),
            "fd_pixels": frechet_distance(pixels, self.real_pixels),
            "loss_std": float(np.std(finite)) if finite else math.nan,
            "d_real": float(logs.get("D(x)", math.nan)),
            "d_fake": float(logs.get("D(G(z))", math.nan)),
            "d_grad_norm": float(logs.get("d_grad_norm", math.nan)),
            "g_grad_norm": float(logs.get("g_grad_norm", math.nan)),
            "saturation": saturation(images, self.pixel_range),
            "saturation_real": self.real_saturation,
        }

    # ----------------------------------------------------------------------- verdicts
    def check(self, row: dict) -> None:
        """Flag every signal this epoch's row (and the ones before it) crosses."""
        e, hist = int(row["epoch"]), self.history
        self._check_collapse(e)
        recent = hist[-D_WINS_EPOCHS:]
        if len(recent) == D_WINS_EPOCHS and all(
                r["d_real"] > D_WINS_ABOVE and r["d_fake"] < D_WINS_FAKE_BELOW for r in recent):
            self._flag("d_wins", e, f"D winning at epoch {e}: D(x) {row['d_real']:.2f} and "
                       f"D(G(z)) {row['d_fake']:.2f} for {D_WINS_EPOCHS} epochs in a row; "
                       "G gets almost no signal")
        self._check_oscillation(e)
        self._check_gradients(row, e)
        excess = row["saturation"] - row["saturation_real"]
        if excess > SATURATION_MARGIN:
            self._flag("saturation", e, f"G's output saturating at epoch {e}: "
                       f"{row['saturation']:.0%} of its pixels are at the ends of the range, "
                       f"against {row['saturation_real']:.0%} in real {self.data_name}")

    def _check_collapse(self, e: int) -> None:
        # A young generator draws near-average images: low diversity that rises fast. So
        # collapse is low diversity at two checks in a row, the second not clearly higher,
        # or a diversity so low twice that rising from it does not count (near-copies). Each
        # space is compared with itself; the message names the lowest one that collapsed.
        if len(self.history) < 2:
            return
        before, now = (self._diversity(r) for r in self.history[-2:])
        for space, ratio in sorted(now.items(), key=lambda kv: kv[1]):
            was = before.get(space, math.nan)
            low = ratio < COLLAPSE_BELOW and was < COLLAPSE_BELOW
            severe = ratio < COLLAPSE_SEVERE and was < COLLAPSE_SEVERE
            if severe or (low and ratio <= COLLAPSE_RISING * was):
                self._flag("collapse", e, f"mode collapse suspected at epoch {e}: samples are "
                           f"{ratio:.0%} as diverse as real {self.data_name} (in {space})")
                return

    @staticmethod
    def _diversity(row: dict) -> dict[str, float]:
        """Space -> diversity ratio, for the spaces the row has a finite ratio in."""
        spaces = {"pixels": row["diversity_pixels"], "probe features": row["diversity_probes"]}
        return {k: v for k, v in spaces.items() if math.isfinite(v)}

    def _check_oscillation(self, e: int) -> None:
        hist, k = self.history, OSCILLATION_EPOCHS
        if len(hist) <= k:
            return
        best_before = min(r["fd_pixels"] for r in hist[:-k])
        recent = hist[-k:]
        if all(r["swing"] > SWING_ABOVE for r in recent) and \
                min(r["fd_pixels"] for r in recent) >= best_before:
            self._flag("oscillation", e, f"oscillation suspected at epoch {e}: the fixed-noise "
                       f"samples moved {recent[-1]['swing']:.0%} of the data's spread per epoch "
                       f"for {k} epochs without getting closer to the data")

    def _check_gradients(self, row: dict, e: int) -> None:
        first = self.history[0]
        for net, key in (("D", "d_grad_norm"), ("G", "g_grad_norm")):
            value, base = row[key], first[key]
            if not math.isfinite(value):
                self._flag("divergence", e, f"{net}'s gradient norm became {value} at epoch {e}")
                return
            if base > 0 and value > EXPLODE_FACTOR * base:
                self._flag("divergence", e, f"gradient norms exploding at epoch {e}: {net}'s "
                           f"is {value:.3g}, {value / base:.0f}x its first epoch's")
                return

    def _flag(self, signal: str, epoch: int, message: str) -> None:
        if any(f["signal"] == signal for f in self.flags):
            return  # each signal is reported once, at its first epoch
        self.flags.append({"signal": signal, "epoch": epoch, "message": message})
        if self.verbose:
            print(f"\nmonitor: {message}", flush=True)
        self._write_json()  # now: a divergence stops the run right after this step

    def _write_json(self) -> None:
        record = {"flags": self.flags, "thresholds": thresholds()}
        write_json(self.dir / HEALTH_JSON, record)


