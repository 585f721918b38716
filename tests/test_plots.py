"""Plot helpers the chapters share (dcgan_tf.plots)."""

import numpy as np
import pytest

from dcgan_tf import plots
from dcgan_tf.groundtruth import procedural


def test_tint_blends_each_mask_with_its_colour_and_leaves_the_rest():
    images = np.full((1, 4, 4, 3), 100, np.uint8)
    masks = {f"{o}_mask": np.zeros((1, 4, 4), bool) for o in procedural.MASK_COLOURS}
    masks["window_mask"][0, 0, 0] = True
    masks["bed_mask"][0, 3, 3] = True
    out = procedural.tint(images, masks, objects=("window", "bed"), strength=0.5)
    assert tuple(out[0, 0, 0]) == (50, 177, 50)  # 0.5 * 100 + 0.5 * (0, 255, 0), floored
    assert tuple(out[0, 3, 3]) == (177, 50, 177)
    assert (out[0, 1:3] == 100).all() and (images == 100).all()  # input untouched
    # Objects not asked for are not tinted, even where their mask is set.
    masks["door_mask"][0, 1, 1] = True
    assert tuple(procedural.tint(images, masks, objects=("window",))[0, 1, 1]) == (100, 100, 100)


def test_show_png_keeps_the_pictures_aspect(tmp_path):
    plots.save_png(np.zeros((20, 40, 3), np.uint8), tmp_path / "wide.png")
    fig = plots.show_png(tmp_path / "wide.png", width=8)
    assert tuple(fig.get_size_inches()) == (8, 4)
    assert fig.axes[0].get_images()[0].get_array().shape[:2] == (20, 40)


def test_health_figure_draws_every_signal_with_its_thresholds(tmp_path):
    from dcgan_tf import runlog
    from dcgan_tf.health import figure, monitor

    rng = np.random.default_rng(0)
    rows = [{k: float(rng.uniform(0.1, 0.9)) for k in monitor.COLUMNS} for _ in range(3)]
    for epoch, row in enumerate(rows, 1):
        row.update(epoch=epoch, saturation_real=0.02)
    runlog.write_rows(tmp_path / "health.csv", rows, monitor.COLUMNS)
    t = monitor.thresholds()
    fig = figure.health_figure(tmp_path / "health.csv", tmp_path / "health.png", t)
    axes = {ax.get_title(): ax for ax in fig.axes}
    assert set(axes) >= {"Gradient norms", "Spread of D's loss within each epoch",
                         "D(x) and D(G(z))", "Saturation"}

    def drawn(title):
        return {line.get_label(): np.asarray(line.get_ydata()).tolist()
                for line in axes[title].lines}

    grads, losses = drawn("Gradient norms"), drawn("Spread of D's loss within each epoch")
    for key in ("d_grad_norm", "g_grad_norm"):
        assert grads[key] == [r[key] for r in rows]
        net = key[0].upper()
        assert grads[f"divergence: {net} above"] == [t["explode_factor"] * rows[0][key]] * 2
    assert losses["loss_std"] == [r["loss_std"] for r in rows]
    d = drawn("D(x) and D(G(z))")
    assert d["d_real"] == [r["d_real"] for r in rows]
    assert d["D wins: D(x) above"] == [t["d_wins_above"]] * 2
    assert d["D wins: D(G(z)) below"] == [t["d_wins_fake_below"]] * 2
    sat = drawn("Saturation")
    assert sat["saturation"] == [r["saturation"] for r in rows]
    assert sat["saturation flagged above"] == pytest.approx([0.02 + t["saturation_margin"]] * 3)
