"""Procedural bedrooms: their factors, and the parts a room is drawn from.

A room is a box (x across, y up, z away from the camera) seen in one-point perspective
from a camera at (cam_x, cam_h, 0): a point projects to (R/2 + F (X - cam_x) / Z,
horizon - F (Y - cam_h) / Z). Parts are added back to front into one display list
(dcgan_tf.groundtruth.drawing): the shell, up to two windows on three walls, a door, a
picture, the bed and the nightstand with its lamp. The objects paint their ids as they are
drawn, so the last one drawn over a pixel owns it: the masks are exactly what is visible.
The compositing pass darkens the shell with depth and adds wood grain to wooden floors.
"""

from __future__ import annotations

import numpy as np

from dcgan_tf.groundtruth.drawing import (HAIR, LIT, DisplayList, bank, canvas_size, composite,
                                          downsample, ellipse, grid, hsv, rasterise, rgba, soft)

ROOM_BINARY = ("window", "door", "lamp", "picture")
ROOM_OBJECTS = ("bed", "window", "door", "lamp", "picture")

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
_NIGHT = 2  # the night sky: no daylight falls through the window


# --------------------------------------------------------------------------- factors


def sample_rooms(rng: np.random.Generator, n: int) -> dict:
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
    f = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in f.items()}
    f["window"] = (f["window_count"] > 0).astype(np.int64)  # a label, derived
    return f


def relabel_rooms(f: dict, overridden: set) -> dict:
    """Re-derive `window` from `window_count`, or the count from an overridden `window`."""
    if "window" in overridden and "window_count" not in overridden:
        f["window_count"] = np.where(f["window"] == 0, 0, np.maximum(f["window_count"], 1))
    f["window"] = (f["window_count"] > 0).astype(np.int64)
    return f


# --------------------------------------------------------------------------- the room


class _Room:
    """A batch of rooms on an R x R canvas: size, camera and colours, as (n, 1) columns,
    and the projection that every part is drawn through."""

    def __init__(self, f: dict, R: int):
        self.f, self.n = f, len(f["room_w"])
        self.c = c = {k: np.asarray(v, np.float64)[:, None] for k, v in f.items()}
        self.W2, self.D, self.H = c["room_w"] / 2, c["room_d"], c["room_h"]
        self.cam_x, self.cam_h = c["cam_x"], c["cam_h"]
        self.F, self.cu, self.cv = c["focal"] * R, R / 2, c["horizon"] * R
        self.line = max(1, R // 64)  # stroke width in pixels
        self.near, self.one = np.full((self.n, 1), 0.25), np.ones((self.n, 1))
        self.zero = np.zeros((self.n, 1))
        self.trim = _TRIM_RGB[f["trim"]]
        self.wood_rgb = _DOOR_RGB[1 + 2 * (f["trim"] % 2)]  # the bed's and nightstand's

    def proj(self, X, Y, Z):
        """Room coordinates (broadcast to (n, k)) -> (n, k, 2) pixels."""
        X, Y, Z = np.broadcast_arrays(np.asarray(X, np.float64), Y, Z,
                                      np.empty((self.n, 1)))[:3]
        return np.stack([self.cu + self.F * (X - self.cam_x) / Z,
                         self.cv - self.F * (Y - self.cam_h) / Z], -1)

    def quad_x(self, x, y0, y1, z0, z1):
        """A rectangle on a side wall (plane x = const)."""
        ys = np.concatenate([y0, y1, y1, y0], -1) if np.ndim(y0) else [y0, y1, y1, y0]
        return self.proj(x, ys, np.concatenate([z0, z0, z1, z1], -1))

    def quad_z(self, z, x0, x1, y0, y1):
        """A rectangle facing the camera (plane z = const)."""
        return self.proj(np.concatenate([x0, x1, x1, x0], -1),
                         np.concatenate([y0, y0, y1, y1], -1), z)

    def quad_y(self, y, x0, x1, z0, z1):
        """A horizontal rectangle (plane y = const)."""
        return self.proj(np.concatenate([x0, x1, x1, x0], -1), y,
                         np.concatenate([z0, z0, z1, z1], -1))

    def box(self, dl, x0, x1, y0, y1, z0, z1, rgb, where=True, obj=0, aux=0):
        """The faces of an axis-aligned box the camera can see: a side, the top, the front."""
        where = np.broadcast_to(np.asarray(where, bool).reshape(-1), (self.n,))
        cam_x, cam_h = self.cam_x, self.cam_h
        dl.add([self.quad_x(x0, y0, y1, z0, z1)], rgba(rgb * 0.7, aux),
               where & (cam_x < x0)[:, 0], obj=obj)
        dl.add([self.quad_x(x1, y0, y1, z0, z1)], rgba(rgb * 0.7, aux),
               where & (cam_x > x1)[:, 0], obj=obj)
        dl.add([self.quad_y(y1, x0, x1, z0, z1)], rgba(np.minimum(rgb * 1.08, 1), aux),
               where & (cam_h > y1)[:, 0], obj=obj)
        dl.add([self.quad_z(z0, x0, x1, y0, y1)], rgba(rgb * 0.85, aux), where, obj=obj)


# --------------------------------------------------------------------------- the parts


def _draw_shell(dl: DisplayList, r: _Room) -> None:
    """Ceiling, floor (boards when wooden), side and back walls, shadowed corners, skirting;
    the shading pass darkens all of it with depth."""
    W2, D, H, near, zero, line = r.W2, r.D, r.H, r.near, r.zero, r.line
    wall = _WALL_RGB[r.f["wall_color"]]
    floor = _FLOOR_RGB[r.f["floor"]]
    wood = r.f["floor"] < 2
    dl.add([r.quad_y(H, -W2, W2, near, D)], rgba(np.minimum(wall * 1.12, 1), LIT))
    dl.add([r.quad_y(zero, -W2, W2, near, D)], rgba(floor, HAIR), where=wood)
    dl.add([r.quad_y(zero, -W2, W2, near, D)], rgba(floor, LIT), where=~wood)
    dl.add([r.quad_x(-W2, zero, H, near, D)], rgba(wall * 0.92, LIT))
    dl.add([r.quad_x(W2, zero, H, near, D)], rgba(wall * 0.84, LIT))
    dl.add([r.quad_z(D, -W2, W2, zero, H)], rgba(wall, LIT))
    for k in np.linspace(-0.9, 0.9, 9):  # floorboards run towards the vanishing point
        dl.add([r.proj(k * W2, 0, np.concatenate([near, D], -1))], rgba(floor * 0.7, HAIR),
               where=wood, stroke=line)
    for x0 in (-W2, W2):
        dl.add([r.proj(x0, np.concatenate([zero, H], -1), D)], soft(0.75), layer="soft",
               stroke=line)
        dl.add([r.proj(x0, zero, np.concatenate([near, D], -1))], soft(0.8), layer="soft",
               stroke=line)
    dl.add([r.proj(np.concatenate([-W2, W2], -1), 0, D)], soft(0.8), layer="soft",
           stroke=line)
    dl.add([r.proj(np.concatenate([-W2, W2], -1), H, D)], soft(0.85), layer="soft",
           stroke=line)
    skirting = np.concatenate([near, D, D, near], -1)
    dl.add([r.proj(np.concatenate([-W2, -W2, W2, W2], -1), 0.08, skirting)],
           rgba(_TRIM_RGB[0] * 0.95, LIT), stroke=line)


def _draw_side_window(dl: DisplayList, r: _Room, k: int, wall_x, on) -> None:
    """Window k on the side wall at x = wall_x: frame, sky, glazing bars, a reflection and
    the daylight it lets onto the floor."""
    c, line, trim, oid = r.c, r.line, r.trim, _OBJ_ID["window"]
    sky = _SKY_RGB[r.f["sky"]]
    ww, wh, wy = c["window_w"], c["window_h"], c["window_y"]
    z1 = r.D - 0.55 - 0.1 * k  # side-wall windows end this far from the back wall
    z0 = z1 - ww
    dl.add([r.quad_x(wall_x, wy - 0.06, wy + wh + 0.06, z0 - 0.06, z1 + 0.06)],
           rgba(trim, LIT), where=on, obj=oid)
    dl.add([r.quad_x(wall_x * 0.999, wy, wy + wh, z0, z1)], rgba(sky), where=on, obj=oid)
    dl.add([r.proj(wall_x, np.concatenate([wy, wy + wh], -1), (z0 + z1) / 2)],
           rgba(trim, LIT), where=on, stroke=line, obj=oid)
    dl.add([r.proj(wall_x, wy + 0.6 * wh, np.concatenate([z0, z1], -1))],
           rgba(trim, LIT), where=on, stroke=line, obj=oid)
    day = on & (r.f["sky"] != _NIGHT)
    dl.add([r.quad_x(wall_x * 0.999, wy + 0.55 * wh, wy + wh, z0 + 0.6 * ww, z1)],
           rgba(np.minimum(sky * 1.25 + 0.1, 1)), where=day)
    inward = wall_x - np.sign(wall_x) * 0.9  # daylight lands on the floor beside the wall
    dl.add([r.proj(np.concatenate([wall_x, wall_x, inward, inward], -1), 0,
                   np.concatenate([z0, z1, z1 - 0.3, z0 - 0.3], -1))], soft(1.27),
           where=day, layer="soft")


def _draw_back_window(dl: DisplayList, r: _Room, on) -> None:
    """A window on the back wall, on the side away from the nightstand, with curtains that
    hang beside (and a little over) it: they hide part of its mask."""
    c, D, line, trim, oid = r.c, r.D, r.line, r.trim, _OBJ_ID["window"]
    sky = _SKY_RGB[r.f["sky"]]
    ww, wh, wy = c["window_w"], c["window_h"], c["window_y"]
    xa = -c["side"] * (r.W2 - 0.3)
    xb = -c["side"] * (r.W2 - 0.3 - ww)
    x0, x1 = np.minimum(xa, xb), np.maximum(xa, xb)
    day = on & (r.f["sky"] != _NIGHT)
    dl.add([r.quad_z(D, x0 - 0.06, x1 + 0.06, wy - 0.06, wy + wh + 0.06)],
           rgba(trim, LIT), where=on, obj=oid)
    dl.add([r.quad_z(D, x0, x1, wy, wy + wh)], rgba(sky), where=on, obj=oid)
    dl.add([r.quad_z(D, x0 + 0.55 * ww, x1, wy + 0.55 * wh, wy + wh)],
           rgba(np.minimum(sky * 1.25 + 0.1, 1)), where=day)
    dl.add([r.quad_y(r.zero, x0 - 0.1, x1 + 0.1, D - 1.2, D)], soft(1.27), where=day,
           layer="soft")
    dl.add([r.proj((x0 + x1) / 2, np.concatenate([wy, wy + wh], -1), D)], rgba(trim, LIT),
           where=on, stroke=line, obj=oid)
    dl.add([r.proj(np.concatenate([x0, x1], -1), wy + 0.6 * wh, D)], rgba(trim, LIT),
           where=on, stroke=line, obj=oid)
    dl.add([r.quad_z(D, x0 - 0.1, x1 + 0.1, wy - 0.1, wy - 0.04)], rgba(trim * 0.9, LIT),
           where=on, obj=oid)
    curtain = rgba(hsv(r.f["curtain_hue"], 0.45, 0.7), LIT)
    for xc in (x0, x1):
        dl.add([r.quad_z(D * 0.998, xc - 0.2, xc + 0.08, wy - 0.2, wy + wh + 0.15)],
               curtain, where=on & (r.f["curtains"] == 1))


def _draw_windows(dl: DisplayList, r: _Room) -> None:
    """Up to two windows, each on its own wall slot (0 left, 1 right, 2 back)."""
    for k, slot_key in enumerate(("window_slot_a", "window_slot_b")):
        show = r.f["window_count"] > k
        slot = r.f[slot_key]
        for s, wall_x in ((0, -r.W2), (1, r.W2)):
            _draw_side_window(dl, r, k, wall_x, show & (slot == s))
        _draw_back_window(dl, r, show & (slot == 2))


def _draw_door(dl: DisplayList, r: _Room) -> None:
    """A panelled door with a knob, on a side wall, nearer the camera than the windows."""
    c, zero, one = r.c, r.zero, r.one
    dside = c["door_side"]
    door_x = dside * r.W2
    dz1 = r.D - c["door_z"]
    dz0 = dz1 - 0.85
    door = _DOOR_RGB[r.f["door_color"]]
    on = r.f["door"] == 1
    did = _OBJ_ID["door"]
    dl.add([r.quad_x(door_x, zero, 2.1 * one, dz0 - 0.07, dz1 + 0.07)], rgba(r.trim, LIT),
           where=on, obj=did)
    dl.add([r.quad_x(door_x * 0.999, zero, 2.0 * one, dz0, dz1)], rgba(door, LIT),
           where=on, obj=did)
    for y0, y1 in ((0.2, 0.9), (1.1, 1.8)):  # recessed panels
        dl.add([r.quad_x(door_x * 0.998, y0 * one, y1 * one, dz0 + 0.15, dz1 - 0.15)],
               rgba(door * 0.85, LIT), where=on, obj=did)
    knob_z = np.where(dside > 0, dz0 + 0.1, dz1 - 0.1)
    knob = r.proj(door_x * 0.997, 1.0, knob_z)
    kr = 0.04 * r.F / knob_z
    dl.add([np.stack(ellipse(knob[..., :1, 0], knob[..., :1, 1], kr, kr, 8), -1)],
           rgba([0.8, 0.7, 0.35], LIT), where=on, obj=did)


def _draw_picture(dl: DisplayList, r: _Room) -> None:
    """The picture above the bed: a frame and an abstract painting of two colours."""
    c, D = r.c, r.D
    pw, ph = c["picture_w"], c["picture_h"]
    px = c["bed_x"]
    py = 1.42 * r.one
    on = r.f["picture"] == 1
    pid = _OBJ_ID["picture"]
    frame = _TRIM_RGB[(r.f["trim"] + 1) % len(_TRIM_RGB)] * 0.8
    art = r.f["art_hue"]
    dl.add([r.quad_z(D, px - pw / 2, px + pw / 2, py, py + ph)], rgba(frame, LIT), where=on,
           obj=pid)
    dl.add([r.quad_z(D, px - pw / 2 + 0.05, px + pw / 2 - 0.05, py + 0.05, py + ph - 0.05)],
           rgba(hsv(art, 0.55, 0.85), LIT), where=on, obj=pid)
    dl.add([r.quad_z(D, px - pw / 2 + 0.05, px + 0.05, py + 0.05, py + 0.45 * ph)],
           rgba(hsv((art + 0.4) % 1, 0.6, 0.55), LIT), where=on, obj=pid)


def _bed_extent(r: _Room):
    """The bed's left and right x and its foot's z."""
    bw, bl = r.c["bed_w"], r.c["bed_l"]
    return r.c["bed_x"] - bw / 2, r.c["bed_x"] + bw / 2, r.D - bl


def _draw_bed(dl: DisplayList, r: _Room) -> None:
    """A headboard with its shadow, the frame and its shadow, a mattress, a blanket."""
    D, zero, one, bid = r.D, r.zero, r.one, _OBJ_ID["bed"]
    bx0, bx1, bz0 = _bed_extent(r)
    dl.add([r.quad_z(D - 0.01, bx0 - 0.05, bx1 + 0.05, 0.6 * one, 1.08 * one)],
           soft(0.7), layer="soft")
    r.box(dl, bx0 - 0.05, bx1 + 0.05, zero, 1.08 * one, D - 0.1, D, r.wood_rgb, obj=bid)
    dl.add([r.proj(np.concatenate([bx0 - 0.1, bx1 + 0.1, bx1 + 0.1, bx0 - 0.1], -1), 0,
                   np.concatenate([bz0 - 0.15, bz0 - 0.15, D, D], -1))], soft(0.6),
           layer="soft")
    r.box(dl, bx0, bx1, zero, 0.28 * one, bz0, D - 0.1, r.wood_rgb, obj=bid)
    r.box(dl, bx0 + 0.02, bx1 - 0.02, 0.28 * one, 0.48 * one, bz0 + 0.02, D - 0.1,
          np.array([0.95, 0.95, 0.93]), obj=bid)
    _draw_pillows(dl, r, bx0, bx1)
    blanket = hsv(r.f["blanket_hue"], 0.55, 0.8)
    r.box(dl, bx0 - 0.03, bx1 + 0.03, 0.22 * one, 0.52 * one, bz0 - 0.03, D - 0.75, blanket,
          obj=bid)


def _draw_pillows(dl: DisplayList, r: _Room, bx0, bx1) -> None:
    """One wide pillow, or two side by side."""
    two = r.f["pillows"] == 2
    mid = (bx0 + bx1) / 2
    for xa, xb, where in ((np.where(two[:, None], bx0 + 0.1, bx0 + 0.15),
                           np.where(two[:, None], mid - 0.05, bx1 - 0.15), True),
                          (mid + 0.05, bx1 - 0.1, two)):
        r.box(dl, xa, xb, 0.48 * r.one, 0.62 * r.one, r.D - 0.6, r.D - 0.15,
              np.array([0.98, 0.98, 0.97]), where=where, obj=_OBJ_ID["bed"])


def _draw_lamp(dl: DisplayList, r: _Room) -> None:
    """A nightstand by the bed (sometimes without a lamp) and the lamp on it: its glow on
    the wall, a base, a stem and a shade."""
    one, line, lid = r.one, r.line, _OBJ_ID["lamp"]
    bx0, bx1, _ = _bed_extent(r)
    lamp_on = r.f["lamp"] == 1
    stand_on = lamp_on | (r.f["nightstand"] == 1)
    nx0 = np.where(r.c["side"] > 0, bx1 + 0.08, bx0 - 0.53)
    nx1 = nx0 + 0.45
    r.box(dl, nx0, nx1, r.zero, 0.55 * one, r.D - 0.45, r.D - 0.02, r.wood_rgb,
          where=stand_on, obj=_NIGHTSTAND_ID)
    lx, lz = (nx0 + nx1) / 2, r.D - 0.23 * one
    glow = r.proj(lx, 0.95, lz)
    gr = 0.9 * r.F / lz
    dl.add([np.stack(ellipse(glow[..., :1, 0], glow[..., :1, 1], gr, gr, 20), -1)],
           soft(1.2), where=lamp_on, layer="soft")
    r.box(dl, lx - 0.08, lx + 0.08, 0.55 * one, 0.6 * one, lz - 0.08, lz + 0.08,
          np.array([0.3, 0.3, 0.32]), where=lamp_on, obj=lid)
    dl.add([r.proj(lx, np.concatenate([0.6 * one, 0.85 * one], -1), lz)],
           rgba([0.3, 0.3, 0.32], LIT), where=lamp_on, stroke=line, obj=lid)
    shade = np.minimum(hsv(r.f["lamp_hue"], 0.3, 1.0) * 1.1, 1)
    dl.add([r.proj(np.concatenate([lx - 0.14, lx + 0.14, lx + 0.25, lx - 0.25], -1),
                   np.concatenate([1.2 * one, 1.2 * one, 0.85 * one, 0.85 * one], -1),
                   lz - 0.1)], rgba(shade), where=lamp_on, obj=lid)


_PARTS = (_draw_shell, _draw_windows, _draw_door, _draw_picture, _draw_bed,
          _draw_lamp)  # back to front


def _room_list(f: dict, R: int) -> DisplayList:
    """The display list that draws the bedrooms with factors `f` on an R x R canvas."""
    r = _Room(f, R)
    dl = DisplayList(r.n)
    for draw_part in _PARTS:
        draw_part(dl, r)
    return dl


# --------------------------------------------------------------------------- compositing


def _shade_rooms(f: dict, R: int, idx) -> np.ndarray:
    """Light falling off with the depth of the room's shell (m, R, R): far corners darker."""
    g = {k: f[k][idx, None, None].astype(np.float32) for k in
         ("room_w", "room_d", "room_h", "cam_x", "cam_h", "focal", "horizon")}
    yy, xx = grid(R)
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
    R = canvas_size(size)
    n = len(factors["room_w"])
    dl = _room_list(factors, R)
    out = np.empty((n, size, size, 3), np.uint8)
    masks = {name: np.zeros((n, size, size), bool) for name in ROOM_OBJECTS}
    grain = bank("grain", R)
    for start in range(0, n, 64):
        idx = np.arange(start, min(n, start + 64))
        img, soft_layer, ids = rasterise(dl, idx, R, np.full(len(idx), R / 64), ids=True)
        texture = grain[factors["texture"][idx]]
        out[idx] = composite(img, soft_layer, _shade_rooms(factors, R, idx), texture, size)
        for name in ROOM_OBJECTS:
            m = (ids == _OBJ_ID[name]).astype(np.float32)
            masks[name][idx] = downsample(m, size) > 0.5
    return out, masks
