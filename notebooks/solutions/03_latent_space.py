"""Solutions to chapter 3's exercises. Each block runs in the notebook's variables (np, z0,
z1...), so names the notebook defines are not imported here."""
# ruff: noqa: F821

# %% MY_DIP
# |z0 + z1|^2 = |z0|^2 + |z1|^2 + 2 z0.z1, and z0.z1 is near 0 for independent centred z:
# the midpoint's norm is about sqrt(2) |z| / 2 = |z| / sqrt(2).
MY_DIP = np.linalg.norm((z0 + z1) / 2) / np.mean([np.linalg.norm(z0), np.linalg.norm(z1)])

# %% MY_SLERP_MID
# Direction: Shoemake's formula on the unit vectors; norm: halfway between the two norms.
r0, r1 = np.linalg.norm(z0), np.linalg.norm(z1)
u0, u1 = z0 / r0, z1 / r1
theta = np.arccos(np.clip(u0 @ u1, -1, 1))
direction = (np.sin(0.5 * theta) * u0 + np.sin(0.5 * theta) * u1) / np.sin(theta)
MY_SLERP_MID = direction * (r0 + r1) / 2
