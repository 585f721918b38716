"""Every fixed seed the kit draws with, in one table: no two jobs may share one.

Drawn data (dcgan_tf.groundtruth.procedural) with the same seed, name and size are the same
images, so a seed used twice means one job sees the other's data: a probe scored on the rooms
it trained on, or a held-out "real" set that something else trained on. Latent vectors drawn
with one seed are likewise the same z. tests/test_seeds.py checks the table has no repeats.

A run's own seed (DCGANConfig.seed: weights, training noise, shuffling) is not in the table:
the user sets it. What a run derives from it is an offset, listed below.
"""

# Offsets from DCGANConfig.seed, each a separate numpy stream of the run.
FIXED_NOISE_OFFSET = 1  # the z of the sample grids (fixed_noise.npy)
MONITOR_Z_OFFSET = 2  # the health monitor's fixed z
MONITOR_REAL_OFFSET = 3  # which real images the health monitor compares with

# Drawn data sets (name, n and size vary; the seed alone must not repeat).
DRAWN_TRAIN, DRAWN_HELD_OUT = 0, 1  # a source's "train" split and its held-out split
PROBE_TRAIN, PROBE_VAL = 7_001, 7_002  # the attribute probes' training and held-out draws
REPRESENTATION_EVAL = 8_001  # chapter 5's labelled set
SCORING_REAL = (9_001, 9_002)  # the real sets a run's samples are scored against
NETWORK_IMAGES = 9_003  # chapter 6: fresh rooms for guided backprop
SEGMENTER_TRAIN, SEGMENTER_TEST = 9_011, 9_012  # chapter 6: the window segmenter's rooms

# Latent vectors.
NETWORK_BOXES, NETWORK_DROP = 9_004, 9_005  # chapter 6: the rooms boxed, the z of the drop
SCORING_NOISE = 12_345  # the z of the samples a run is scored on


def table() -> dict[str, int]:
    """Every fixed seed by name (offsets excluded), pairs split into _0 and _1."""
    out = {}
    for name, value in globals().items():
        if name.isupper() and not name.endswith("_OFFSET"):
            values = value if isinstance(value, tuple) else (value,)
            for i, v in enumerate(values):
                out[f"{name}_{i}" if len(values) > 1 else name] = v
    return out
