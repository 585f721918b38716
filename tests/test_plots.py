"""Plot helpers the chapters share (dcgan_tf.plots)."""

import numpy as np

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
