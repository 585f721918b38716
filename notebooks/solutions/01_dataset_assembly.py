"""Solutions to chapter 1's exercises. Each block runs in the notebook's variables (cfg,
truth...), so names the notebook defines are not imported here."""
# ruff: noqa: F821

# %% MY_SQUARE
# side = round(100 * (1 + 2 * 0.2)) = 140 around the centre (140, 110): corner (70, 40).
x, y, w, h = 100, 60, 80, 100
side = round(max(w, h) * (1 + 2 * cfg.margin))
MY_SQUARE = [round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side, side]

# %% MY_TRUE_PAIRS
MY_TRUE_PAIRS = sum(len(group) * (len(group) - 1) // 2 for group in truth)
