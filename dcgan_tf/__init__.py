"""dcgan_tf: the DCGAN paper (Radford et al., 2016) in Keras 3, as a small teaching package.

The package map, in reading order. The core is a DCGAN and nothing else: read it first, in
one sitting. Each sub-package may import the core and the sub-packages listed before it,
never one after it (tests/test_layout.py checks this map and that rule).

The core:
  config       DCGANConfig, the one dataclass behind every run; the small/full profiles
  prior        the latent prior: the one place z is drawn
  seeds        every fixed seed the kit draws with, each used once
  fileio       atomic file writes, and JSON read and written one way
  runlog       the CSV logs of runs and studies: append, trim, read
  images       the one image reader (EXIF, 16-bit, alpha, decompression-bomb guard)
  paths        runs_dir(): the one runs folder for every chapter
  models       the generator and discriminator, built from the paper's guidelines
  gan          DCGAN, a keras.Model with the custom train_step
  data         one entry point for every data source, yielding batches in [-1, 1]
  inference    a network over many inputs in batches; G(z) as uint8 images
  callbacks    sample grids, loss logs, checkpoints, the NaN guard
  checkpoint   crash-safe checkpoints of a whole run; the last epochs' G; G as .keras
  devices      where a run trains: the device line, XLA's "auto", the strategy, CPU warning
  train        train() and sample(): what the command line and the notebooks call
  plots        image grids and the run's figures
  cliargs      what both command lines share: one-line errors, number types, exit codes
  cli          python -m dcgan_tf train | sample

health: watching a run train (train(..., monitor=health.watch) attaches it)
  health/metrics  Frechet distance, diversity and saturation of image sets
  health/monitor  the training-health monitor: collapse, D winning, oscillation, divergence
  health/figure   health.png: the monitor's signals per epoch, with their lines

groundtruth: data drawn with known factors, and scoring runs against them
  groundtruth/drawing     display lists, anti-aliased layers and lighting
  groundtruth/faces       faces: factors and the parts a face is drawn from
  groundtruth/rooms       bedrooms: factors and the parts a room is drawn from
  groundtruth/procedural  both sets drawn with their factors (sampling, workers, cache)
  groundtruth/probes      attribute classifiers for the drawn sets, and their features
  groundtruth/scoring     a run's scores: probe Frechet distance and attribute rates

studies: the chapters' experiments
  studies/diagrams         figures and checks that explain the model (chapters 0 and 2)
  studies/latent           interpolation, walks, concept-vector arithmetic (chapter 3)
  studies/latent_measures  chapter 3's measurement protocol, with its seeds
  studies/latent_plots     chapter 3's figures
  studies/ablation         the stability lab: configurations x seeds, table, figures (ch. 4)
  studies/features         D as a feature extractor: pooled conv features (chapter 5)
  studies/linear_eval      the linear L2-SVM protocol: splits, label draws, C on validation
  studies/representation   chapter 5's methods and results
  studies/guided           guided backpropagation of D's units (chapter 6)
  studies/window_removal   G's window maps: find them, drop them, measure what is drawn
  studies/network_studies  chapter 6's two experiments end to end

course: what the chapters run, and their exercises
  course/runs         the chapters' runs: configurations, data, run folders, tasks
  course/exercises    the exercises' answer and check helpers
  course/colab_links  the kit's address for Colab badges and set-up cells
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
