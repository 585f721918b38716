"""Solutions to chapter 4's exercises. Each block runs in the notebook's variables (np,
metrics, real...), so names the notebook defines are not imported here. PREDICTED_D_WINS is
a prediction: its check compares it with the run, and there is no one right answer."""
# ruff: noqa: F821

# %% MY_RATIO
# One face copied 64 times has no spread at all: its diversity is 0, so the ratio is 0.
from dcgan_tf.groundtruth import procedural

faces, _ = procedural.load("faces", 64, seed=5, size=32)
same = metrics.pixel_features(np.repeat(faces[:1], 64, axis=0))
MY_RATIO = metrics.diversity(same) / metrics.diversity(metrics.pixel_features(faces))
