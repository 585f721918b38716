"""Solutions to chapter 2's exercises. Each block runs in the notebook's variables (np, cfg,
G...), so names the notebook defines are not imported here."""
# ruff: noqa: F821

# %% MY_PROJECT_WEIGHTS
# One weight from every entry of z to every number of the first 4x4xC stack.
first = G.get_layer("reshape").output.shape[1:]  # (4, 4, C)
MY_PROJECT_WEIGHTS = cfg.z_dim * int(np.prod(first))

# %% MY_G_LOSS
# Cross-entropy against the label 1 is -log D(G(z)), the same for every fake.
MY_G_LOSS = -np.log(0.2)

# %% MY_OLD_SHARE
# The weights (1 - d) d**k for k >= 100 sum to d**100.
MY_OLD_SHARE = 0.99 ** 100
