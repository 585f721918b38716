"""dcgan_tf: the DCGAN paper (Radford et al., 2016) in Keras 3, as a small teaching package.

Modules, in reading order:
  config      DCGANConfig, the one dataclass behind every run, and the small/full profiles
  prior       the latent prior: the one place z is drawn
  fileio      atomic file writes (unique temp file, fsync, rename), used for every file
  images      the one image reader (EXIF, 16-bit, alpha, decompression-bomb guard)
  paths       runs_dir(): the one runs folder for every chapter
  models      the generator and discriminator, built from the paper's guidelines
  diagrams    figures that explain the model: block diagrams, the G loss's gradients
  gan         DCGAN, a keras.Model with the custom train_step
  data        one entry point for every data source, yielding batches in [-1, 1]
  callbacks   sample grids, loss curves, checkpoints, the NaN guard
  checkpoint  crash-safe checkpoints of a whole run
  monitor     the training-health monitor: collapse, D winning, oscillation, divergence
  train       train() and sample(): what the command line and notebooks call
  plots       image grids and figures
  drawing     display lists, anti-aliased layers and lighting for the procedural data
  faces       procedural faces: factors and the parts a face is drawn from
  rooms       procedural bedrooms: factors and the parts a room is drawn from
  procedural  faces and bedrooms drawn with known generating factors (sampling, workers, cache)
  probes      attribute classifiers for the procedural data, and the probe Frechet distance
  report      a run's scores: probe Frechet distance and attribute rates, per epoch too
  ablation    the stability lab: configurations x seeds, results, table and figures
  latent      interpolation, walks, concept-vector arithmetic
  latent_measures  chapter 3's measurement protocol
  features    D as a feature extractor: pooled conv features, training-set BatchNorm
  linear_eval the linear L2-SVM protocol: splits, label draws, C on validation
  representation  chapter 5's tasks, methods and results
  guided      guided backpropagation of D's units (paper §6.2; chapter 6, being written)
  forgetting  window maps in G: find them, drop them, measure what is drawn (§6.3.1)
  colab_links the kit's address for Colab badges and set-up cells
  cli         python -m dcgan_tf train | sample
"""

import os

# TensorFlow turns on its oneDNN CPU kernels by default only on CPUs with AVX512-VNNI or AMX.
# Elsewhere (most laptops, AMD servers, this kit's CI) they are off, and the DCGAN step runs
# about 1.5x slower (benchmarks/train_step.py). The switch is read when TensorFlow loads, so
# it takes effect only if dcgan_tf is imported first; an explicit user setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from dcgan_tf.config import DCGANConfig, cache_dir, profile_name  # noqa: E402

__all__ = ["DCGANConfig", "cache_dir", "profile_name"]
__version__ = "0.1.0"
