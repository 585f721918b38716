"""Offline pictures with known answers, for tests, benchmarks and notebook 01.

- packaged photos: scikit-image's samples and matplotlib's grace_hopper.jpg (no network);
- face scenes: lfw_subset faces scaled up and pasted into face-free photos at known boxes;
- a near-duplicate set: distinct base images plus altered copies in known groups;
- serve_folder: a throw-away HTTP server on 127.0.0.1, so the download step runs offline.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import skimage.data
from PIL import Image

from data_prep.decode import load_rgb
from data_prep.detect import iou

from dcgan_tf.config import InputError

# Packaged photos without faces (checked by eye). Left out: coins (portraits on the coins),
# camera (a man), cell (no face, but the Haar cascade fires on it: used as a hard case).
FACE_FREE = ("coffee", "chelsea", "rocket", "moon", "brick", "hubble_deep_field",
             "immunohistochemistry", "retina", "grass", "gravel", "clock", "page", "text",
             "colorwheel")
# One frontal face each; boxes [x, y, w, h] read off the photos by eye (brows to chin).
PACKAGED_FACES = {"astronaut": [175, 70, 92, 92], "grace_hopper": [160, 135, 195, 190]}
BASE_KINDS = ("tile", "lfw", "shapes")
DUP_KINDS = ("copy", "jpeg", "shift", "brightness", "resize")


def grace_hopper_path() -> Path:
    """matplotlib's bundled portrait of Grace Hopper (a JPEG file on disk)."""
    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def packaged_photo(name: str) -> np.ndarray:
    """A bundled photo as HxWx3 uint8 RGB: a skimage.data name or 'grace_hopper'."""
    if name == "grace_hopper":
        return load_rgb(grace_hopper_path())

    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype != np.uint8:
        img = np.round(255 * (img - img.min()) / max(np.ptp(img), 1e-12)).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def lfw(faces: bool = True) -> np.ndarray:
    """scikit-image's lfw_subset as uint8: its 100 faces, or its 100 face-free patches."""
    x = skimage.data.lfw_subset()
    x = x[:100] if faces else x[100:]
    return np.round(x * 255).astype(np.uint8)


def face_scenes(n: int, per_scene: int = 4, size=(480, 360), face_px=(80, 120),
                seed: int = 0) -> list[tuple[np.ndarray, list[list[int]]]]:
    """n photos of face-free backgrounds with lfw faces pasted at known [x, y, w, h] boxes.

    Faces go in separate columns so they never overlap; each face is used once while the
    100 last (then they repeat).
    """
    rng = np.random.default_rng(seed)
    faces = lfw(True)
    order = rng.permutation(len(faces))
    w, h = size
    col = w // per_scene
    if col < face_px[1] or h < face_px[1]:
        raise InputError(f"scene {size} too small for {per_scene} faces of {face_px[1]} px")
    backgrounds = [packaged_photo(name) for name in FACE_FREE]
    scenes, k = [], 0
    for i in range(n):
        bg = backgrounds[i % len(backgrounds)]
        scene = cv2.resize(bg, (w, h), interpolation=cv2.INTER_AREA)
        boxes = []
        for j in range(per_scene):
            side = int(rng.integers(face_px[0], face_px[1] + 1))
            face = cv2.resize(faces[order[k % len(faces)]], (side, side),
                              interpolation=cv2.INTER_CUBIC)
            k += 1
            x = j * col + int(rng.integers(0, col - side + 1))
            y = int(rng.integers(0, h - side + 1))
            scene[y:y + side, x:x + side] = face[..., None]
            boxes.append([x, y, side, side])
        scenes.append((scene, boxes))
    return scenes


def match_boxes(found, truth, min_iou: float = 0.3) -> tuple[int, int, int]:
    """Greedy one-to-one matching of found to true boxes: (true pos., false pos., misses)."""
    used, tp = set(), 0
    for box in found:
        scores = [(iou(box, t), j) for j, t in enumerate(truth) if j not in used]
        best = max(scores, default=(0.0, -1))
        if best[0] >= min_iou:
            used.add(best[1])
            tp += 1
    return tp, len(found) - tp, len(truth) - tp


def demo_photos(folder, n_scenes: int = 24, seed: int = 0) -> list[tuple[str, str]]:
    """Write notebook 01's photos into `folder`; returns (file name, person's name) pairs.

    Real packaged portraits, one of them stored sideways with an EXIF orientation tag,
    composed lfw scenes, a crowd of small faces, face-free photos, two near-duplicate copies,
    odd but valid files (CMYK, 16-bit grey, alpha) and broken ones (empty, truncated, text
    named .jpg).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []

    def save(name, rgb, person="", **kw):
        Image.fromarray(rgb).save(folder / name, **kw)
        out.append((name, person))

    astronaut = packaged_photo("astronaut")
    save("astronaut.jpg", astronaut, "Eileen Collins", quality=92)
    (folder / "grace_hopper.jpg").write_bytes(grace_hopper_path().read_bytes())
    out.append(("grace_hopper.jpg", "Grace Hopper"))
    exif = Image.Exif()
    exif[0x0112] = 6  # a camera held sideways: pixels on their side, the tag says "turn"
    save("astronaut_sideways.jpg", np.ascontiguousarray(np.rot90(astronaut, 1)),
         "Eileen Collins", exif=exif.tobytes(), quality=92)
    scenes = face_scenes(n_scenes, seed=seed)
    for i, (img, _) in enumerate(scenes):
        save(f"scene_{i:02d}.jpg", img, f"lfw scene {i}", quality=92)
    for name in ("coffee", "chelsea", "rocket", "cell"):  # cell: the cascade fires, weakly
        save(f"{name}.jpg", packaged_photo(name), quality=92)
    crowd, _ = face_scenes(1, per_scene=8, size=(640, 240), face_px=(36, 60), seed=seed + 1)[0]
    save("crowd.jpg", crowd, "a crowd of small faces", quality=92)
    # Near duplicates: a scene re-saved at low quality, another shrunk by a quarter.
    save("scene_00_recompressed.jpg", scenes[0][0], "lfw scene 0", quality=40)
    small = cv2.resize(scenes[1][0], None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    save("scene_01_smaller.png", small, "lfw scene 1")
    # Odd but valid.
    Image.fromarray(scenes[2 % n_scenes][0]).convert("CMYK").save(folder / "cmyk.jpg")
    out.append(("cmyk.jpg", ""))
    grey16 = packaged_photo("grace_hopper")[..., 1].astype(np.uint16) * 257
    Image.fromarray(grey16).save(folder / "grey16.png")
    out.append(("grey16.png", "Grace Hopper"))
    rgba = np.dstack([scenes[3 % n_scenes][0], np.full(scenes[0][0].shape[:2], 255, np.uint8)])
    rgba[:40, :, 3] = 0  # a transparent strip along the top
    save("alpha.png", rgba)
    # Broken.
    jpeg = (folder / "astronaut.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("a text file that calls itself a JPEG")
    out += [("truncated.jpg", ""), ("empty.jpg", ""), ("notes.jpg", "")]
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_folder(folder):
    """Serve a folder on http://127.0.0.1:<free port> inside a with-block; yields the base URL.

    Lets the download step run offline, on photos written to disk a moment before.
    """
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- near duplicates


def _tiles(side: int, rng) -> list[np.ndarray]:
    """Non-overlapping, textured tiles of the packaged photos (flat ones are left out)."""
    names = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
             "immunohistochemistry", "retina", "colorwheel", "grace_hopper", "camera", "moon",
             "brick", "grass", "gravel", "coins", "clock", "page", "text", "cell")
    out = []
    for name in names:
        img = packaged_photo(name)
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        tiles = [img[y:y + side, x:x + side]
                 for y in range(0, img.shape[0] - side + 1, side)
                 for x in range(0, img.shape[1] - side + 1, side)
                 if grey[y:y + side, x:x + side].std() > 20]  # flat tiles look alike
        # At most 16 per photo: tiles of one texture (retina, grass) are look-alikes too.
        pick = rng.permutation(len(tiles))[:16]
        out.extend(tiles[i] for i in pick)
    rng.shuffle(out)
    return out


def shapes_image(rng, side: int = 64) -> np.ndarray:
    """A random picture: a colour gradient with a few filled and outlined shapes."""
    big = side * 2  # draw at twice the size, then shrink: anti-aliased edges
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0.0, 1.0, big)[None, :, None]
    img = np.ascontiguousarray(np.repeat((c0 * (1 - t) + c1 * t), big, axis=0), np.uint8)
    if rng.random() < 0.5:
        img = np.ascontiguousarray(img.transpose(1, 0, 2))
    for _ in range(int(rng.integers(3, 7))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(4)
        p = rng.integers(0, big, 4)
        thick = -1 if rng.random() < 0.6 else int(rng.integers(2, 8))
        if kind == 0:
            cv2.circle(img, (int(p[0]), int(p[1])), int(rng.integers(8, big // 3)), colour, thick)
        elif kind == 1:
            cv2.rectangle(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour, thick)
        elif kind == 2:
            cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour,
                     int(rng.integers(2, 10)))
        else:
            axes = (int(rng.integers(8, big // 2)), int(rng.integers(8, big // 3)))
            cv2.ellipse(img, (int(p[0]), int(p[1])), axes, float(rng.integers(180)), 0, 360,
                        colour, thick)
    return cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)


def alter(img: np.ndarray, kind: str, rng) -> np.ndarray:
    """A near-duplicate of img: re-compressed, shifted, brightened/darkened or resized."""
    h, w = img.shape[:2]
    if kind == "copy":
        return img.copy()
    if kind == "jpeg":
        q = int(rng.integers(30, 71))
        ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    if kind == "shift":
        dx, dy = (int(v) * int(rng.choice([-1, 1])) for v in rng.integers(1, 4, 2))
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    if kind == "brightness":
        f = float(rng.choice([rng.uniform(0.8, 0.92), rng.uniform(1.08, 1.2)]))
        return np.clip(np.round(img.astype(np.float32) * f), 0, 255).astype(np.uint8)
    if kind == "resize":  # the same picture at another resolution
        side = int(rng.choice([w // 2, (3 * w) // 4, (3 * w) // 2, 2 * w]))
        interp = cv2.INTER_AREA if side < w else cv2.INTER_CUBIC
        return cv2.resize(img, (side, side * h // w), interpolation=interp)
    raise InputError(f"unknown alteration {kind!r}; one of {DUP_KINDS}")


def near_duplicate_set(n: int, dup_fraction: float = 0.3, side: int = 64, seed: int = 0):
    """n images, of which about dup_fraction are altered copies of other images in the set.

    Returns (images, groups, kinds): a list of uint8 RGB arrays (resized copies differ in
    size), the true groups (lists of indices, size >= 2) and each image's kind ("tile",
    "lfw", "shapes" for originals; DUP_KINDS for copies).
    """
    rng = np.random.default_rng(seed)
    n_dups = int(round(n * dup_fraction))
    n_base = n - n_dups
    lfw_imgs = [cv2.resize(np.repeat(f[..., None], 3, -1), (side, side),
                           interpolation=cv2.INTER_CUBIC) for f in np.concatenate([lfw(True),
                                                                                   lfw(False)])]
    tiles = _tiles(side, rng)
    # A third of the bases from each source while it lasts; random shapes fill the rest.
    take_lfw = min(len(lfw_imgs), n_base // 3)
    take_tiles = min(len(tiles), n_base // 3)
    bases = ([(im, "lfw") for im in lfw_imgs[:take_lfw]]
             + [(im, "tile") for im in tiles[:take_tiles]])
    while len(bases) < n_base:
        bases.append((shapes_image(rng, side), "shapes"))
    images = [im for im, _ in bases]
    kinds = [k for _, k in bases]
    groups: dict[int, list[int]] = {}
    for _ in range(n_dups):
        # Each copy alters an original, and some originals get several copies.
        src = int(rng.integers(n_base))
        kind = str(rng.choice(DUP_KINDS))
        groups.setdefault(src, [src]).append(len(images))
        images.append(alter(images[src], kind, rng))
        kinds.append(kind)
    order = rng.permutation(len(images))
    new_index = np.argsort(order)
    images = [images[i] for i in order]
    kinds = [kinds[i] for i in order]
    truth = [sorted(int(new_index[i]) for i in g) for g in groups.values()]
    return images, truth, kinds
