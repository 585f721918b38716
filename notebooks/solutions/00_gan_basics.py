"""Solutions to chapter 0's exercises. Each block runs in the notebook's variables (np, P,
ASKED, cfg...), so names the notebook defines are not imported here."""
# ruff: noqa: F821

# %% MY_GRADIENT
# d/dl log(1 - sigmoid(l)) = -1 / (1 - p) * p (1 - p) = -p.
MY_GRADIENT = -0.01

# %% MY_SHAPE
# G doubles 4x4 until it reaches ASKED: batch, ASKED, ASKED, colour channels.
MY_SHAPE = (8, ASKED, ASKED, cfg.channels)

# %% MY_TRANSPOSED
# 4 * 2**n = ASKED, one transposed convolution per doubling.
MY_TRANSPOSED = int(np.log2(ASKED // 4))
