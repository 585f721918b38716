"""Drawing primitives of the procedural data sets: display lists, layers and lighting.

A picture is drawn in three passes (dcgan_tf.groundtruth.faces and
dcgan_tf.groundtruth.rooms use all three):

  1. Geometry, for a whole batch at once. A part of the picture (an eye, a window) is a
     polygon whose points are numpy arrays over the batch, so its shape is computed once for
     n images. `DisplayList.add` stores it; nothing is drawn yet.
  2. Rasterising, image by image. `DisplayList.draw(i, layers)` replays the polygons of
     image i in the order they were added (later ones cover earlier ones) with OpenCV's
     anti-aliased fillPoly/polylines at 1/16-pixel precision. Layers:
       "img"   RGB plus an aux channel that tells pass 3 how to light each pixel:
               0 unlit (backgrounds, sky), LIT lit by the scene's light, HAIR lit and
               textured (hair strands, wood grain); anti-aliased edges blend these too
       "soft"  a grey multiply layer (SOFT_ONE means 1.0) for shadows, blush and glows,
               blurred before use so that it reads as soft light
       "ids"   optional object ids, drawn without anti-aliasing: the masks of what shows
  3. Compositing, for a block of images with numpy (`composite`): a shading gain (Lambert
     light on the head, light falling off with depth in a room) and a texture gain where
     aux says so, times the soft layer, then an area-downsample to the output size.

Canvases are 64x64 (128x128 for size 128): size 32 is drawn at 64 and averaged down, so the
small pictures are as anti-aliased as the large ones.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from dcgan_tf.config import InputError

LIT, HAIR = 128, 255  # aux channel: 0 unlit, 128 lit by the scene's light, 255 lit + texture
SOFT_ONE = 200  # the soft (multiply) layer's 1.0, so it can brighten up to 255/200
_SHIFT = 4  # OpenCV sub-pixel bits: coordinates are drawn in 1/16 pixel


class DisplayList:
    """Polygons for a batch of n images, drawn image by image in the order they were added.

    The geometry of the whole batch is computed with numpy when a shape is added, so drawing
    one image is only OpenCV calls (anti-aliased, 1/16-pixel precision).
    """

    def __init__(self, n: int):
        self.n = n
        self.items = []

    def add(self, contours, color, where=True, layer="img", stroke=None, obj=0):
        """Add polygons (filled, or open lines `stroke` pixels wide) to every image `where`.

        contours: (n, k, 2) arrays in canvas pixels (pixel i spans [i, i + 1]); color: (n, C)
        or (C,) in 0..255. obj > 0 also paints the object id (without anti-aliasing) into the
        "ids" layer, so the objects drawn last own the pixels: masks of what is visible.
        """
        n = self.n
        pts = []
        for c in contours:
            # OpenCV puts pixel centres on whole numbers: shift by half a pixel, so that a
            # picture centred at R / 2 is exactly mirror-symmetric
            p = np.round((np.asarray(c, np.float64) - 0.5) * (1 << _SHIFT)).astype(np.int32)
            pts.append(np.ascontiguousarray(np.broadcast_to(p, (n,) + p.shape[-2:])))
        color = np.asarray(color, np.float64)
        color = np.broadcast_to(color, (n, color.shape[-1])).tolist()
        where = np.broadcast_to(np.asarray(where, bool).reshape(-1), (n,))
        if stroke is not None:
            stroke = np.broadcast_to(np.maximum(np.round(stroke), 1).astype(int).reshape(-1),
                                     (n,)).tolist()
        self.items.append((layer, pts, color, where, stroke, obj))

    def draw(self, i: int, layers: dict) -> None:
        """Rasterise image i into `layers` {"img": (R, R, 4), "soft": (R, R, 3), "ids"?}."""
        ids = layers.get("ids")
        for layer, pts, color, where, stroke, obj in self.items:
            if not where[i]:
                continue
            polys = [p[i] for p in pts]
            if stroke is None:
                cv2.fillPoly(layers[layer], polys, color[i], cv2.LINE_AA, _SHIFT)
                if obj and ids is not None:
                    cv2.fillPoly(ids, polys, obj, cv2.LINE_8, _SHIFT)
            else:
                cv2.polylines(layers[layer], polys, False, color[i], stroke[i], cv2.LINE_AA,
                              _SHIFT)
                if obj and ids is not None:
                    cv2.polylines(ids, polys, False, obj, stroke[i], cv2.LINE_8, _SHIFT)


def ellipse(cx, cy, rx, ry, k=24, t0=0.0, t1=2 * np.pi):
    """x, y arrays (broadcast over the batch) of k points on an ellipse arc."""
    t = np.linspace(t0, t1, k, endpoint=(t1 - t0) < 2 * np.pi - 1e-9)
    return cx + rx * np.cos(t), cy + ry * np.sin(t)


def rgba(rgb, aux=0):
    """Colours in [0, 1] (n, 3) or (3,) -> 0..255 plus the aux channel."""
    rgb = np.clip(np.asarray(rgb, np.float64), 0, 1) * 255
    aux = np.broadcast_to(np.float64(aux), rgb.shape[:-1] + (1,))
    return np.concatenate([rgb, aux], -1)


def soft(level):
    """A grey multiply-layer colour: level 1.0 leaves the picture unchanged."""
    level = np.asarray(level, np.float64)[..., None]
    return np.clip(level * SOFT_ONE, 0, 255) * np.ones(3)


def hsv(h, s, v):
    """Vectorised HSV (all in [0, 1]) -> RGB (n, 3) in [0, 1]."""
    h, s, v = np.broadcast_arrays(np.asarray(h, np.float64), s, v)
    i = np.floor(h * 6).astype(int) % 6
    fr = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - fr * s), v * (1 - (1 - fr) * s)
    table = np.stack([np.stack(c, -1) for c in
                      [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]])
    return table[i, np.arange(len(i))]


def _noise_bank(count, size, seed, cells):
    """Smooth random textures (mean 0, sd ~1), deterministic."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size), np.float32)
    for i in range(count):
        small = rng.standard_normal(cells).astype(np.float32)
        out[i] = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    return out


@functools.lru_cache(maxsize=None)
def bank(kind: str, size: int) -> np.ndarray:
    """16 texture gains (16, size, size) around 1, made once per process: hair 'strands',
    curly hair and beard 'speckle', wood 'grain'."""
    cells = {"strands": (4, size // 2), "speckle": (size // 3, size // 3),
             "grain": (size // 2, 3)}[kind]
    amount = {"strands": 0.2, "speckle": 0.25, "grain": 0.08}[kind]
    seed = {"strands": 11, "speckle": 12, "grain": 13}[kind]
    return 1 + amount * _noise_bank(16, size, seed, cells)


@functools.lru_cache(maxsize=None)
def grid(R: int):
    """Pixel-centre coordinates (y, x) of an R x R canvas, in canvas units [0, 1]."""
    return (np.mgrid[0:R, 0:R].astype(np.float32) + np.float32(0.5)) / np.float32(R)


def canvas_size(size: int) -> int:
    """The canvas a picture of `size` is drawn on (32 is drawn at 64 and averaged down)."""
    if size not in (32, 64, 128):
        raise InputError(f"size must be 32, 64 or 128, got {size}")
    return max(size, 64)


def downsample(img: np.ndarray, size: int) -> np.ndarray:
    """(n, R, R, ...) float -> (n, size, size, ...) by block averaging (area resampling)."""
    k = img.shape[1] // size
    if k == 1:
        return img
    n, r = img.shape[0], img.shape[1]
    return img.reshape((n, r // k, k, r // k, k) + img.shape[3:]).mean((2, 4))


def composite(img: np.ndarray, soft: np.ndarray, shade, texture, size: int) -> np.ndarray:
    """Light the drawn layers and reduce them to uint8 pictures of the output size.

    img (m, R, R, 4) RGB + aux, soft (m, R, R, 3) multiply layer, shade and texture
    (m, R, R) gains applied where aux says lit / textured. All float32: this is the hot loop.
    """
    aux = img[..., 3].astype(np.float32)
    lit = np.minimum(aux * np.float32(1 / LIT), 1)
    textured = np.clip((aux - LIT) * np.float32(1 / (HAIR - LIT)), 0, 1)
    gain = (1 + lit * (shade - 1)) * (1 + textured * (texture - 1))
    gain *= np.float32(1 / (255 * SOFT_ONE))
    rgb = img[..., :3] * gain[..., None]
    rgb *= soft
    rgb = downsample(rgb, size)
    rgb *= np.float32(255)
    rgb += np.float32(0.5)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def rasterise(dl: DisplayList, idx, R: int, blur, fill=None, ids: bool = False):
    """Draw images `idx` of a display list: (img, soft, ids or None) canvases.

    blur: the soft layer's Gaussian sigma in pixels, one per image of idx; fill: the RGB the
    canvases start from (m, R, R, 3), else black.
    """
    img = np.zeros((len(idx), R, R, 4), np.uint8)
    if fill is not None:
        img[..., :3] = fill
    soft = np.full((len(idx), R, R, 3), SOFT_ONE, np.uint8)
    id_layer = np.zeros((len(idx), R, R), np.uint8) if ids else None
    for j, i in enumerate(idx):
        layers = {"img": img[j], "soft": soft[j]}
        if ids:
            layers["ids"] = id_layer[j]
        dl.draw(i, layers)
        soft[j] = cv2.GaussianBlur(soft[j], (0, 0), blur[j])
    return img, soft, id_layer
