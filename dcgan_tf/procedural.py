"""Procedural faces and bedrooms whose generating factors are known, with labels and masks.

The paper judged its latent-space experiments (PAPER.md 6.1-6.3) by eye on faces and
bedrooms. These two data sets are drawn from known factors, so the same experiments can be
scored with numbers (see dcgan_tf.probes):

  faces   head yaw, smile (curvature and a smiling flag), glasses, beard, hair style and
          colour, skin tone, background, light direction and small position/scale/roll jitter
  rooms   a bedroom in one-point perspective with a bed (always), 0-2 windows, a door, a
          bedside lamp and a picture, each with a presence flag and a visible-pixel mask

Every image is a pure function of its factor row, so `draw_faces(factors)` redraws a face
with one factor changed (a yaw sweep, glasses on/off) and `make_rooms(..., factors=
{"window_count": 0})` redraws the same rooms without windows. Images are drawn with OpenCV's
anti-aliased polygons on a 64x64 canvas (128x128 for size 128) and shaded with numpy; size 32
is an area-downsample of the 64 canvas.

Conventions: images uint8 (n, size, size, 3); `yaw` in [-1, 1] is where the face looks in the
picture, -1 towards the left edge, +1 towards the right edge (about +-43 degrees), and the
far side of the head (ear, hair) shows on the other side. Binary factors are drawn 50/50.

Determinism: images are drawn in chunks of CHUNK; chunk c takes its factors from
SeedSequence([seed, c]), so results do not depend on the worker count, and the first k
images of make_faces(n, seed) are make_faces(k, seed).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np

VERSION = 2  # bump whenever a drawing or sampling change alters the images: it keys caches
CHUNK = 500
NAMES = ("faces", "rooms")
FACE_BINARY = ("smiling", "glasses", "beard")
ROOM_BINARY = ("window", "door", "lamp", "picture")
ROOM_OBJECTS = ("bed", "window", "door", "lamp", "picture")

HAIR_STYLES = ("short", "long", "bald", "curly")
HAIR_COLORS = ("black", "brown", "blond", "auburn", "grey")
BACKGROUNDS = ("slate", "sand", "sage", "rose", "charcoal", "sky")
YAW_RADIANS = 0.75  # yaw = +-1 turns the head this far

_SHIFT = 4  # OpenCV sub-pixel bits: coordinates are drawn in 1/16 pixel
_HAIR_RGB = np.array([[0.10, 0.07, 0.06], [0.36, 0.22, 0.12], [0.86, 0.70, 0.42],
                      [0.58, 0.24, 0.11], [0.72, 0.72, 0.74]], np.float32)
_SKIN_RGB = np.array([[1.00, 0.87, 0.76], [0.94, 0.74, 0.60], [0.78, 0.56, 0.40],
                      [0.55, 0.36, 0.24], [0.34, 0.22, 0.15]], np.float32)
_BG_RGB = np.array([  # (top colour, bottom colour) per background
    [[0.55, 0.62, 0.72], [0.30, 0.36, 0.46]], [[0.90, 0.84, 0.70], [0.66, 0.58, 0.44]],
    [[0.62, 0.74, 0.58], [0.34, 0.46, 0.32]], [[0.92, 0.72, 0.76], [0.66, 0.44, 0.50]],
    [[0.30, 0.30, 0.32], [0.12, 0.12, 0.14]], [[0.62, 0.82, 0.96], [0.36, 0.58, 0.82]],
], np.float32)
_EYE_RGB = np.array([[0.30, 0.18, 0.08], [0.22, 0.42, 0.70], [0.28, 0.48, 0.28]], np.float32)
_FRAME_RGB = np.array([[0.05, 0.05, 0.06], [0.30, 0.15, 0.07], [0.50, 0.06, 0.08],
                       [0.08, 0.12, 0.35]], np.float32)


_LIT, _HAIR = 128, 255  # aux channel: 0 unlit, 128 lit by the head's light, 255 lit + strands
_SOFT_ONE = 200  # the soft (multiply) layer's 1.0, so it can brighten up to 255/200


# --------------------------------------------------------------------------- drawing helpers


class _DisplayList:
    """Polygons for a batch of n images, drawn image by image in the order they were added.

    The geometry of the whole batch is computed with numpy when a shape is added, so drawing
    one image is only OpenCV calls (anti-aliased, 1/16-pixel precision). Layers: "img" is
    RGB plus an aux channel (_LIT, _HAIR) that tells the shading pass what to light;
    "soft" is a multiply layer (_SOFT_ONE = 1.0), blurred before use, for shadows and blush.
    """

    def __init__(self, n: int):
        self.n = n
        self.items = []

    def add(self, contours, color, where=True, layer="img", stroke=None, obj=0):
        """contours: (n, k, 2) arrays in canvas pixels (pixel i spans [i, i + 1]);
        color: (n, C) or (C,) in 0..255.

        obj > 0 also paints the object id (without anti-aliasing) into the "ids" layer, so
        the objects drawn last own the pixels: masks of what is visible.
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


def _ellipse(cx, cy, rx, ry, k=24, t0=0.0, t1=2 * np.pi):
    """x, y arrays (broadcast over the batch) of k points on an ellipse arc."""
    t = np.linspace(t0, t1, k, endpoint=(t1 - t0) < 2 * np.pi - 1e-9)
    return cx + rx * np.cos(t), cy + ry * np.sin(t)


def _rgba(rgb, aux=0):
    """Colours in [0, 1] (n, 3) or (3,) -> 0..255 plus the aux channel."""
    rgb = np.clip(np.asarray(rgb, np.float64), 0, 1) * 255
    aux = np.broadcast_to(np.float64(aux), rgb.shape[:-1] + (1,))
    return np.concatenate([rgb, aux], -1)


def _soft(level):
    """A grey multiply-layer colour: level 1.0 leaves the picture unchanged."""
    level = np.asarray(level, np.float64)[..., None]
    return np.clip(level * _SOFT_ONE, 0, 255) * np.ones(3)


def _noise_bank(count, size, seed, cells):
    """Smooth random textures (mean 0, sd ~1), made once per process, deterministic."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size), np.float32)
    for i in range(count):
        small = rng.standard_normal(cells).astype(np.float32)
        out[i] = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    return out


_CACHE: dict = {}


def _bank(kind, size):
    """Texture banks per canvas size: hair 'strands', curly/beard 'speckle', wood 'grain'."""
    key = (kind, size)
    if key not in _CACHE:
        cells = {"strands": (4, size // 2), "speckle": (size // 3, size // 3),
                 "grain": (size // 2, 3)}[kind]
        amount = {"strands": 0.2, "speckle": 0.25, "grain": 0.08}[kind]
        seed = {"strands": 11, "speckle": 12, "grain": 13}[kind]
        _CACHE[key] = 1 + amount * _noise_bank(16, size, seed, cells)
    return _CACHE[key]


def _face_backgrounds(size):
    key = ("face_bg", size)
    if key not in _CACHE:
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
        t = yy[..., None]
        glow = np.exp(-((xx - 0.5) ** 2 + (yy - 0.35) ** 2) / 0.08)[..., None]
        bg = _BG_RGB[:, None, None, 0] * (1 - t) + _BG_RGB[:, None, None, 1] * t + 0.12 * glow
        _CACHE[key] = np.clip(bg * 255 + 0.5, 0, 255).astype(np.uint8)
    return _CACHE[key]


def _downsample(img: np.ndarray, size: int) -> np.ndarray:
    """(n, R, R, ...) float -> (n, size, size, ...) by block averaging (area resampling)."""
    k = img.shape[1] // size
    if k == 1:
        return img
    n, r = img.shape[0], img.shape[1]
    return img.reshape((n, r // k, k, r // k, k) + img.shape[3:]).mean((2, 4))


def _composite(img: np.ndarray, soft: np.ndarray, shade, texture, size: int) -> np.ndarray:
    """Light the drawn layers and reduce them to uint8 pictures of the output size.

    img (m, R, R, 4) RGB + aux, soft (m, R, R, 3) multiply layer, shade and texture
    (m, R, R) gains applied where aux says lit / textured. All float32: this is the hot loop.
    """
    aux = img[..., 3].astype(np.float32)
    lit = np.minimum(aux * np.float32(1 / _LIT), 1)
    textured = np.clip((aux - _LIT) * np.float32(1 / (_HAIR - _LIT)), 0, 1)
    gain = (1 + lit * (shade - 1)) * (1 + textured * (texture - 1))
    gain *= np.float32(1 / (255 * _SOFT_ONE))
    rgb = img[..., :3] * gain[..., None]
    rgb *= soft
    rgb = _downsample(rgb, size)
    rgb *= np.float32(255)
    rgb += np.float32(0.5)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _grid(R: int):
    """Pixel-centre coordinates (y, x) of an R x R canvas, in canvas units [0, 1]."""
    key = ("grid", R)
    if key not in _CACHE:
        yy, xx = (np.mgrid[0:R, 0:R].astype(np.float32) + np.float32(0.5)) / np.float32(R)
        _CACHE[key] = (yy, xx)
    return _CACHE[key]


def _canvas_size(size: int) -> int:
    if size not in (32, 64, 128):
        raise ValueError(f"size must be 32, 64 or 128, got {size}")
    return max(size, 64)


# --------------------------------------------------------------------------- faces


def _sample_faces(rng: np.random.Generator, n: int) -> dict:
    """Independent factors for n faces (binary ones 50/50)."""
    smiling = (rng.random(n) < 0.5).astype(np.int64)
    # A gap between neutral (<= 0.05) and smiling (>= 0.45) curvature keeps the binary label
    # unambiguous while `smile` stays a continuous factor for regression and sweeps.
    smile = np.where(smiling == 1, rng.uniform(0.45, 1.0, n), rng.uniform(-0.45, 0.05, n))
    f = {
        "yaw": rng.uniform(-1, 1, n),
        "smile": smile,
        "smiling": smiling,
        "glasses": (rng.random(n) < 0.5).astype(np.int64),
        "beard": (rng.random(n) < 0.5).astype(np.int64),
        "hair_style": rng.integers(0, len(HAIR_STYLES), n),
        "hair_color": rng.integers(0, len(HAIR_COLORS), n),
        "skin_tone": rng.uniform(0, 1, n),
        "background": rng.integers(0, len(BACKGROUNDS), n),
        # nuisance factors: they vary the look and need no probe
        "eye_color": rng.integers(0, len(_EYE_RGB), n),
        "glasses_style": rng.integers(0, 2, n),
        "glasses_color": rng.integers(0, len(_FRAME_RGB), n),
        "hair_part": rng.uniform(-1, 1, n),
        "shirt_hue": rng.uniform(0, 1, n),
        "light": rng.uniform(-1, 1, n),
        "texture": rng.integers(0, 16, n),
        # jitter of the head in the frame
        "dx": rng.uniform(-0.04, 0.04, n),
        "dy": rng.uniform(-0.04, 0.04, n),
        "scale": rng.uniform(0.92, 1.08, n),
        "roll": rng.uniform(-0.12, 0.12, n),
    }
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in f.items()}


def _face_geometry(f: dict):
    """Per-image placement: centre, head half-width in pixels of a unit canvas, roll."""
    S = 0.245 * f["scale"].astype(np.float64)
    cx = 0.5 + f["dx"].astype(np.float64)
    cy = 0.44 + f["dy"].astype(np.float64)
    return cx, cy, S, f["roll"].astype(np.float64)


def _on_head(x, y, sa):
    """Squeeze x (a point on the head seen from the front) into the egg-shaped outline.

    The head narrows towards the chin, and the chin follows the yaw (`sa` = sin of it)."""
    low = np.clip(y / 1.3, 0, 1) ** 2
    return np.clip(x, -1, 1) * (1 - 0.2 * low) + 0.12 * sa * low


def _face_list(f: dict, R: int) -> _DisplayList:
    """The display list that draws the faces with factors `f` on an R x R canvas."""
    n = len(f["yaw"])
    c = {k: np.asarray(v, np.float64)[:, None] for k, v in f.items()}  # (n, 1) columns
    cx, cy, S, roll = (v[:, None] * (R if i < 3 else 1)
                       for i, v in enumerate(_face_geometry(f)))
    cr, sr = np.cos(roll), np.sin(roll)
    a = c["yaw"] * YAW_RADIANS
    sa, ca = np.sin(a), np.cos(a)
    dl = _DisplayList(n)

    def P(x, y):  # face-local coordinates (head half-width 1, y down) -> pixels
        x, y = np.broadcast_arrays(np.asarray(x, np.float64), y, np.empty((n, 1)))[:2]
        return np.stack([cx + S * (cr * x - sr * y), cy + S * (sr * x + cr * y)], -1)

    def on_face(theta):  # where a point at `theta` around the head lands, and its cosine
        return np.sin(theta + a), np.cos(theta + a)

    tone = np.clip(c["skin_tone"][:, 0] * (len(_SKIN_RGB) - 1), 0, len(_SKIN_RGB) - 1.001)
    i = tone.astype(int)
    skin = _SKIN_RGB[i] + (_SKIN_RGB[i + 1] - _SKIN_RGB[i]) * (tone - i)[:, None]
    hair = _HAIR_RGB[f["hair_color"]]
    style = f["hair_style"]
    smile = c["smile"]
    stroke = 0.065 * S  # about one pixel at 64x64, two at 128x128

    # shoulders and shirt, not rolled with the head
    hsv = np.stack([f["shirt_hue"] * 179, np.full(n, 115), np.full(n, 190)], -1)
    shirt = cv2.cvtColor(hsv[None].astype(np.uint8), cv2.COLOR_HSV2RGB)[0] / 255
    bx, by = _ellipse(cx - 0.15 * sa * S, cy + 2.25 * S, 2.0 * S, 1.0 * S, 40)
    dl.add([np.stack([bx, by], -1)], _rgba(shirt))
    dl.add([P(*_ellipse(0.1 * sa, 2.6, 2.2, 0.9, 24))], _soft(0.7), layer="soft")

    # hair behind the head: its far side shows as the head turns
    back = -0.14 * sa
    t = np.linspace(np.pi, 2 * np.pi, 20)
    top_x, top_y = back + 1.2 * np.cos(t), -0.15 + 1.3 * np.sin(t)
    long_x = np.concatenate([top_x, back + 1.25, back - 1.25], -1)
    long_y = np.concatenate([np.broadcast_to(top_y, top_x.shape),
                             np.full((n, 2), 1.75)], -1)
    dl.add([P(long_x, long_y)], _rgba(hair, _HAIR), where=style == 1)
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    r = 1.38 + 0.07 * np.sin(11 * t)
    dl.add([P(back + r * np.cos(t), -0.32 + 1.12 * r * np.sin(t))], _rgba(hair, _HAIR),
           where=style == 3)
    dl.add([P(*_ellipse(0.6 * back, -0.1, 1.07, 1.32, 40))], _rgba(hair, _HAIR),
           where=style == 0)

    # neck, with the chin's shadow on it
    dl.add([P([-0.4, 0.4, 0.52, -0.52], [0.6, 0.6, 1.95, 1.95])], _rgba(skin * 0.85, _LIT))
    dl.add([P(*_ellipse(0.15 * sa, 1.08, 0.55, 0.3, 20))], _soft(0.55), layer="soft")

    # ears: behind the head unless turned towards the viewer
    ears = []
    for s in (-1, 1):
        ex, ec = on_face(s * (np.pi / 2 + 0.06))
        erx = 0.13 + 0.05 * np.abs(ec)
        t0 = np.pi / 2 if s < 0 else -np.pi / 2  # the rim on the back-of-head side
        ears.append((ec > 0, P(*_ellipse(ex, 0.17, erx, 0.26, 21)),
                     P(*_ellipse(ex, 0.19, 0.06, 0.15, 12)),
                     P(*_ellipse(ex, 0.15, 0.8 * erx, 0.2, 9, t0, t0 + np.pi))))
    for front, ear, _, _ in ears:
        dl.add([ear], _rgba(skin * 0.92, _LIT), where=~front)

    # the head: an egg-shaped outline whose chin follows the yaw
    t = np.linspace(0, 2 * np.pi, 56, endpoint=False)
    hy = -np.cos(t) * 1.3
    dl.add([P(_on_head(np.sin(t), hy, sa), hy)], _rgba(skin, _LIT))
    for front, ear, inner, rim in ears:
        dl.add([ear], _rgba(skin * 0.95, _LIT), where=front)
        dl.add([rim], _rgba(skin * 0.6, _LIT), where=front, stroke=stroke)
        dl.add([inner], _soft(0.6), where=front, layer="soft")

    # soft modelling: eye sockets, cheeks (redder with a smile), the nose's shadow
    eyes = [on_face(s * 0.42) for s in (-1, 1)]
    for s, (ex, ec) in zip((-1, 1), eyes):
        dl.add([P(*_ellipse(ex, -0.05, 0.26 * ec, 0.17, 16))], _soft(0.7), where=ec > 0.1,
               layer="soft")
        chx, _ = on_face(s * 0.62)
        blush = 1 - (0.12 + 0.1 * np.maximum(smile, 0)) * np.array([0.3, 1.2, 1.0])
        dl.add([P(*_ellipse(chx, 0.38, 0.2 * ec, 0.14, 16))], blush * _SOFT_ONE,
               where=ec > 0.1, layer="soft")
    tip_x = 1.14 * sa
    dark = np.where(c["light"] > 0, -1.0, 1.0) * ca
    dl.add([P(np.concatenate([0.98 * sa, tip_x, tip_x + 0.17 * dark, 0.98 * sa + 0.09 * dark],
                             -1), [-0.05, 0.45, 0.52, 0.0])], _soft(0.72), layer="soft")

    # front hair, with its shadow on the forehead; a bald head gets a sheen instead
    hl_top = np.array([-0.68, -0.62, -1.2, -0.8])[style][:, None]
    phi = np.linspace(-1.55, 1.55, 17)
    line_x = np.clip(np.sin(phi + a), -1.0, 1.0) * 1.01
    line_y = hl_top + (-0.12 - hl_top) * (phi / 1.55) ** 2 + 0.12 * c["hair_part"] * phi
    t = np.linspace(1.5, -1.5, 25)
    out_x = 1.07 * np.sin(t) - 0.04 * sa
    out_y = np.broadcast_to(-1.07 * 1.3 * np.cos(t) - 0.03, out_x.shape)
    front_hair = P(np.concatenate([line_x, out_x], -1), np.concatenate([line_y, out_y], -1))
    has_hair = style != 2
    dl.add([front_hair + np.array([0, 1.0]) * 0.07 * S[..., None]], _soft(0.55),
           where=has_hair, layer="soft")
    dl.add([front_hair], _rgba(hair, _HAIR), where=has_hair)
    for s in (-1, 1):  # long hair falls in front of the ears
        inner = np.clip(np.sin(s * 1.25 + a), -1, 1)
        outer = s * 1.22 + back
        curtain_x = np.concatenate([inner, inner, outer, outer], -1)
        dl.add([P(curtain_x, [-0.3, 1.55, 1.75, -0.3])], _rgba(hair, _HAIR), where=style == 1)
    dl.add([P(*_ellipse(-0.3 * c["light"], -0.95, 0.3, 0.14, 16))], _soft(1.25),
           where=~has_hair, layer="soft")

    # brows and eyes; the irises sit on the eyeballs, so they move a little more than the lids
    brow = np.where((style == 2)[:, None], [[0.3, 0.22, 0.15]], hair * 0.75)
    iris = _EYE_RGB[f["eye_color"]]
    u = np.linspace(-1, 1, 9)
    for s, (ex, ec) in zip((-1, 1), eyes):
        seen = ec[:, 0] >= 0.12
        bxs = ex + u * 0.25 * ec
        bys = -0.34 - 0.07 * (1 - u * u) + s * 0.03 * u
        thick = 0.045 + 0.04 * (1 - np.abs(u + s * 0.4) / 1.4)
        dl.add([P(np.concatenate([bxs, bxs[:, ::-1]], -1),
                  np.concatenate([bys - thick, (bys + thick)[::-1]]))],
               _rgba(brow, _LIT), where=seen)
        ew, eh = 0.2 * ec + 0.02, 0.11
        dl.add([P(*_ellipse(ex, 0.0, ew, eh, 20))], _rgba([0.96, 0.94, 0.9], _LIT), where=seen)
        irx = 0.09 * np.maximum(ec, 0.45)
        ix = np.clip(ex + 0.07 * sa, ex - ew + 0.8 * irx, ex + ew - 0.8 * irx)
        dl.add([P(*_ellipse(ix, 0.01, irx, 0.095, 16))], _rgba(iris, _LIT), where=seen)
        dl.add([P(*_ellipse(ix, 0.01, 0.5 * irx, 0.05, 12))], _rgba([0.02, 0.02, 0.02], _LIT),
               where=seen)
        dl.add([P(*_ellipse(ix - 0.03, -0.03, 0.025, 0.025, 8))], _rgba([1, 1, 1], _LIT),
               where=seen)
        lid_x, lid_y = _ellipse(ex, 0.0, 1.08 * ew, 1.15 * eh, 12, np.pi, 2 * np.pi)
        lid2_x, lid2_y = _ellipse(ex, 0.0, ew, 0.7 * eh, 12, np.pi, 2 * np.pi)
        dl.add([P(np.concatenate([lid_x, lid2_x[:, ::-1]], -1),
                  np.concatenate([lid_y, lid2_y[::-1]]))], _rgba([0.1, 0.06, 0.05], _LIT),
               where=seen)

    # nose: a highlight on the bridge, the side line that shows when turned, nostrils
    dl.add([P(np.concatenate([0.99 * sa, tip_x], -1), [0.0, 0.38])],
           _rgba(np.minimum(skin * 1.15, 1), _LIT), stroke=stroke)
    side = np.where(sa >= 0, 1.0, -1.0)
    k = 0.25 + 0.5 * np.abs(sa)
    dl.add([P(np.concatenate([0.99 * sa, tip_x + 0.05 * side, tip_x - 0.06 * side * ca], -1),
              [0.05, 0.47, 0.52])], _rgba(skin * (1 - 0.65 * k), _LIT), stroke=stroke)
    for s in (-1, 1):
        dl.add([P(*_ellipse(1.02 * np.sin(s * 0.1 + a), 0.5, 0.055 * ca + 0.02, 0.035, 10))],
               _rgba(skin * 0.45, _LIT))

    # beard: from the sideburns round the jaw and up to the moustache, laid on the head's
    # surface (angles around the head) so that it turns with the yaw
    psi = np.linspace(-np.pi / 2, np.pi / 2, 21)
    top_y = np.broadcast_to(0.05 + 0.52 * np.cos(psi) ** 3, (n, 21))
    low_y = np.broadcast_to(0.25 + 1.2 * np.cos(psi) ** 0.6, (n, 21))
    beard_y = np.concatenate([top_y, low_y[:, ::-1]], -1)
    beard_x = np.concatenate([np.sin(psi + a), np.sin(psi[::-1] + a) * 1.05], -1)
    beard_x = _on_head(beard_x, beard_y, sa)
    # a beard as dark as the skin would vanish: keep it at least 0.18 darker than the skin
    luma = np.array([0.3, 0.59, 0.11])
    beard = hair * 0.8
    lb, ls = beard @ luma, skin @ luma
    close = np.abs(lb - ls) < 0.18
    beard = np.where(close[:, None], beard * (np.maximum(ls - 0.18, 0.04) / lb)[:, None], beard)
    dl.add([P(beard_x, beard_y)], _rgba(beard, _HAIR), where=f["beard"] == 1)

    # mouth: the corners rise with `smile`; a wide smile opens and shows teeth
    u = np.linspace(-1, 1, 15)
    hw = 0.42 + 0.12 * np.maximum(smile, 0)
    mx = 0.99 * np.sin(u * hw + a)
    yc = 0.78 - 0.3 * smile * u * u + 0.08 * np.maximum(smile, 0)
    env = np.sqrt(1 - u * u)
    # the mouth opens quickly above neutral, so every smile shows teeth even at 32x32
    opening = np.clip((smile - 0.15) / 0.3, 0, 1) * 0.16 + np.maximum(smile - 0.45, 0) * 0.2
    lower_top = yc + opening * (1 - u * u)
    lips = skin * np.array([0.9, 0.55, 0.55]) + np.array([0.1, 0.0, 0.0])

    def band(x, y_top, y_bottom):
        return P(np.concatenate([x, x[:, ::-1]], -1), np.concatenate([y_top, y_bottom[:, ::-1]],
                                                                      -1))

    dl.add([band(mx, yc - 0.07 * env, yc)], _rgba(lips, _LIT))
    dl.add([band(mx, lower_top, lower_top + 0.09 * env)], _rgba(lips * 1.08, _LIT))
    is_open = opening[:, 0] > 0.01
    dl.add([band(mx, yc, lower_top)], _rgba([0.3, 0.08, 0.08], _LIT), where=is_open)
    teeth = yc + np.minimum(0.75 * opening, 0.14) * (1 - u * u)
    dl.add([band(mx[:, 1:-1], yc[:, 1:-1], teeth[:, 1:-1])], _rgba([0.97, 0.95, 0.9], _LIT),
           where=is_open)
    dl.add([P(mx, yc)], _rgba([0.25, 0.08, 0.08], _LIT), stroke=stroke)
    k = np.linspace(0, 1, 5)
    for s in (-1, 1):  # soft creases beside a smile
        lx = 0.99 * np.sin(s * (hw + 0.1 - 0.05 * (2 * k - 1) ** 2) + a)
        dl.add([P(lx, yc[:, :1] - 0.2 + 0.25 * k)], _soft(0.55), layer="soft",
               stroke=stroke, where=smile[:, 0] > 0.3)

    # glasses: rims, a bridge and the arms, with a glint on each lens
    frame = _rgba(_FRAME_RGB[f["glasses_color"]], _LIT)
    on = f["glasses"] == 1
    t = np.linspace(0, 2 * np.pi, 28, endpoint=False)
    ct, st = np.cos(t), np.sin(t)
    square = f["glasses_style"][:, None] == 1
    ct = np.where(square, np.sign(ct) * np.abs(ct) ** 0.45, ct)
    st = np.where(square, np.sign(st) * np.abs(st) ** 0.45, st)
    w = 0.09
    for s, (ex, ec) in zip((-1, 1), eyes):
        seen = on & (ec[:, 0] >= 0.05)
        rx = 0.27 * ec + 0.02
        dl.add([P(ex + [-0.5, 0.3] * rx, [-0.08, 0.12])], _soft(1.25), where=seen, layer="soft",
               stroke=stroke)
        dl.add([P(ex + (rx + w / 2) * ct, 0.02 + (0.2 + w / 2) * st),
                P(ex + (rx - w / 2) * ct, 0.02 + (0.2 - w / 2) * st)], frame, where=seen)
        arm_x, arm_c = on_face(s * 1.45)
        dl.add([P(np.concatenate([ex + s * rx, arm_x], -1), [-0.02, -0.04])], frame,
               where=seen & (arm_c[:, 0] > 0), stroke=stroke)
    (lx_, lc), (rx_, rc) = eyes
    dl.add([P(np.concatenate([lx_ + 0.27 * lc + 0.02, (lx_ + rx_) / 2, rx_ - 0.27 * rc - 0.02],
                             -1), [-0.02, -0.07, -0.02])], frame,
           where=on & (lc[:, 0] >= 0.05) & (rc[:, 0] >= 0.05), stroke=stroke)
    return dl


def _shade_faces(f: dict, R: int, idx) -> np.ndarray:
    """Lambert shading (m, R, R) of a sphere around head and hair, lit from `light`."""
    cx, cy, S, roll = (v[idx, None, None].astype(np.float32) for v in _face_geometry(f))
    yy, xx = _grid(R)
    cr, sr = np.cos(roll), np.sin(roll)
    lx = (cr * (xx - cx) + sr * (yy - cy)) / S
    ly = (-sr * (xx - cx) + cr * (yy - cy)) / S
    nx, ny = lx * np.float32(1 / 1.12), (ly + np.float32(0.05)) * np.float32(1 / 1.4)
    r = np.maximum(np.sqrt(nx * nx + ny * ny), np.float32(1))
    nx, ny = nx / r, ny / r
    nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
    lxd = np.float32(0.6) * f["light"][idx, None, None]
    norm = np.sqrt(lxd * lxd + 0.4 ** 2 + 0.85 ** 2)
    lam = np.clip((nx * lxd - np.float32(0.4) * ny + np.float32(0.85) * nz) / norm, 0, 1)
    return np.float32(0.5) + np.float32(0.6) * lam


def draw_faces(factors: dict, size: int = 64) -> np.ndarray:
    """Images (n, size, size, 3) uint8 for factor rows as `face_factors` returns them."""
    R = _canvas_size(size)
    n = len(factors["yaw"])
    dl = _face_list(factors, R)
    out = np.empty((n, size, size, 3), np.uint8)
    backgrounds = _face_backgrounds(R)
    strands, speckle = _bank("strands", R), _bank("speckle", R)
    S = _face_geometry(factors)[2] * R
    for start in range(0, n, 64):
        idx = np.arange(start, min(n, start + 64))
        img = np.zeros((len(idx), R, R, 4), np.uint8)
        img[..., :3] = backgrounds[factors["background"][idx]]
        soft = np.full((len(idx), R, R, 3), _SOFT_ONE, np.uint8)
        for j, i in enumerate(idx):
            dl.draw(i, {"img": img[j], "soft": soft[j]})
            soft[j] = cv2.GaussianBlur(soft[j], (0, 0), 0.07 * S[i])
        curly = (factors["hair_style"][idx] == 3)[:, None, None]
        texture = np.where(curly, speckle[factors["texture"][idx]],
                           strands[factors["texture"][idx]])
        out[idx] = _composite(img, soft, _shade_faces(factors, R, idx), texture, size)
    return out


# --------------------------------------------------------------------------- rooms

_WALL_RGB = np.array([[0.90, 0.86, 0.76], [0.70, 0.78, 0.84], [0.74, 0.80, 0.66],
                      [0.78, 0.75, 0.72], [0.92, 0.76, 0.64], [0.80, 0.75, 0.86]], np.float32)
_FLOOR_RGB = np.array([[0.72, 0.54, 0.34], [0.42, 0.27, 0.17], [0.52, 0.52, 0.54],
                       [0.72, 0.64, 0.52]], np.float32)
_SKY_RGB = np.array([[0.50, 0.74, 0.98], [0.98, 0.64, 0.40], [0.10, 0.14, 0.34]], np.float32)
_TRIM_RGB = np.array([[0.96, 0.96, 0.94], [0.50, 0.33, 0.20], [0.15, 0.15, 0.16]], np.float32)
_DOOR_RGB = np.array([[0.93, 0.92, 0.90], [0.58, 0.39, 0.23], [0.58, 0.61, 0.66],
                      [0.33, 0.21, 0.13]], np.float32)
_OBJ_ID = {name: i + 1 for i, name in enumerate(ROOM_OBJECTS)}  # bed 1, window 2, ...
_NIGHTSTAND_ID = len(ROOM_OBJECTS) + 1


def _sample_rooms(rng: np.random.Generator, n: int) -> dict:
    """Independent factors for n bedrooms (window presence, door, lamp, picture 50/50)."""
    slots = np.argsort(rng.random((n, 3)), 1)  # two distinct walls for up to two windows
    f = {
        "window_count": rng.choice(3, n, p=[0.5, 0.25, 0.25]),
        "door": (rng.random(n) < 0.5).astype(np.int64),
        "lamp": (rng.random(n) < 0.5).astype(np.int64),
        "picture": (rng.random(n) < 0.5).astype(np.int64),
        # the room and the camera
        "room_w": rng.uniform(3.8, 4.4, n),
        "room_d": rng.uniform(4.0, 4.6, n),
        "room_h": rng.uniform(2.5, 2.8, n),
        "cam_x": rng.uniform(-0.3, 0.3, n),
        "cam_h": rng.uniform(1.4, 1.8, n),
        "focal": rng.uniform(0.36, 0.4, n),
        "horizon": rng.uniform(0.38, 0.46, n),
        "wall_color": rng.integers(0, len(_WALL_RGB), n),
        "floor": rng.integers(0, len(_FLOOR_RGB), n),
        # the bed (always there) and what stands by it
        "bed_x": rng.uniform(-0.15, 0.15, n),
        "bed_w": rng.uniform(1.6, 2.0, n),
        "bed_l": rng.uniform(2.1, 2.3, n),
        "blanket_hue": rng.uniform(0, 1, n),
        "pillows": rng.integers(1, 3, n),
        "side": rng.choice([-1, 1], n),  # which side of the bed the nightstand stands
        "nightstand": (rng.random(n) < 0.5).astype(np.int64),  # drawn anyway with a lamp
        "lamp_hue": rng.uniform(0, 1, n),
        # windows: wall slots (0 left, 1 right, 2 back), size, sky, curtains
        "window_slot_a": slots[:, 0],
        "window_slot_b": slots[:, 1],
        "window_w": rng.uniform(0.85, 1.0, n),
        "window_h": rng.uniform(1.2, 1.4, n),
        "window_y": rng.uniform(0.8, 0.95, n),
        "sky": rng.integers(0, len(_SKY_RGB), n),
        "trim": rng.integers(0, len(_TRIM_RGB), n),
        "curtains": (rng.random(n) < 0.5).astype(np.int64),
        "curtain_hue": rng.uniform(0, 1, n),
        # the door, on a side wall nearer the camera, and the picture above the bed
        "door_side": rng.choice([-1, 1], n),
        "door_z": rng.uniform(1.7, 1.8, n),  # distance of the door's far edge from the back
        "door_color": rng.integers(0, len(_DOOR_RGB), n),
        "picture_w": rng.uniform(0.6, 0.8, n),
        "picture_h": rng.uniform(0.4, 0.52, n),
        "art_hue": rng.uniform(0, 1, n),
        "texture": rng.integers(0, 16, n),
    }
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in f.items()}


def _hsv(h, s, v):
    """Vectorised HSV (all in [0, 1]) -> RGB (n, 3) in [0, 1]."""
    h, s, v = np.broadcast_arrays(np.asarray(h, np.float64), s, v)
    i = np.floor(h * 6).astype(int) % 6
    fr = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - fr * s), v * (1 - (1 - fr) * s)
    table = np.stack([np.stack(c, -1) for c in
                      [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]])
    return table[i, np.arange(len(i))]


def _room_list(f: dict, R: int) -> _DisplayList:
    """The display list that draws the bedrooms with factors `f` on an R x R canvas."""
    n = len(f["room_w"])
    c = {k: np.asarray(v, np.float64)[:, None] for k, v in f.items()}
    W2, D, H = c["room_w"] / 2, c["room_d"], c["room_h"]
    cam_x, cam_h = c["cam_x"], c["cam_h"]
    F, cu, cv = c["focal"] * R, R / 2, c["horizon"] * R
    dl = _DisplayList(n)
    line = max(1, R // 64)

    def proj(X, Y, Z):
        X, Y, Z = np.broadcast_arrays(np.asarray(X, np.float64), Y, Z, np.empty((n, 1)))[:3]
        return np.stack([cu + F * (X - cam_x) / Z, cv - F * (Y - cam_h) / Z], -1)

    def quad_x(x, y0, y1, z0, z1):  # a rectangle on a side wall (plane x = const)
        return proj(x, np.concatenate([y0, y1, y1, y0], -1) if np.ndim(y0) else
                    [y0, y1, y1, y0], np.concatenate([z0, z0, z1, z1], -1))

    def quad_z(z, x0, x1, y0, y1):  # a rectangle facing the camera (plane z = const)
        return proj(np.concatenate([x0, x1, x1, x0], -1), np.concatenate([y0, y0, y1, y1], -1),
                    z)

    def quad_y(y, x0, x1, z0, z1):  # a horizontal rectangle (plane y = const)
        return proj(np.concatenate([x0, x1, x1, x0], -1), y, np.concatenate([z0, z0, z1, z1],
                                                                            -1))

    def box(x0, x1, y0, y1, z0, z1, rgb, where=True, obj=0, aux=0):
        """The faces of an axis-aligned box the camera can see: a side, the top, the front."""
        where = np.broadcast_to(np.asarray(where, bool).reshape(-1), (n,))
        dl.add([quad_x(x0, y0, y1, z0, z1)], _rgba(rgb * 0.7, aux), where & (cam_x < x0)[:, 0],
               obj=obj)
        dl.add([quad_x(x1, y0, y1, z0, z1)], _rgba(rgb * 0.7, aux), where & (cam_x > x1)[:, 0],
               obj=obj)
        dl.add([quad_y(y1, x0, x1, z0, z1)], _rgba(np.minimum(rgb * 1.08, 1), aux),
               where & (cam_h > y1)[:, 0], obj=obj)
        dl.add([quad_z(z0, x0, x1, y0, y1)], _rgba(rgb * 0.85, aux), where, obj=obj)

    near, one = np.full((n, 1), 0.25), np.ones((n, 1))
    zero = np.zeros((n, 1))
    wall = _WALL_RGB[f["wall_color"]]
    floor = _FLOOR_RGB[f["floor"]]
    wood = f["floor"] < 2

    # the shell: ceiling, floor, side walls, back wall (lit by depth in the shading pass)
    dl.add([quad_y(H, -W2, W2, near, D)], _rgba(np.minimum(wall * 1.12, 1), _LIT))
    dl.add([quad_y(zero, -W2, W2, near, D)], _rgba(floor, _HAIR), where=wood)
    dl.add([quad_y(zero, -W2, W2, near, D)], _rgba(floor, _LIT), where=~wood)
    dl.add([quad_x(-W2, zero, H, near, D)], _rgba(wall * 0.92, _LIT))
    dl.add([quad_x(W2, zero, H, near, D)], _rgba(wall * 0.84, _LIT))
    dl.add([quad_z(D, -W2, W2, zero, H)], _rgba(wall, _LIT))
    for k in np.linspace(-0.9, 0.9, 9):  # floorboards run towards the vanishing point
        dl.add([proj(k * W2, 0, np.concatenate([near, D], -1))], _rgba(floor * 0.7, _HAIR),
               where=wood, stroke=line)
    for x0, x1 in ((-W2, -W2), (W2, W2)):  # shadowed corners and skirting boards
        dl.add([proj(x0, np.concatenate([zero, H], -1), D)], _soft(0.75), layer="soft",
               stroke=line)
        dl.add([proj(x0, zero, np.concatenate([near, D], -1))], _soft(0.8), layer="soft",
               stroke=line)
    dl.add([proj(np.concatenate([-W2, W2], -1), 0, D)], _soft(0.8), layer="soft",
           stroke=line)
    dl.add([proj(np.concatenate([-W2, W2], -1), H, D)], _soft(0.85), layer="soft",
           stroke=line)
    skirting = np.concatenate([near, D, D, near], -1)
    dl.add([proj(np.concatenate([-W2, -W2, W2, W2], -1), 0.08, skirting)],
           _rgba(_TRIM_RGB[0] * 0.95, _LIT), stroke=line)

    # windows: frame, sky, glazing bars and a sill, on up to two of three walls
    trim = _TRIM_RGB[f["trim"]]
    sky = _SKY_RGB[f["sky"]]
    ww, wh, wy = c["window_w"], c["window_h"], c["window_y"]
    side_far = D - 0.55  # side-wall windows end this far from the back wall
    oid = _OBJ_ID["window"]
    for k, slot_key in enumerate(("window_slot_a", "window_slot_b")):
        show = f["window_count"] > k
        slot = f[slot_key]
        for s, wall_x in ((0, -W2), (1, W2)):
            on = show & (slot == s)
            z1 = side_far - 0.1 * k
            z0 = z1 - ww
            dl.add([quad_x(wall_x, wy - 0.06, wy + wh + 0.06, z0 - 0.06, z1 + 0.06)],
                   _rgba(trim, _LIT), where=on, obj=oid)
            dl.add([quad_x(wall_x * 0.999, wy, wy + wh, z0, z1)], _rgba(sky), where=on,
                   obj=oid)
            dl.add([proj(wall_x, np.concatenate([wy, wy + wh], -1), (z0 + z1) / 2)],
                   _rgba(trim, _LIT), where=on, stroke=line, obj=oid)
            dl.add([proj(wall_x, wy + 0.6 * wh, np.concatenate([z0, z1], -1))],
                   _rgba(trim, _LIT), where=on, stroke=line, obj=oid)
            dl.add([quad_x(wall_x * 0.999, wy + 0.55 * wh, wy + wh, z0 + 0.6 * ww, z1)],
                   _rgba(np.minimum(sky * 1.25 + 0.1, 1)), where=on & (f["sky"] != 2))
            # daylight through the window lands on the floor beside the wall
            inward = wall_x - np.sign(wall_x) * 0.9
            dl.add([proj(np.concatenate([wall_x, wall_x, inward, inward], -1), 0,
                         np.concatenate([z0, z1, z1 - 0.3, z0 - 0.3], -1))], _soft(1.27),
                   where=on & (f["sky"] != 2), layer="soft")
        # on the back wall, on the side away from the nightstand
        on = show & (slot == 2)
        s_ = -c["side"]
        xa = s_ * (W2 - 0.3)
        xb = s_ * (W2 - 0.3 - ww)
        x0, x1 = np.minimum(xa, xb), np.maximum(xa, xb)
        dl.add([quad_z(D, x0 - 0.06, x1 + 0.06, wy - 0.06, wy + wh + 0.06)],
               _rgba(trim, _LIT), where=on, obj=oid)
        dl.add([quad_z(D, x0, x1, wy, wy + wh)], _rgba(sky), where=on, obj=oid)
        dl.add([quad_z(D, x0 + 0.55 * ww, x1, wy + 0.55 * wh, wy + wh)],
               _rgba(np.minimum(sky * 1.25 + 0.1, 1)), where=on & (f["sky"] != 2))
        dl.add([quad_y(zero, x0 - 0.1, x1 + 0.1, D - 1.2, D)], _soft(1.27),
               where=on & (f["sky"] != 2), layer="soft")
        dl.add([proj((x0 + x1) / 2, np.concatenate([wy, wy + wh], -1), D)], _rgba(trim, _LIT),
               where=on, stroke=line, obj=oid)
        dl.add([proj(np.concatenate([x0, x1], -1), wy + 0.6 * wh, D)], _rgba(trim, _LIT),
               where=on, stroke=line, obj=oid)
        dl.add([quad_z(D, x0 - 0.1, x1 + 0.1, wy - 0.1, wy - 0.04)], _rgba(trim * 0.9, _LIT),
               where=on, obj=oid)
        # curtains hang beside (and a little over) the window: they hide part of its mask
        cur = _hsv(f["curtain_hue"], 0.45, 0.7)
        cur_on = on & (f["curtains"] == 1)
        for xc in (x0, x1):
            dl.add([quad_z(D * 0.998, xc - 0.2, xc + 0.08, wy - 0.2, wy + wh + 0.15)],
                   _rgba(cur, _LIT), where=cur_on)
    # the door: on a side wall, nearer the camera than the windows
    dside = c["door_side"]
    door_x = dside * W2
    dz1 = D - c["door_z"]
    dz0 = dz1 - 0.85
    door = _DOOR_RGB[f["door_color"]]
    on = f["door"] == 1
    did = _OBJ_ID["door"]
    dl.add([quad_x(door_x, zero, 2.1 * one, dz0 - 0.07, dz1 + 0.07)], _rgba(trim, _LIT),
           where=on, obj=did)
    dl.add([quad_x(door_x * 0.999, zero, 2.0 * one, dz0, dz1)], _rgba(door, _LIT), where=on,
           obj=did)
    for y0, y1 in ((0.2, 0.9), (1.1, 1.8)):  # recessed panels
        dl.add([quad_x(door_x * 0.998, y0 * one, y1 * one, dz0 + 0.15, dz1 - 0.15)],
               _rgba(door * 0.85, _LIT), where=on, obj=did)
    knob_z = np.where(dside > 0, dz0 + 0.1, dz1 - 0.1)
    knob = proj(door_x * 0.997, 1.0, knob_z)
    kr = 0.04 * F / knob_z
    dl.add([np.stack(_ellipse(knob[..., :1, 0], knob[..., :1, 1], kr, kr, 8), -1)],
           _rgba([0.8, 0.7, 0.35], _LIT), where=on, obj=did)

    # the picture above the bed: a frame and an abstract painting of two colours
    pw, ph = c["picture_w"], c["picture_h"]
    px = c["bed_x"]
    py = 1.42 * one
    on = f["picture"] == 1
    pid = _OBJ_ID["picture"]
    frame = _TRIM_RGB[(f["trim"] + 1) % len(_TRIM_RGB)] * 0.8
    dl.add([quad_z(D, px - pw / 2, px + pw / 2, py, py + ph)], _rgba(frame, _LIT), where=on,
           obj=pid)
    dl.add([quad_z(D, px - pw / 2 + 0.05, px + pw / 2 - 0.05, py + 0.05, py + ph - 0.05)],
           _rgba(_hsv(f["art_hue"], 0.55, 0.85), _LIT), where=on, obj=pid)
    dl.add([quad_z(D, px - pw / 2 + 0.05, px + 0.05, py + 0.05, py + 0.45 * ph)],
           _rgba(_hsv((f["art_hue"] + 0.4) % 1, 0.6, 0.55), _LIT), where=on, obj=pid)

    # the bed: a headboard, the frame, a mattress, pillows and a blanket
    bw, bl = c["bed_w"], c["bed_l"]
    bx0, bx1 = c["bed_x"] - bw / 2, c["bed_x"] + bw / 2
    bz0 = D - bl
    bid = _OBJ_ID["bed"]
    wood_rgb = _DOOR_RGB[1 + 2 * (f["trim"] % 2)]
    blanket = _hsv(f["blanket_hue"], 0.55, 0.8)
    dl.add([quad_z(D - 0.01, bx0 - 0.05, bx1 + 0.05, 0.6 * one, 1.08 * one)],
           _soft(0.7), layer="soft")
    box(bx0 - 0.05, bx1 + 0.05, zero, 1.08 * one, D - 0.1, D, wood_rgb, obj=bid)
    dl.add([proj(np.concatenate([bx0 - 0.1, bx1 + 0.1, bx1 + 0.1, bx0 - 0.1], -1), 0,
                 np.concatenate([bz0 - 0.15, bz0 - 0.15, D, D], -1))], _soft(0.6),
           layer="soft")
    box(bx0, bx1, zero, 0.28 * one, bz0, D - 0.1, wood_rgb, obj=bid)
    box(bx0 + 0.02, bx1 - 0.02, 0.28 * one, 0.48 * one, bz0 + 0.02, D - 0.1,
        np.array([0.95, 0.95, 0.93]), obj=bid)
    for k in range(2):
        two = f["pillows"] == 2
        if k == 0:
            xa, xb = np.where(two[:, None], bx0 + 0.1, bx0 + 0.15), np.where(
                two[:, None], (bx0 + bx1) / 2 - 0.05, bx1 - 0.15)
            where = True
        else:
            xa, xb, where = (bx0 + bx1) / 2 + 0.05, bx1 - 0.1, two
        box(xa, xb, 0.48 * one, 0.62 * one, D - 0.6, D - 0.15, np.array([0.98, 0.98, 0.97]),
            where=where, obj=bid)
    box(bx0 - 0.03, bx1 + 0.03, 0.22 * one, 0.52 * one, bz0 - 0.03, D - 0.75, blanket,
        obj=bid)

    # a nightstand by the bed, and the lamp on it
    side = c["side"]
    lamp_on = f["lamp"] == 1
    stand_on = lamp_on | (f["nightstand"] == 1)
    nx0 = np.where(side > 0, bx1 + 0.08, bx0 - 0.53)
    nx1 = nx0 + 0.45
    box(nx0, nx1, zero, 0.55 * one, D - 0.45, D - 0.02, wood_rgb, where=stand_on,
        obj=_NIGHTSTAND_ID)
    lx, lz = (nx0 + nx1) / 2, D - 0.23 * one
    lid = _OBJ_ID["lamp"]
    glow = proj(lx, 0.95, lz)
    gr = 0.9 * F / lz
    dl.add([np.stack(_ellipse(glow[..., :1, 0], glow[..., :1, 1], gr, gr, 20), -1)],
           _soft(1.2), where=lamp_on, layer="soft")
    box(lx - 0.08, lx + 0.08, 0.55 * one, 0.6 * one, lz - 0.08, lz + 0.08,
        np.array([0.3, 0.3, 0.32]), where=lamp_on, obj=lid)
    dl.add([proj(lx, np.concatenate([0.6 * one, 0.85 * one], -1), lz)],
           _rgba([0.3, 0.3, 0.32], _LIT), where=lamp_on, stroke=line, obj=lid)
    shade = np.minimum(_hsv(f["lamp_hue"], 0.3, 1.0) * 1.1, 1)
    dl.add([proj(np.concatenate([lx - 0.14, lx + 0.14, lx + 0.25, lx - 0.25], -1),
                 np.concatenate([1.2 * one, 1.2 * one, 0.85 * one, 0.85 * one], -1),
                 lz - 0.1)], _rgba(shade), where=lamp_on, obj=lid)
    return dl


def _shade_rooms(f: dict, R: int, idx) -> np.ndarray:
    """Light falling off with the depth of the room's shell (m, R, R): far corners darker."""
    g = {k: f[k][idx, None, None].astype(np.float32) for k in
         ("room_w", "room_d", "room_h", "cam_x", "cam_h", "focal", "horizon")}
    yy, xx = _grid(R)
    dx = (xx - np.float32(0.5)) / g["focal"]
    dy = (g["horizon"] - yy) / g["focal"]
    big = np.float32(1e3)
    with np.errstate(divide="ignore"):
        z = np.minimum(np.where(dy < 0, g["cam_h"] / -dy, big),
                       np.where(dy > 0, (g["room_h"] - g["cam_h"]) / dy, big))
        z = np.minimum(z, np.where(dx < 0, (g["room_w"] / 2 + g["cam_x"]) / -dx, big))
        z = np.minimum(z, np.where(dx > 0, (g["room_w"] / 2 - g["cam_x"]) / dx, big))
    z = np.minimum(z, g["room_d"])
    return np.clip(np.float32(1.22) - np.float32(0.075) * z, 0.7, 1.15)


def draw_rooms(factors: dict, size: int = 64):
    """Images (n, size, size, 3) uint8 and visible masks {object: bool (n, size, size)}."""
    R = _canvas_size(size)
    n = len(factors["room_w"])
    dl = _room_list(factors, R)
    out = np.empty((n, size, size, 3), np.uint8)
    masks = {name: np.zeros((n, size, size), bool) for name in ROOM_OBJECTS}
    grain = _bank("grain", R)
    for start in range(0, n, 64):
        idx = np.arange(start, min(n, start + 64))
        img = np.zeros((len(idx), R, R, 4), np.uint8)
        soft = np.full((len(idx), R, R, 3), _SOFT_ONE, np.uint8)
        ids = np.zeros((len(idx), R, R), np.uint8)
        for j, i in enumerate(idx):
            dl.draw(i, {"img": img[j], "soft": soft[j], "ids": ids[j]})
            soft[j] = cv2.GaussianBlur(soft[j], (0, 0), R / 64)
        texture = grain[factors["texture"][idx]]
        out[idx] = _composite(img, soft, _shade_rooms(factors, R, idx), texture, size)
        for name in ROOM_OBJECTS:
            m = (ids == _OBJ_ID[name]).astype(np.float32)
            masks[name][idx] = _downsample(m, size) > 0.5
    return out, masks


# --------------------------------------------------------------------------- public API

_KINDS = {"faces": (_sample_faces, "yaw"), "rooms": (_sample_rooms, "room_w")}


def _consistent(name: str, f: dict, overridden: set) -> dict:
    """Re-derive the labels that depend on an overridden factor."""
    if name == "faces":
        if "smile" in overridden and "smiling" not in overridden:
            f["smiling"] = (f["smile"] > 0.25).astype(np.int64)
        elif "smiling" in overridden and "smile" not in overridden:
            # keep each face's place within its range, moved into the other range
            q = np.where(f["smile"] > 0.25, (f["smile"] - 0.45) / 0.55, (f["smile"] + 0.45) / 0.5)
            q = np.clip(q, 0, 1)
            f["smile"] = np.where(f["smiling"] == 1, 0.45 + 0.55 * q,
                                  -0.45 + 0.5 * q).astype(np.float32)
    else:
        if "window" in overridden and "window_count" not in overridden:
            f["window_count"] = np.where(f["window"] == 0, 0, np.maximum(f["window_count"], 1))
        f["window"] = (f["window_count"] > 0).astype(np.int64)
    return f


def sample_factors(name: str, n: int, seed: int = 0, factors: dict | None = None) -> dict:
    """The factor rows of make_faces / make_rooms (cheap: no drawing).

    `factors` overrides factors: a scalar for every image or an array of length n. Labels
    that follow from an overridden factor are updated (`smiling` from `smile`, `window` from
    `window_count`, and back), everything else is kept, so an override redraws the same
    faces or rooms with one thing changed.
    """
    if name not in _KINDS:
        raise ValueError(f"unknown procedural data set {name!r}; expected one of {NAMES}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    sample, _ = _KINDS[name]
    parts = []
    for c in range(-(-n // CHUNK)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, c]))
        parts.append(sample(rng, CHUNK))
    keys = sample(np.random.default_rng(0), 1).keys()
    f = {k: (np.concatenate([p[k] for p in parts])[:n] if parts
             else np.zeros(0, sample(np.random.default_rng(0), 1)[k].dtype)) for k in keys}
    if name == "rooms":
        f["window"] = (f["window_count"] > 0).astype(np.int64)
    for k, v in (factors or {}).items():
        if k not in f:
            raise ValueError(f"unknown {name} factor {k!r}; known: {sorted(f)}")
        v = np.asarray(v)
        if v.ndim and len(v) != n:
            raise ValueError(f"factor {k!r}: {len(v)} values for {n} images")
        f[k] = np.broadcast_to(v, (n,)).astype(f[k].dtype)
    return _consistent(name, f, set(factors or ()))


def _draw_chunk(name: str, f: dict, size: int):
    if name == "faces":
        return draw_faces(f, size), {}
    return draw_rooms(f, size)




def default_workers() -> int:
    """Processes used to draw: env DCGAN_WORKERS, else up to 2 (the cores CI has)."""
    env = os.environ.get("DCGAN_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(2, os.cpu_count() or 1))


def _make(name: str, n: int, seed: int, size: int, factors, workers, progress):
    _canvas_size(size)
    return _make_from(name, sample_factors(name, n, seed, factors), size, workers, progress)


def _make_from(name: str, f: dict, size: int, workers, progress):
    """Draw the images of factor rows `f` in chunks, in parallel, and assemble the labels."""
    _canvas_size(size)
    n = len(next(iter(f.values())))
    starts = list(range(0, n, CHUNK))
    chunks = [{k: v[s:s + CHUNK] for k, v in f.items()} for s in starts]
    workers = default_workers() if workers is None else workers
    workers = max(1, min(workers, len(chunks)))
    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # Windows: draw in this process
    images = np.empty((n, size, size, 3), np.uint8)
    masks = {}
    if name == "rooms":
        masks = {k: np.zeros((n, size, size), bool) for k in ROOM_OBJECTS}
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc=f"drawing {name}", unit="img", disable=not progress,
               leave=False)

    def store(s, result):
        imgs, m = result
        images[s:s + len(imgs)] = imgs
        for k, v in m.items():
            masks[k][s:s + len(imgs)] = v
        bar.update(len(imgs))

    if workers == 1:
        for s, chunk in zip(starts, chunks):
            store(s, _draw_chunk(name, chunk, size))
    else:
        # Forked workers: "spawn" would re-run an unguarded __main__ (a script, or
        # `python -m dcgan_tf`) in every worker. The workers use only numpy and OpenCV; with
        # OpenCV's own thread pool off while forking, no lock a parent thread holds (e.g.
        # TensorFlow's) is ever needed in a child.
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            with warnings.catch_warnings():  # Python >= 3.12 warns about forking with threads
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx = multiprocessing.get_context("fork")
                with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                    futures = {pool.submit(_draw_chunk, name, chunk, size): s
                               for s, chunk in zip(starts, chunks)}
                    for fut in concurrent.futures.as_completed(futures):
                        store(futures[fut], fut.result())
        finally:
            cv2.setNumThreads(threads)
    bar.close()
    labels = dict(f)
    for k, m in masks.items():
        labels[f"{k}_mask"] = m
    if name == "rooms":
        labels["bed"] = np.ones(n, np.int64)
        labels["window_area"] = masks["window"].mean((1, 2), dtype=np.float64).astype(
            np.float32) if n else np.zeros(0, np.float32)
    return images, labels


def make_faces(n: int, seed: int = 0, size: int = 64, factors: dict | None = None,
               workers: int | None = None, progress: bool | None = None):
    """n procedural faces: (images uint8 (n, size, size, 3), labels {factor: array (n,)}).

    Labels: yaw [-1, 1] (-1 looks towards the picture's left edge), smile [-0.45, 1]
    (mouth-corner curvature; >= 0.45 when smiling), smiling 0/1, glasses 0/1, beard 0/1,
    hair_style (see HAIR_STYLES), hair_color (HAIR_COLORS), skin_tone [0, 1] light to dark,
    background (BACKGROUNDS), dx, dy, scale, roll (jitter) and a few nuisance factors.
    `factors` overrides factors (see sample_factors); sizes 32, 64 and 128.
    """
    return _make("faces", n, seed, size, factors, workers, _show(progress, n))


def make_rooms(n: int, seed: int = 0, size: int = 64, factors: dict | None = None,
               workers: int | None = None, progress: bool | None = None):
    """n procedural bedrooms: (images uint8 (n, size, size, 3), labels).

    Labels: window_count 0-2, window 0/1, window_area (share of the picture the visible
    window pixels cover), and for each of bed (always 1), window, door, lamp, picture a
    presence flag and `<object>_mask`, a bool (n, size, size) mask of its visible pixels;
    plus the room's geometry and nuisance factors.
    """
    return _make("rooms", n, seed, size, factors, workers, _show(progress, n))


def _show(progress, n):
    return n >= 4 * CHUNK if progress is None else progress


def make(name: str, n: int, seed: int = 0, size: int = 64, **kwargs):
    """make_faces or make_rooms by name."""
    if name not in NAMES:
        raise ValueError(f"unknown procedural data set {name!r}; expected one of {NAMES}")
    return (make_faces if name == "faces" else make_rooms)(n, seed, size, **kwargs)


def vary(name: str, factor: str, values, seed: int = 0, size: int = 64, index: int = 0,
         factors: dict | None = None):
    """Image `index` of make(name, ..., seed) drawn once per value of one factor.

    Everything else stays as drawn (or as set by `factors`), so the row shows what that one
    factor does: vary("faces", "yaw", np.linspace(-1, 1, 9)) turns one face from left to
    right. Returns (images, labels) like make().
    """
    values = np.asarray(values)
    base = sample_factors(name, index + 1, seed, None)
    f = {k: np.repeat(v[index:index + 1], len(values)) for k, v in base.items()}
    fixed = dict(factors or {}, **{factor: values})
    for k, v in fixed.items():
        if k not in f:
            raise ValueError(f"unknown {name} factor {k!r}; known: {sorted(f)}")
        f[k] = np.broadcast_to(np.asarray(v), (len(values),)).astype(f[k].dtype)
    f = _consistent(name, f, set(fixed))
    return _make_from(name, f, size, workers=1, progress=False)


def cache_path(name: str, n: int, seed: int = 0, size: int = 64) -> Path:
    """Where load() keeps a data set: keyed by everything that changes its content."""
    from dcgan_tf.config import cache_dir

    folder = cache_dir() / "procedural"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}_n{n}_seed{seed}_{size}px_v{VERSION}.npz"


def load(name: str, n: int, seed: int = 0, size: int = 64, workers: int | None = None):
    """make(name, ...) cached on disk: the first call draws and saves, later calls read.

    The file is written to a temporary name and renamed, so a crash never leaves a partial
    cache; an unreadable cache file is reported, drawn again and replaced.
    """
    path = cache_path(name, n, seed, size)
    if path.exists():
        try:
            return _read_npz(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"{path}: unreadable cache ({err}); drawing the data again",
                          stacklevel=2)
    images, labels = make(name, n, seed, size, workers=workers)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    try:
        arrays = {"images": images}
        for k, v in labels.items():
            if v.dtype == bool and v.ndim == 3:  # masks: 8 pixels per byte on disk
                arrays[f"packed__{k}"] = np.packbits(v.reshape(len(v), -1), axis=1)
            else:
                arrays[f"label__{k}"] = v
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return images, labels


def _read_npz(path: Path):
    with np.load(path) as z:
        images = z["images"]
        n, size = images.shape[0], images.shape[1]
        labels = {}
        for key in z.files:
            if key.startswith("label__"):
                labels[key[7:]] = z[key]
            elif key.startswith("packed__"):
                bits = np.unpackbits(z[key], axis=1, count=size * size)
                labels[key[8:]] = bits.reshape(n, size, size).astype(bool)
    if not labels:
        raise ValueError("no labels in the file")
    return images, labels
