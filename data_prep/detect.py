"""Step 2: find faces in a folder of photos and save square crops, recording every box.

The paper ran an OpenCV face detector and kept detections of high enough resolution
(docs/paper_notes.md §4.2). Here: OpenCV's Haar face cascade (or YuNet, given a model file) on
the upright photo (EXIF orientation applied). Every box is recorded, kept or rejected with its
reason (too small, low score, overlapping a larger face, mostly outside the photo); kept boxes
become square crops with a margin, padded where they run past the border, resized to `size`.

Every file of the photo folder gets a record (see list_images for which are read). Each record
holds the settings it was made with; a re-run redoes photos whose file size, modification time
or settings changed. Outcomes: "ok", "no_face", "rejected" (not a usable image), "skipped"
(not read, e.g. a symlink leading out of the folder), "failed" (could not be read: vanished,
I/O error) and "error" (a bug: recorded with its traceback). "failed" and "error" are retried
on a re-run.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import os
import stat
import threading
import traceback
from pathlib import Path

import cv2
import numpy as np

from data_prep.decode import MAX_PIXELS, BadImage, load_rgb
from data_prep.manifest import Manifest, run_all
from dcgan_tf.config import InputError
from dcgan_tf.fileio import write_bytes

HAAR_FILE = "haarcascade_frontalface_default.xml"
HAAR_MIN_FACE = 24  # the cascade's training window: nothing smaller can be found
PADS = {"reflect": cv2.BORDER_REFLECT_101, "edge": cv2.BORDER_REPLICATE,
        "constant": cv2.BORDER_CONSTANT}


@dataclasses.dataclass
class DetectConfig:
    """How faces are found and which are kept."""

    detector: str = "haar"  # "haar" or "yunet"
    yunet_model: str | None = None  # path to face_detection_yunet_*.onnx (yunet only)
    min_size: int = 64  # shortest side, in source pixels, of a face box worth keeping
    size: int = 64  # side of the saved crops (64 or 128)
    margin: float = 0.2  # added on each side of the face box, as a fraction of its side
    pad: str = "reflect"  # how the crop is filled where it runs past the photo's border
    max_padding: float = 0.4  # reject crops with more than this fraction of padded area
    # None: 1.0 for Haar's final-stage weight (faces in our tests ~2-8, a false alarm on
    # skimage's cell photo 0.15; not every false alarm scores low), 0.8 for YuNet's [0, 1].
    min_score: float | None = None
    min_neighbors: int = 5  # Haar: overlapping hits needed to report a face
    scale_factor: float = 1.1  # Haar: step between searched face sizes
    overlap: float = 0.3  # IoU above which the smaller of two boxes is dropped
    max_pixels: int = MAX_PIXELS

    def __post_init__(self):
        if self.detector not in ("haar", "yunet"):
            raise InputError(f"detector must be 'haar' or 'yunet', got {self.detector!r}")
        if self.size not in (64, 128):
            raise InputError(f"size must be 64 or 128, got {self.size}")
        if self.pad not in PADS:
            raise InputError(f"pad must be one of {sorted(PADS)}, got {self.pad!r}")
        if self.min_size < 1 or not 0 <= self.margin <= 2 or not 0 <= self.max_padding <= 1:
            raise InputError("min_size must be >= 1, margin in [0, 2], max_padding in [0, 1]")

    def settings(self) -> dict:
        """Every setting, as recorded with each photo: a change means the photo is redone."""
        return dataclasses.asdict(self)

    @property
    def score_floor(self) -> float:
        """The detector score a box needs to be kept."""
        if self.min_score is not None:
            return self.min_score
        return 1.0 if self.detector == "haar" else 0.8

    def search_scale(self, shape) -> float:
        """How much to shrink a photo before the Haar search.

        Photos up to 1024 px are searched at full size. Larger ones are shrunk (the search
        costs ~ pixels x scales), but never so far that faces of half the kept size are
        lost: those are still found and recorded as too small.
        """
        return min(1.0, max(1024 / max(shape[:2]), 2 * HAAR_MIN_FACE / self.min_size))


def haar_cascade_path() -> str:
    """The frontal-face cascade bundled with opencv-python 4.x; a clear error if missing."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    path = os.path.join(folder, HAAR_FILE)
    if not folder or not os.path.isfile(path) or not hasattr(cv2, "CascadeClassifier"):
        raise RuntimeError(
            f"OpenCV {cv2.__version__} has no {HAAR_FILE} (the 5.x wheels dropped the Haar "
            "cascades): install opencv-python-headless<5, or use --detector yunet --yunet-model "
            "FILE")
    return path


class HaarDetector:
    """OpenCV's Viola-Jones frontal-face cascade. Call with an RGB image."""

    def __init__(self, cfg: DetectConfig):
        self.cfg = cfg
        self.cascade = cv2.CascadeClassifier(haar_cascade_path())
        if self.cascade.empty():
            raise RuntimeError(f"{haar_cascade_path()}: OpenCV could not load the cascade")

    def __call__(self, rgb: np.ndarray) -> list[tuple[list[float], float]]:
        s = self.cfg.search_scale(rgb.shape)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if s < 1.0:
            gray = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=self.cfg.scale_factor, minNeighbors=self.cfg.min_neighbors,
            minSize=(HAAR_MIN_FACE, HAAR_MIN_FACE), outputRejectLevels=True)
        return [([float(v) / s for v in box], float(w))
                for box, w in zip(np.reshape(boxes, (-1, 4)), np.ravel(weights))]


class YuNetDetector:
    """OpenCV's YuNet CNN face detector, from a model file the user provides."""

    def __init__(self, cfg: DetectConfig):
        path = cfg.yunet_model
        if not path or not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path or '(none given)'}: YuNet model file not found; pass the path of "
                "face_detection_yunet_2023mar.onnx from the OpenCV model zoo (--yunet-model)")
        self.cfg = cfg
        # A low threshold here, so weak boxes are reported and rejected (with their score)
        # by judge() like Haar's, not silently dropped.
        self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.3, 0.3, 5000)

    def __call__(self, rgb: np.ndarray) -> list[tuple[list[float], float]]:
        h, w = rgb.shape[:2]
        self.net.setInputSize((w, h))
        _, faces = self.net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if faces is None:
            return []
        return [([float(v) for v in f[:4]], float(f[-1])) for f in faces]


def make_detector(cfg: DetectConfig):
    """The detector named by cfg.detector."""
    return HaarDetector(cfg) if cfg.detector == "haar" else YuNetDetector(cfg)


def iou(a, b) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


def square(box, margin: float) -> list[int]:
    """The square [x, y, side, side] centred on a box, grown by `margin` on each side."""
    x, y, w, h = box
    side = int(round(max(w, h) * (1.0 + 2.0 * margin)))
    return [int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2)), side, side]


def padded_fraction(sq, shape) -> float:
    """How much of a square's area lies outside an image of `shape`."""
    x, y, s, _ = sq
    h, w = shape[:2]
    inside = max(0, min(x + s, w) - max(x, 0)) * max(0, min(y + s, h) - max(y, 0))
    return 1.0 - inside / float(s * s)


def crop_square(rgb: np.ndarray, sq, size: int, pad: str = "reflect") -> np.ndarray:
    """Cut square `sq` out of an image, padding past its border, resized to size x size."""
    x, y, s, _ = sq
    h, w = rgb.shape[:2]
    top, left = max(0, -y), max(0, -x)
    bottom, right = max(0, y + s - h), max(0, x + s - w)
    if top or left or bottom or right:
        # Mirroring needs the pixels as far inside the border as the padding reaches out,
        # so take that much more of the photo before padding (never the whole photo).
        ex0, ex1 = max(0, max(x, 0) - right), min(w, min(x + s, w) + left)
        ey0, ey1 = max(0, max(y, 0) - bottom), min(h, min(y + s, h) + top)
        mode = PADS[pad]
        if mode == cv2.BORDER_REFLECT_101 and min(ey1 - ey0, ex1 - ex0) < 2:
            mode = cv2.BORDER_REPLICATE  # a 1-pixel strip has nothing to mirror
        region = cv2.copyMakeBorder(rgb[ey0:ey1, ex0:ex1], top, bottom, left, right, mode,
                                    value=0)
        ox, oy = x - (ex0 - left), y - (ey0 - top)
        region = region[oy:oy + s, ox:ox + s]
    else:
        region = rgb[y:y + s, x:x + s]
    interp = cv2.INTER_AREA if s >= size else cv2.INTER_CUBIC
    return cv2.resize(region, (size, size), interpolation=interp)


def judge(detections, shape, cfg: DetectConfig) -> list[dict]:
    """Every box as {"box", "score", "square", "kept", "reason"}; larger faces judged first."""
    boxes = sorted(detections, key=lambda d: -d[0][2] * d[0][3])
    out, kept = [], []
    for box, score in boxes:
        box = [round(v, 1) for v in box]
        sq = square(box, cfg.margin)
        item = {"box": box, "score": round(score, 3), "square": sq, "kept": False}
        side = min(box[2], box[3])
        padded = padded_fraction(sq, shape)
        clash = max((iou(box, k) for k in kept), default=0.0)
        if side < cfg.min_size:
            item["reason"] = f"too small: {side:.0f} px < {cfg.min_size} px"
        elif score < cfg.score_floor:
            item["reason"] = f"low score: {score:.2f} < {cfg.score_floor:g}"
        elif clash > cfg.overlap:
            item["reason"] = f"overlaps a larger face box (IoU {clash:.2f})"
        elif padded > cfg.max_padding:
            item["reason"] = f"mostly outside the photo: {padded:.0%} of the crop padded"
        else:
            item["kept"] = True
            item["padded"] = round(padded, 3)
            kept.append(box)
        out.append(item)
    return out


def find_faces(rgb: np.ndarray, cfg: DetectConfig | None = None, detector=None) -> list[dict]:
    """Detect and judge the faces of one RGB image (see judge())."""
    cfg = cfg or DetectConfig()
    detector = detector or make_detector(cfg)
    return judge(detector(rgb), rgb.shape, cfg)


# --------------------------------------------------------------------------- the step

_LOCAL = threading.local()  # one detector per thread: OpenCV's are not thread-safe


def _detector(cfg: DetectConfig):
    if getattr(_LOCAL, "cfg", None) is not cfg:
        _LOCAL.cfg, _LOCAL.detector = cfg, make_detector(cfg)
    return _LOCAL.detector


def _write_png(rgb: np.ndarray, path: Path) -> str:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"{path}: PNG encoding failed")
    data = buf.tobytes()
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _detect_file(key: str, path: str, cfg: DetectConfig, crops: Path) -> dict:
    """One photo -> its manifest record (crops written to the crops folder)."""
    rec = {"step": "detect", "key": key, "settings": cfg.settings()}
    try:
        st = os.stat(path)  # before reading: a change while it is read is seen next run
        rec["bytes"], rec["mtime_ns"] = st.st_size, st.st_mtime_ns
        rgb = load_rgb(path, cfg.max_pixels)
        boxes = find_faces(rgb, cfg, _detector(cfg))
        stem = hashlib.sha256(key.encode()).hexdigest()[:16]
        for i, box in enumerate(b for b in boxes if b["kept"]):
            crop = crop_square(rgb, box["square"], cfg.size, cfg.pad)
            name = f"{stem}-{i}.png"
            box["crop_sha256"] = _write_png(crop, crops / name)
            box["crop"] = f"crops/{name}"
    except BadImage as err:
        return {**rec, "status": "rejected", "reason": str(err)}
    except OSError as err:
        if not os.path.lexists(path):
            why = "missing: file vanished (deleted or moved after the folder was listed)"
        else:
            why = f"I/O error: {err}"
        return {**rec, "status": "failed", "reason": why}
    except Exception as err:  # a bug: recorded with its traceback so the CLI can show it
        return {**rec, "status": "error", "reason": f"unexpected {type(err).__name__}: {err}",
                "traceback": traceback.format_exc()}
    status = "ok" if any(b["kept"] for b in boxes) else "no_face"
    return {**rec, "status": status, "size": [rgb.shape[1], rgb.shape[0]], "boxes": boxes,
            "crop_size": cfg.size}


def _skip_reason(path: Path, real_root: str) -> str | None:
    """Why a listed file is not read, or None if it is (the rules are list_images')."""
    if path.is_symlink():
        target = os.path.realpath(path)
        if not os.path.exists(target):
            return "broken symlink: its target does not exist"
        if os.path.commonpath([target, real_root]) != real_root:
            return "symlink pointing outside the photo folder: not followed"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None  # vanished since listing: reading it records that
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe, socket or device)"
    return None


def list_images(folder, exclude=()) -> list[tuple[Path, str | None]]:
    """Every file under `folder` as (path, None) to be read, or (path, why it is skipped).

    One rule for all: content is judged by decoding, so every regular file is read whatever
    its name or extension. A symlink is listed under its own path; it is followed when it
    leads to a file inside the folder and skipped otherwise (leading outside, broken, or to
    a folder: folders are never entered through links). Not listed at all: names starting
    with "." (downloads in flight, .DS_Store) and the paths in `exclude` (the work folder's
    own outputs, when it lies inside the photo folder).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of photos")
    real_root = os.path.realpath(folder)
    excluded = {os.path.realpath(p) for p in exclude}
    out: list[tuple[Path, str | None]] = []

    def unlisted(err: OSError):
        out.append((Path(err.filename), f"cannot list this folder: {err.strerror}"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unlisted):
        base, real_base = Path(dirpath), os.path.realpath(dirpath)

        def listed(name):  # the entry itself, not a link's target, is compared
            return not name.startswith(".") and os.path.join(real_base, name) not in excluded

        for name in list(dirnames):
            dirnames.remove(name)
            if not listed(name):
                continue
            if (base / name).is_symlink():
                out.append((base / name, "symlink to a folder: not followed"))
            else:
                dirnames.append(name)  # os.walk enters only what stays in dirnames
        out += [(base / n, _skip_reason(base / n, real_root)) for n in filenames if listed(n)]
    return sorted(out, key=lambda item: item[0])


def _outputs(manifest: Manifest) -> list[Path]:
    root = manifest.root
    return [root / "crops", root / "dedup", root / "shards", manifest.path]


def _needs_work(prev: dict | None, path: Path, settings: dict) -> bool:
    if prev is None or prev["status"] in ("failed", "error", "skipped"):
        return True
    try:
        st = path.stat()
    except OSError:
        return True  # vanished or unreadable: reading it records why
    # Size and modification time, as make and rsync judge a change: hashing every photo
    # on every re-run would read the whole folder.
    return (prev.get("bytes"), prev.get("mtime_ns"), prev.get("settings")) != \
        (st.st_size, st.st_mtime_ns, settings)


def detect(work, images=None, cfg: DetectConfig | None = None, *, workers: int | None = None,
           redo: bool = False) -> dict:
    """Run the detector over every photo in `images` (default <work>/images).

    Photos already recorded with the same file size, modification time and settings are
    skipped unless `redo`.
    Uses `workers` threads (default: one per core). Returns counts of the outcomes per file
    and "faces_kept".
    """
    cfg = cfg or DetectConfig()
    manifest = Manifest(work)
    make_detector(cfg)  # fail now, with a clear message, rather than in every worker
    folder = Path(images) if images is not None else manifest.root / "images"
    entries = list_images(folder, exclude=_outputs(manifest))
    crops = manifest.root / "crops"
    crops.mkdir(parents=True, exist_ok=True)
    done, settings = manifest.latest("detect"), cfg.settings()
    todo, skips = [], []
    for path, why in entries:
        key = manifest.relative(path)
        prev = done.get(key)
        if why is not None:
            if prev is None or (prev["status"], prev.get("reason")) != ("skipped", why):
                skips.append(dict(step="detect", key=key, status="skipped", reason=why))
        elif redo or _needs_work(prev, path, settings):
            todo.append((key, str(path)))
    manifest.append_many(skips)
    readable = sum(why is None for _, why in entries)
    if readable > len(todo):
        print(f"detect: {readable - len(todo)} photo(s) already recorded with these "
              "settings, skipped")

    workers = min(workers or os.cpu_count() or 1, max(1, len(todo)))
    # Threads, not processes: decoding (Pillow) and detection (OpenCV) release the GIL, so
    # threads keep every core busy without pickling, fork hazards or __main__ guards.
    with cf.ThreadPoolExecutor(workers) as pool:
        run_all(lambda item: _detect_file(*item, cfg, crops), todo, pool,
                lambda rec: manifest.append(**rec), window=4 * workers, desc="detect",
                total=len(todo), unit="photo")
    latest = manifest.latest("detect")
    recs = [latest.get(manifest.relative(path), {}) for path, _ in entries]
    counts: dict[str, int] = {}
    for rec in recs:
        status = rec.get("status", "missing")
        counts[status] = counts.get(status, 0) + 1
    counts["faces_kept"] = sum(b["kept"] for rec in recs for b in rec.get("boxes", []))
    return counts
