"""Solutions to chapter 6's exercises. Each block runs in the notebook's variables (np,
study, found...), so names the notebook defines are not imported here. PREDICTION is a
prediction: its check measures the answer, which depends on the run."""
# ruff: noqa: F821

# %% MY_WINDOW_CHANCE
# The images behind every unit of the trained D, and the mean of their window masks.
units = study["results"]["trained"][0]
rows = [u.index for channel in units for u in units[channel]]
MY_WINDOW_CHANCE = study["labels"]["window_mask"][rows].mean()

# %% DROPPED_SHARE
DROPPED_SHARE = len(found.maps) / found.n_maps
