"""Solutions to chapter 3's exercises. Each block runs in the notebook's variables (np, z0,
z1...), so names the notebook defines are not imported here."""
# ruff: noqa: F821

# %% MY_DIP
# |z0 + z1|^2 = |z0|^2 + |z1|^2 + 2 z0.z1, and z0.z1 is near 0 for independent centred z:
# the midpoint's norm is about sqrt(2) |z| / 2 = |z| / sqrt(2).
MY_DIP = np.linalg.norm((z0 + z1) / 2) / np.mean([np.linalg.norm(z0), np.linalg.norm(z1)])

# %% MY_SLERP_MID
theta = np.arccos(np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1)))
MY_SLERP_MID = (np.sin(0.5 * theta) * z0 + np.sin(0.5 * theta) * z1) / np.sin(theta)
