"""Procedural faces: their factors, and the parts a face is drawn from.

A face is a head seen from the front and turned by `yaw` (about +-43 degrees): every part is
placed in face-local coordinates (head half-width 1, y down) and a point at angle theta
around the head lands at sin(theta + yaw), so eyes, nose, mouth, glasses and beard slide
across the face as it turns while the far ear and hair show on the other side. Parts are
added back to front (shirt, hair behind the head, neck, ears, head, ..., glasses) into one
display list (dcgan_tf.groundtruth.drawing); the soft layer carries eye sockets, cheeks and
shadows, and the compositing pass lights head and hair as a sphere lit from `light`.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from dcgan_tf.groundtruth.drawing import (HAIR, LIT, SOFT_ONE, DisplayList, bank, canvas_size,
                                          composite, ellipse, grid, rasterise, rgba, soft)

FACE_BINARY = ("smiling", "glasses", "beard")
HAIR_STYLES = ("short", "long", "bald", "curly")
HAIR_COLORS = ("black", "brown", "blond", "auburn", "grey")
BACKGROUNDS = ("slate", "sand", "sage", "rose", "charcoal", "sky")
YAW_RADIANS = 0.75  # yaw = +-1 turns the head this far

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


# --------------------------------------------------------------------------- factors


def sample_faces(rng: np.random.Generator, n: int) -> dict:
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


def relabel_faces(f: dict, overridden: set) -> dict:
    """Re-derive `smiling` from an overridden `smile`, or `smile` from `smiling`."""
    if "smile" in overridden and "smiling" not in overridden:
        f["smiling"] = (f["smile"] > 0.25).astype(np.int64)
    elif "smiling" in overridden and "smile" not in overridden:
        # keep each face's place within its range, moved into the other range
        q = np.where(f["smile"] > 0.25, (f["smile"] - 0.45) / 0.55, (f["smile"] + 0.45) / 0.5)
        q = np.clip(q, 0, 1)
        f["smile"] = np.where(f["smiling"] == 1, 0.45 + 0.55 * q,
                              -0.45 + 0.5 * q).astype(np.float32)
    return f


# --------------------------------------------------------------------------- the head


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


class _Head:
    """A batch of heads on an R x R canvas: placement, turn and colours, as (n, 1) columns.

    Shared by every part of the face, so each part is drawn by one short function.
    """

    def __init__(self, f: dict, R: int):
        self.f, self.n = f, len(f["yaw"])
        self.c = c = {k: np.asarray(v, np.float64)[:, None] for k, v in f.items()}
        self.cx, self.cy, self.S, roll = (v[:, None] * (R if i < 3 else 1)
                                          for i, v in enumerate(_face_geometry(f)))
        self.cr, self.sr = np.cos(roll), np.sin(roll)
        self.a = c["yaw"] * YAW_RADIANS
        self.sa, self.ca = np.sin(self.a), np.cos(self.a)
        tone = np.clip(c["skin_tone"][:, 0] * (len(_SKIN_RGB) - 1), 0,
                       len(_SKIN_RGB) - 1.001)
        i = tone.astype(int)
        self.skin = _SKIN_RGB[i] + (_SKIN_RGB[i + 1] - _SKIN_RGB[i]) * (tone - i)[:, None]
        self.hair = _HAIR_RGB[f["hair_color"]]
        self.style = f["hair_style"]
        self.smile = c["smile"]
        self.stroke = 0.065 * self.S  # about one pixel at 64x64, two at 128x128
        self.back = -0.14 * self.sa  # hair behind the head shifts away from the turn
        self.eyes = [self.on_face(s * 0.42) for s in (-1, 1)]
        self.tip_x = 1.14 * self.sa  # the nose tip

    def at(self, x, y):
        """Face-local coordinates (head half-width 1, y down) -> (n, k, 2) pixels."""
        x, y = np.broadcast_arrays(np.asarray(x, np.float64), y, np.empty((self.n, 1)))[:2]
        cr, sr, S = self.cr, self.sr, self.S
        return np.stack([self.cx + S * (cr * x - sr * y), self.cy + S * (sr * x + cr * y)], -1)

    def on_face(self, theta):
        """Where a point at `theta` around the head lands (x), and its cosine (facing us)."""
        return np.sin(theta + self.a), np.cos(theta + self.a)


# --------------------------------------------------------------------------- the parts


def _draw_shirt(dl: DisplayList, h: _Head) -> None:
    """Shoulders and shirt, not rolled with the head."""
    hsv = np.stack([h.f["shirt_hue"] * 179, np.full(h.n, 115), np.full(h.n, 190)], -1)
    shirt = cv2.cvtColor(hsv[None].astype(np.uint8), cv2.COLOR_HSV2RGB)[0] / 255
    bx, by = ellipse(h.cx - 0.15 * h.sa * h.S, h.cy + 2.25 * h.S, 2.0 * h.S, 1.0 * h.S, 40)
    dl.add([np.stack([bx, by], -1)], rgba(shirt))
    dl.add([h.at(*ellipse(0.1 * h.sa, 2.6, 2.2, 0.9, 24))], soft(0.7), layer="soft")


def _draw_back_hair(dl: DisplayList, h: _Head) -> None:
    """Hair behind the head (long, curly, short): its far side shows as the head turns."""
    back, style, color = h.back, h.style, rgba(h.hair, HAIR)
    t = np.linspace(np.pi, 2 * np.pi, 20)
    top_x, top_y = back + 1.2 * np.cos(t), -0.15 + 1.3 * np.sin(t)
    long_x = np.concatenate([top_x, back + 1.25, back - 1.25], -1)
    long_y = np.concatenate([np.broadcast_to(top_y, top_x.shape),
                             np.full((h.n, 2), 1.75)], -1)
    dl.add([h.at(long_x, long_y)], color, where=style == 1)
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    r = 1.38 + 0.07 * np.sin(11 * t)
    dl.add([h.at(back + r * np.cos(t), -0.32 + 1.12 * r * np.sin(t))], color,
           where=style == 3)
    dl.add([h.at(*ellipse(0.6 * back, -0.1, 1.07, 1.32, 40))], color, where=style == 0)


def _draw_neck(dl: DisplayList, h: _Head) -> None:
    """The neck, with the chin's shadow on it."""
    dl.add([h.at([-0.4, 0.4, 0.52, -0.52], [0.6, 0.6, 1.95, 1.95])],
           rgba(h.skin * 0.85, LIT))
    dl.add([h.at(*ellipse(0.15 * h.sa, 1.08, 0.55, 0.3, 20))], soft(0.55), layer="soft")


def _ears(h: _Head) -> list:
    """Per ear: (turned towards us, outline, inner shadow, rim) polygons."""
    ears = []
    for s in (-1, 1):
        ex, ec = h.on_face(s * (np.pi / 2 + 0.06))
        erx = 0.13 + 0.05 * np.abs(ec)
        t0 = np.pi / 2 if s < 0 else -np.pi / 2  # the rim on the back-of-head side
        ears.append((ec > 0, h.at(*ellipse(ex, 0.17, erx, 0.26, 21)),
                     h.at(*ellipse(ex, 0.19, 0.06, 0.15, 12)),
                     h.at(*ellipse(ex, 0.15, 0.8 * erx, 0.2, 9, t0, t0 + np.pi))))
    return ears


def _draw_head(dl: DisplayList, h: _Head) -> None:
    """The ears turned away, the head (an egg whose chin follows the yaw), the near ears."""
    ears = _ears(h)
    for front, ear, _, _ in ears:
        dl.add([ear], rgba(h.skin * 0.92, LIT), where=~front)
    t = np.linspace(0, 2 * np.pi, 56, endpoint=False)
    hy = -np.cos(t) * 1.3
    dl.add([h.at(_on_head(np.sin(t), hy, h.sa), hy)], rgba(h.skin, LIT))
    for front, ear, inner, rim in ears:
        dl.add([ear], rgba(h.skin * 0.95, LIT), where=front)
        dl.add([rim], rgba(h.skin * 0.6, LIT), where=front, stroke=h.stroke)
        dl.add([inner], soft(0.6), where=front, layer="soft")


def _draw_modelling(dl: DisplayList, h: _Head) -> None:
    """Soft modelling: eye sockets, cheeks (redder with a smile), the nose's shadow."""
    for s, (ex, ec) in zip((-1, 1), h.eyes):
        dl.add([h.at(*ellipse(ex, -0.05, 0.26 * ec, 0.17, 16))], soft(0.7),
               where=ec > 0.1, layer="soft")
        chx, _ = h.on_face(s * 0.62)
        blush = 1 - (0.12 + 0.1 * np.maximum(h.smile, 0)) * np.array([0.3, 1.2, 1.0])
        dl.add([h.at(*ellipse(chx, 0.38, 0.2 * ec, 0.14, 16))], blush * SOFT_ONE,
               where=ec > 0.1, layer="soft")
    sa, tip_x = h.sa, h.tip_x
    dark = np.where(h.c["light"] > 0, -1.0, 1.0) * h.ca
    dl.add([h.at(np.concatenate([0.98 * sa, tip_x, tip_x + 0.17 * dark,
                                 0.98 * sa + 0.09 * dark], -1), [-0.05, 0.45, 0.52, 0.0])],
           soft(0.72), layer="soft")


def _draw_hair(dl: DisplayList, h: _Head) -> None:
    """Front hair with its shadow on the forehead, long hair's curtains; a bald sheen."""
    style, color = h.style, rgba(h.hair, HAIR)
    hl_top = np.array([-0.68, -0.62, -1.2, -0.8])[style][:, None]
    phi = np.linspace(-1.55, 1.55, 17)
    line_x = np.clip(np.sin(phi + h.a), -1.0, 1.0) * 1.01
    line_y = hl_top + (-0.12 - hl_top) * (phi / 1.55) ** 2 + 0.12 * h.c["hair_part"] * phi
    t = np.linspace(1.5, -1.5, 25)
    out_x = 1.07 * np.sin(t) - 0.04 * h.sa
    out_y = np.broadcast_to(-1.07 * 1.3 * np.cos(t) - 0.03, out_x.shape)
    front_hair = h.at(np.concatenate([line_x, out_x], -1),
                      np.concatenate([line_y, out_y], -1))
    has_hair = style != 2
    dl.add([front_hair + np.array([0, 1.0]) * 0.07 * h.S[..., None]], soft(0.55),
           where=has_hair, layer="soft")
    dl.add([front_hair], color, where=has_hair)
    for s in (-1, 1):  # long hair falls in front of the ears
        inner = np.clip(np.sin(s * 1.25 + h.a), -1, 1)
        outer = s * 1.22 + h.back
        curtain_x = np.concatenate([inner, inner, outer, outer], -1)
        dl.add([h.at(curtain_x, [-0.3, 1.55, 1.75, -0.3])], color, where=style == 1)
    dl.add([h.at(*ellipse(-0.3 * h.c["light"], -0.95, 0.3, 0.14, 16))], soft(1.25),
           where=~has_hair, layer="soft")


def _draw_brow(dl: DisplayList, h: _Head, s, ex, ec, seen) -> None:
    """One eyebrow: a tapered band, the colour of the hair (dark grey when bald)."""
    brow = np.where((h.style == 2)[:, None], [[0.3, 0.22, 0.15]], h.hair * 0.75)
    u = np.linspace(-1, 1, 9)
    bxs = ex + u * 0.25 * ec
    bys = -0.34 - 0.07 * (1 - u * u) + s * 0.03 * u
    thick = 0.045 + 0.04 * (1 - np.abs(u + s * 0.4) / 1.4)
    dl.add([h.at(np.concatenate([bxs, bxs[:, ::-1]], -1),
                 np.concatenate([bys - thick, (bys + thick)[::-1]]))],
           rgba(brow, LIT), where=seen)


def _draw_eyes(dl: DisplayList, h: _Head) -> None:
    """Brows and eyes; the irises sit on the eyeballs, so they move a little more than the
    lids. An eye turned away too far is not drawn."""
    iris = rgba(_EYE_RGB[h.f["eye_color"]], LIT)
    for s, (ex, ec) in zip((-1, 1), h.eyes):
        seen = ec[:, 0] >= 0.12
        _draw_brow(dl, h, s, ex, ec, seen)
        ew, eh = 0.2 * ec + 0.02, 0.11
        dl.add([h.at(*ellipse(ex, 0.0, ew, eh, 20))], rgba([0.96, 0.94, 0.9], LIT),
               where=seen)
        irx = 0.09 * np.maximum(ec, 0.45)
        ix = np.clip(ex + 0.07 * h.sa, ex - ew + 0.8 * irx, ex + ew - 0.8 * irx)
        dl.add([h.at(*ellipse(ix, 0.01, irx, 0.095, 16))], iris, where=seen)
        dl.add([h.at(*ellipse(ix, 0.01, 0.5 * irx, 0.05, 12))],
               rgba([0.02, 0.02, 0.02], LIT), where=seen)
        dl.add([h.at(*ellipse(ix - 0.03, -0.03, 0.025, 0.025, 8))], rgba([1, 1, 1], LIT),
               where=seen)
        lid_x, lid_y = ellipse(ex, 0.0, 1.08 * ew, 1.15 * eh, 12, np.pi, 2 * np.pi)
        lid2_x, lid2_y = ellipse(ex, 0.0, ew, 0.7 * eh, 12, np.pi, 2 * np.pi)
        dl.add([h.at(np.concatenate([lid_x, lid2_x[:, ::-1]], -1),
                     np.concatenate([lid_y, lid2_y[::-1]]))], rgba([0.1, 0.06, 0.05], LIT),
               where=seen)


def _draw_nose(dl: DisplayList, h: _Head) -> None:
    """A highlight on the bridge, the side line that shows when turned, nostrils."""
    sa, ca, tip_x, skin = h.sa, h.ca, h.tip_x, h.skin
    dl.add([h.at(np.concatenate([0.99 * sa, tip_x], -1), [0.0, 0.38])],
           rgba(np.minimum(skin * 1.15, 1), LIT), stroke=h.stroke)
    side = np.where(sa >= 0, 1.0, -1.0)
    k = 0.25 + 0.5 * np.abs(sa)
    dl.add([h.at(np.concatenate([0.99 * sa, tip_x + 0.05 * side, tip_x - 0.06 * side * ca],
                                -1), [0.05, 0.47, 0.52])],
           rgba(skin * (1 - 0.65 * k), LIT), stroke=h.stroke)
    for s in (-1, 1):
        nostril = ellipse(1.02 * np.sin(s * 0.1 + h.a), 0.5, 0.055 * ca + 0.02, 0.035, 10)
        dl.add([h.at(*nostril)], rgba(skin * 0.45, LIT))


def _draw_beard(dl: DisplayList, h: _Head) -> None:
    """From the sideburns round the jaw and up to the moustache, laid on the head's surface
    (angles around the head) so that it turns with the yaw."""
    psi = np.linspace(-np.pi / 2, np.pi / 2, 21)
    top_y = np.broadcast_to(0.05 + 0.52 * np.cos(psi) ** 3, (h.n, 21))
    low_y = np.broadcast_to(0.25 + 1.2 * np.cos(psi) ** 0.6, (h.n, 21))
    beard_y = np.concatenate([top_y, low_y[:, ::-1]], -1)
    beard_x = np.concatenate([np.sin(psi + h.a), np.sin(psi[::-1] + h.a) * 1.05], -1)
    beard_x = _on_head(beard_x, beard_y, h.sa)
    # a beard as dark as the skin would vanish: keep it at least 0.18 darker than the skin
    luma = np.array([0.3, 0.59, 0.11])
    beard = h.hair * 0.8
    lb, ls = beard @ luma, h.skin @ luma
    close = np.abs(lb - ls) < 0.18
    beard = np.where(close[:, None], beard * (np.maximum(ls - 0.18, 0.04) / lb)[:, None],
                     beard)
    dl.add([h.at(beard_x, beard_y)], rgba(beard, HAIR), where=h.f["beard"] == 1)


def _draw_mouth(dl: DisplayList, h: _Head) -> None:
    """Lips whose corners rise with `smile`; a wide smile opens and shows teeth."""
    smile = h.smile
    u = np.linspace(-1, 1, 15)
    hw = 0.42 + 0.12 * np.maximum(smile, 0)
    mx = 0.99 * np.sin(u * hw + h.a)
    yc = 0.78 - 0.3 * smile * u * u + 0.08 * np.maximum(smile, 0)
    env = np.sqrt(1 - u * u)
    # the mouth opens quickly above neutral, so every smile shows teeth even at 32x32
    opening = np.clip((smile - 0.15) / 0.3, 0, 1) * 0.16 + np.maximum(smile - 0.45, 0) * 0.2
    lower_top = yc + opening * (1 - u * u)
    lips = h.skin * np.array([0.9, 0.55, 0.55]) + np.array([0.1, 0.0, 0.0])

    def band(x, y_top, y_bottom):
        return h.at(np.concatenate([x, x[:, ::-1]], -1),
                    np.concatenate([y_top, y_bottom[:, ::-1]], -1))

    dl.add([band(mx, yc - 0.07 * env, yc)], rgba(lips, LIT))
    dl.add([band(mx, lower_top, lower_top + 0.09 * env)], rgba(lips * 1.08, LIT))
    is_open = opening[:, 0] > 0.01
    dl.add([band(mx, yc, lower_top)], rgba([0.3, 0.08, 0.08], LIT), where=is_open)
    teeth = yc + np.minimum(0.75 * opening, 0.14) * (1 - u * u)
    dl.add([band(mx[:, 1:-1], yc[:, 1:-1], teeth[:, 1:-1])], rgba([0.97, 0.95, 0.9], LIT),
           where=is_open)
    dl.add([h.at(mx, yc)], rgba([0.25, 0.08, 0.08], LIT), stroke=h.stroke)
    k = np.linspace(0, 1, 5)
    for s in (-1, 1):  # soft creases beside a smile
        lx = 0.99 * np.sin(s * (hw + 0.1 - 0.05 * (2 * k - 1) ** 2) + h.a)
        dl.add([h.at(lx, yc[:, :1] - 0.2 + 0.25 * k)], soft(0.55), layer="soft",
               stroke=h.stroke, where=smile[:, 0] > 0.3)


def _draw_glasses(dl: DisplayList, h: _Head) -> None:
    """Rims (round or squarish), a bridge and the arms, with a glint on each lens."""
    frame = rgba(_FRAME_RGB[h.f["glasses_color"]], LIT)
    on = h.f["glasses"] == 1
    t = np.linspace(0, 2 * np.pi, 28, endpoint=False)
    ct, st = np.cos(t), np.sin(t)
    square = h.f["glasses_style"][:, None] == 1
    ct = np.where(square, np.sign(ct) * np.abs(ct) ** 0.45, ct)
    st = np.where(square, np.sign(st) * np.abs(st) ** 0.45, st)
    w = 0.09
    for s, (ex, ec) in zip((-1, 1), h.eyes):
        seen = on & (ec[:, 0] >= 0.05)
        rx = 0.27 * ec + 0.02
        dl.add([h.at(ex + [-0.5, 0.3] * rx, [-0.08, 0.12])], soft(1.25), where=seen,
               layer="soft", stroke=h.stroke)
        dl.add([h.at(ex + (rx + w / 2) * ct, 0.02 + (0.2 + w / 2) * st),
                h.at(ex + (rx - w / 2) * ct, 0.02 + (0.2 - w / 2) * st)], frame, where=seen)
        arm_x, arm_c = h.on_face(s * 1.45)
        dl.add([h.at(np.concatenate([ex + s * rx, arm_x], -1), [-0.02, -0.04])], frame,
               where=seen & (arm_c[:, 0] > 0), stroke=h.stroke)
    (lx_, lc), (rx_, rc) = h.eyes
    bridge_x = np.concatenate([lx_ + 0.27 * lc + 0.02, (lx_ + rx_) / 2,
                               rx_ - 0.27 * rc - 0.02], -1)
    dl.add([h.at(bridge_x, [-0.02, -0.07, -0.02])], frame,
           where=on & (lc[:, 0] >= 0.05) & (rc[:, 0] >= 0.05), stroke=h.stroke)


_PARTS = (_draw_shirt, _draw_back_hair, _draw_neck, _draw_head, _draw_modelling, _draw_hair,
          _draw_eyes, _draw_nose, _draw_beard, _draw_mouth, _draw_glasses)  # back to front


def _face_list(f: dict, R: int) -> DisplayList:
    """The display list that draws the faces with factors `f` on an R x R canvas."""
    h = _Head(f, R)
    dl = DisplayList(h.n)
    for draw_part in _PARTS:
        draw_part(dl, h)
    return dl


# --------------------------------------------------------------------------- compositing


@functools.lru_cache(maxsize=None)
def _backgrounds(size: int) -> np.ndarray:
    """Each background (len(BACKGROUNDS), size, size, 3) uint8: a gradient and a glow."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = yy[..., None]
    glow = np.exp(-((xx - 0.5) ** 2 + (yy - 0.35) ** 2) / 0.08)[..., None]
    bg = _BG_RGB[:, None, None, 0] * (1 - t) + _BG_RGB[:, None, None, 1] * t + 0.12 * glow
    return np.clip(bg * 255 + 0.5, 0, 255).astype(np.uint8)


def _shade_faces(f: dict, R: int, idx) -> np.ndarray:
    """Lambert shading (m, R, R) of a sphere around head and hair, lit from `light`."""
    cx, cy, S, roll = (v[idx, None, None].astype(np.float32) for v in _face_geometry(f))
    yy, xx = grid(R)
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
    """Images (n, size, size, 3) uint8 for factor rows as sample_factors("faces") gives."""
    R = canvas_size(size)
    n = len(factors["yaw"])
    dl = _face_list(factors, R)
    out = np.empty((n, size, size, 3), np.uint8)
    strands, speckle = bank("strands", R), bank("speckle", R)
    blur = 0.07 * (_face_geometry(factors)[2] * R)  # soft shadows scale with the head
    for start in range(0, n, 64):
        idx = np.arange(start, min(n, start + 64))
        fill = _backgrounds(R)[factors["background"][idx]]
        img, soft_layer, _ = rasterise(dl, idx, R, blur[idx], fill)
        curly = (factors["hair_style"][idx] == 3)[:, None, None]
        texture = np.where(curly, speckle[factors["texture"][idx]],
                           strands[factors["texture"][idx]])
        out[idx] = composite(img, soft_layer, _shade_faces(factors, R, idx), texture, size)
    return out
