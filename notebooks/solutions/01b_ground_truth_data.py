"""Solutions to chapter 1b's exercises. Each block runs in the notebook's variables (np,
procedural, room_labels...), so names the notebook defines are not imported here."""
# ruff: noqa: F821

# %% MY_DEGREES
# 0.25 * 0.75 rad = 0.1875 rad, times 180 / pi.
MY_DEGREES = 0.25 * procedural.YAW_RADIANS * 180 / np.pi

# %% MY_WINDOW_SHARE
MY_WINDOW_SHARE = room_labels["window_mask"].mean()
