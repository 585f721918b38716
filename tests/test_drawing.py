"""Drawing primitives of the procedural data, each against an independent reference."""

import colorsys

import cv2
import numpy as np

from dcgan_tf.groundtruth import drawing


def test_hsv_matches_colorsys():
    rng = np.random.default_rng(0)
    h, s, v = rng.random((3, 200))
    h[:6] = np.arange(6) / 6  # the sector boundaries
    expected = np.array([colorsys.hsv_to_rgb(*hsv) for hsv in zip(h, s, v)])
    assert np.allclose(drawing.hsv(h, s, v), expected, atol=1e-12)


def test_downsample_is_area_resampling():
    img = np.random.default_rng(1).random((3, 64, 64, 3)).astype(np.float32)
    expected = np.stack([cv2.resize(x, (32, 32), interpolation=cv2.INTER_AREA) for x in img])
    assert np.allclose(drawing.downsample(img, 32), expected, atol=1e-6)
    assert drawing.downsample(img, 64) is img


def test_a_centred_shape_draws_left_right_symmetric():
    # Pixel i spans [i, i + 1], so a shape centred on the canvas draws (nearly: OpenCV's
    # anti-aliasing is not exactly symmetric) its own mirror image; half a pixel off shows.
    x, y = drawing.ellipse(16, 16, 9.3, 5.7, 40)
    dl = drawing.DisplayList(2)
    dl.add([np.stack([x, y], -1)[None]], [200, 100, 50, 0], where=[True, False])
    dl.add([np.stack([x + 0.5, y], -1)[None]], [200, 100, 50, 0], where=[False, True])
    centred, shifted = np.zeros((2, 32, 32, 4), np.uint8)
    dl.draw(0, {"img": centred})
    dl.draw(1, {"img": shifted})

    def asymmetry(img):
        return np.abs(img.astype(int) - img[:, ::-1]).max()

    assert asymmetry(centred) <= 10 < 80 <= asymmetry(shifted)
    assert 2 < len(np.unique(centred[..., 0]))  # anti-aliased: edge values in between


def test_composite_lights_only_what_aux_marks():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (1, 64, 64, 3)).astype(np.uint8)
    aux = np.zeros((1, 64, 64, 1), np.uint8)
    aux[:, :, 32:] = drawing.LIT  # right half lit
    soft = np.full((1, 64, 64, 3), drawing.SOFT_ONE, np.uint8)
    soft[:, 32:] = drawing.SOFT_ONE // 2  # bottom half in a shadow of 0.5
    shade = np.full((1, 64, 64), 0.8, np.float32)
    texture = np.full((1, 64, 64), 1.5, np.float32)  # ignored: nothing is marked HAIR
    out = drawing.composite(np.concatenate([rgb, aux], -1), soft, shade, texture, 64)
    gain = np.ones((64, 64))
    gain[:, 32:] *= 0.8
    gain[32:] *= 0.5
    expected = np.clip(np.round(rgb[0] * gain[..., None]), 0, 255)
    assert np.abs(out[0].astype(int) - expected).max() <= 1
