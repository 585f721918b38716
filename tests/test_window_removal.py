"""The window-forgetting experiment (dcgan_tf.studies.window_removal) on tiny stand-ins."""

import json

import keras
import numpy as np
import pytest

from dcgan_tf.config import DCGANConfig, InputError
from dcgan_tf.models import build_generator
from dcgan_tf.studies import window_removal as F


@pytest.fixture(scope="module")
def tiny_g():
    keras.utils.set_random_seed(0)
    return build_generator(DCGANConfig(resolution=32, width=8))


def test_boxes_from_masks_one_box_per_component_above_min_area():
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 2:6, 3:10] = True  # 4 x 7
    masks[0, 20:30, 25:27] = True  # 10 x 2
    masks[0, 15, 15:17] = True  # 2 pixels: noise
    boxes = F.boxes_from_masks(masks, min_area=4)
    assert sorted(boxes[0]) == [[3, 2, 10, 6], [25, 20, 27, 30]]
    assert boxes[1] == []


def test_iou():
    a = np.zeros((1, 4, 4), bool)
    b = a.copy()
    a[0, :2] = True  # 8 pixels
    b[0, 1:3] = True  # 8 pixels, 4 shared
    assert F.iou(a, b) == pytest.approx(4 / 12)
    assert F.iou(a, a) == 1.0


def test_segmenter_trains_and_scores_on_fresh_rooms():
    seg = F.train_window_segmenter(size=32, n_train=48, epochs=1, width=4)
    assert seg.output.shape[1:] == (32, 32, 1)
    score = F.segmenter_iou(seg, n=16, size=32)
    assert 0.0 <= score <= 1.0


def test_load_boxes_reads_the_documented_format(tmp_path):
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"0": [[3, 4, 12, 15]], "2": [],
                                "5": [[0, 0, 8, 8], [20, 2, 30, 9]]}))
    assert F.load_boxes(path, n=6, size=32) == {
        0: [[3, 4, 12, 15]], 2: [], 5: [[0, 0, 8, 8], [20, 2, 30, 9]]}


@pytest.mark.parametrize("content, message", [
    ("not json", "cannot read box file"),
    ("[[1, 2, 3, 4]]", "expected an object keyed by sample index"),
    ('{"a": []}', "entry 'a': keys must be sample indices"),
    ('{"9": []}', "entry '9': sample index out of range"),
    ('{"1": [1, 2, 3, 4]}', "entry '1', box 0: expected \\[x0, y0, x1, y1\\]"),
    ('{"1": [[1, 2, 3]]}', "entry '1', box 0: expected"),
    ('{"1": [[1.5, 2, 3, 4]]}', "whole pixels"),
    ('{"1": [[0, 0, 4, 4], [5, 2, 3, 4]]}', "entry '1', box 1: need 0 <= x0 < x1"),
    ('{"1": [[0, 0, 40, 4]]}', "outside the 32x32 image"),
    ('{"1": {"box": [0, 0, 4, 4]}}', "expected a list of"),
])
def test_load_boxes_errors_name_file_and_entry(tmp_path, content, message):
    path = tmp_path / "hand.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        F.load_boxes(path, n=6, size=32)
    assert str(path) in str(err.value)


def test_box_mask_scales_boxes_to_the_layer():
    m = F.box_mask([[4, 4, 12, 12], [31, 0, 32, 1]], image_size=32, side=16)
    want = np.zeros((16, 16), bool)
    want[2:6, 2:6] = True
    want[0, 15] = True  # a 1-pixel box still marks the cell it touches
    np.testing.assert_array_equal(m, want)


def test_logistic_regression_finds_planted_window_maps():
    rng = np.random.default_rng(1)
    n, side, c, size = 40, 16, 10, 32
    acts = rng.normal(0, 1, (n, side, side, c))
    boxes = {}
    for i in range(n):
        x0, y0 = 2 * rng.integers(0, 12, 2)  # even: a box covers whole 2x2 cells
        boxes[i] = [[int(x0), int(y0), int(x0) + 8, int(y0) + 6]]
        inside = F.box_mask(boxes[i], size, side)
        acts[i][inside, :3] += 1.5  # maps 0-2 fire on windows
        acts[i][inside, 3] -= 1.5  # map 3 is switched off by them
    maps, w = F.find_window_maps(acts, boxes, size)
    assert {0, 1, 2} <= set(maps) and 3 not in maps
    assert set(np.argsort(-w)[:3]) == {0, 1, 2}
    assert w[3] < 0
    _, y = F.window_examples(acts, boxes, size)
    assert y.sum() == len(y) - y.sum() == n * 4 * 3  # 8x6 px -> 4x3 cells, balanced


def test_window_examples_needs_a_box():
    with pytest.raises(ValueError, match="no sample has a window box"):
        F.window_examples(np.zeros((2, 4, 4, 3)), {0: [], 1: []}, 8)


def test_drop_maps_zeroes_exactly_those_channels(tiny_g):
    before = [w.copy() for w in tiny_g.get_weights()]
    z = np.random.default_rng(2).uniform(-1, 1, (4, 100)).astype(np.float32)
    _, acts = F.layer_activations(tiny_g, z)
    dropped = F.drop_maps(tiny_g, [1, 5])
    tap = keras.Model(dropped.input, dropped.get_layer("act2_drop").output)
    out = np.asarray(tap(z, training=False))
    want = acts.copy()
    want[..., [1, 5]] = 0
    assert np.abs(acts[..., [1, 5]]).max() > 0  # there was something to drop
    np.testing.assert_allclose(out, want, atol=1e-6)
    np.testing.assert_allclose(F.drop_maps(tiny_g, [])(z, training=False),
                               tiny_g(z, training=False), atol=1e-6)
    assert not np.allclose(dropped(z, training=False), tiny_g(z, training=False))
    for a, b in zip(before, tiny_g.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="has 8 maps"):
        F.drop_maps(tiny_g, [8])


class _StubProbe:
    """Brightness stands in for windows, darkness for doors."""

    def predict(self, images):
        m = np.asarray(images, np.float64).mean((1, 2, 3)) / 255.0
        return {"window": m, "door": 1 - m, "lamp": np.full(len(m), 0.9),
                "picture": np.zeros(len(m)), "window_area": m / 10}


def test_measure_drop_structure(tiny_g):
    out = F.measure_drop(tiny_g, list(range(8)), _StubProbe(), n=12)
    assert out["n"] == 12 and out["layer"] == "act2" and out["maps"] == list(range(8))
    assert sorted(out["control_maps"]) == list(range(8))  # as many as dropped: all
    assert set(out["variants"]) == {"original", "windows dropped", "random dropped"}
    for stats in out["variants"].values():
        assert set(stats) == {"window_rate", "door_rate", "lamp_rate", "picture_rate",
                              "window_area"}
        assert stats["lamp_rate"] == 1.0 and stats["picture_rate"] == 0.0
    v = out["variants"]
    assert out["door_change"] == v["windows dropped"]["door_rate"] - v["original"]["door_rate"]
    assert v["windows dropped"]["window_area"] != v["original"]["window_area"]
    assert out["bed"].startswith("not measured")
    part = F.measure_drop(tiny_g, [0, 1], _StubProbe(), n=6, control_seed=3)
    assert len(part["control_maps"]) == 2


def test_drop_figure_shows_each_variant_of_the_same_z_as_a_row(tiny_g, tmp_path):
    z = np.random.default_rng(3).uniform(-1, 1, (5, 100)).astype(np.float32)
    images = F.render_variants(tiny_g, z, [0, 1], F.random_maps(8, 2))
    fig = F.drop_figure(images, tmp_path / "drop.png", k=4)
    assert (tmp_path / "drop.png").stat().st_size > 1000
    assert [ax.get_title() for ax in fig.axes] == ["original", "windows dropped",
                                                   "random dropped"]
    for ax, name in zip(fig.axes, images, strict=True):
        assert len(ax.images) == 1
        picture = np.asarray(ax.images[0].get_array())
        assert picture.shape == (32 + 4, 4 * 34 + 2, 3)  # one strip of 4, 2-pixel borders
        strip = np.full(picture.shape, 255, np.uint8)
        for j in range(4):  # the first 4 of the 5 samples, left to right
            strip[2:34, 2 + 34 * j:34 + 34 * j] = images[name][j]
        np.testing.assert_array_equal(picture, strip)
    shown = [np.asarray(ax.images[0].get_array()) for ax in fig.axes]
    assert not np.array_equal(shown[0], shown[1])  # the drop changed the pictures
