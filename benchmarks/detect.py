"""Face detection: speed (photos/s) and quality (recall, precision, false alarms).

    python benchmarks/detect.py                  # 100 composed scenes, 4 x 100 faces scored
    python benchmarks/detect.py --scenes 40 --seeds 1

Quality: lfw_subset faces pasted into face-free photos at known boxes (synthetic.face_scenes);
a detection counts when its IoU with an unclaimed true box is >= 0.3. Real photos: the face in
astronaut and grace_hopper, and false alarms on photos without faces. Speed: the whole detect
step (decode, detect, crop, PNG, manifest) on JPEG files, with 1 thread and with one per core,
and the detector alone on in-memory 480x360 photos.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from data_prep import synthetic  # noqa: E402
from data_prep.detect import DetectConfig, detect, find_faces, iou, make_detector  # noqa: E402


def quality(cfg, seeds: int, scenes_per_seed: int = 25):
    det = make_detector(cfg)
    print(f"\ncomposed scenes ({scenes_per_seed} scenes x 4 faces per seed, 80-120 px faces)")
    print(f"{'seed':>4} {'faces':>6} {'found':>6} {'false':>6} {'recall':>7} {'precision':>9}")
    total = [0, 0, 0]
    for seed in range(seeds):
        tp = fp = fn = 0
        for img, truth in synthetic.face_scenes(scenes_per_seed, seed=seed):
            kept = [b["box"] for b in find_faces(img, cfg, det) if b["kept"]]
            a, b, c = synthetic.match_boxes(kept, truth)
            tp, fp, fn = tp + a, fp + b, fn + c
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
        print(f"{seed:>4} {tp + fn:>6} {tp:>6} {fp:>6} {tp / (tp + fn):>7.3f} "
              f"{tp / max(tp + fp, 1):>9.3f}")
    tp, fp, fn = total
    print(f" all {tp + fn:>6} {tp:>6} {fp:>6} {tp / (tp + fn):>7.3f} {tp / max(tp + fp, 1):>9.3f}")

    print("\npackaged photos with a face (IoU with the box read off by eye)")
    for name, box in synthetic.PACKAGED_FACES.items():
        kept = [b for b in find_faces(synthetic.packaged_photo(name), cfg, det) if b["kept"]]
        ious = ", ".join(f"{iou(b['box'], box):.2f}" for b in kept) or "-"
        print(f"  {name:<22} kept {len(kept)}  IoU {ious}")
    print("packaged photos without a face (kept boxes = false alarms; rejected in brackets)")
    for name in synthetic.FACE_FREE + ("cell",):
        boxes = find_faces(synthetic.packaged_photo(name), cfg, det)
        kept = sum(b["kept"] for b in boxes)
        note = "; ".join(b["reason"] for b in boxes if not b["kept"])
        print(f"  {name:<22} kept {kept}" + (f"  [{note}]" if note else ""))


def speed(cfg, n: int):
    scenes = synthetic.face_scenes(n, seed=100)
    det = make_detector(cfg)
    find_faces(scenes[0][0], cfg, det)  # warm-up
    t = time.perf_counter()
    for img, _ in scenes:
        find_faces(img, cfg, det)
    alone = n / (time.perf_counter() - t)
    print(f"\nspeed on {n} photos of 480x360 (2 CPU cores shared with other work)")
    print(f"  detector alone, in memory, 1 thread: {alone:6.1f} photos/s "
          f"(OpenCV threads: {cv2.getNumThreads()})")
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for i, (img, _) in enumerate(scenes):
            cv2.imwrite(str(photos / f"{i:04d}.jpg"), img[..., ::-1])
        for workers in sorted({1, os.cpu_count() or 1}):
            work = Path(tmp) / f"work{workers}"
            t = time.perf_counter()
            counts = detect(work, photos, cfg, workers=workers)
            rate = n / (time.perf_counter() - t)
            print(f"  detect step, {workers} thread(s):        {rate:6.1f} photos/s "
                  f"({counts['faces_kept']} faces kept)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=int, default=100, help="photos for the speed test")
    ap.add_argument("--seeds", type=int, default=4, help="seeds of 25 scenes for quality")
    args = ap.parse_args()
    cfg = DetectConfig()
    print(f"OpenCV {cv2.__version__}, Haar frontal-face cascade, min_size {cfg.min_size}, "
          f"min_score {cfg.score_floor}, min_neighbors {cfg.min_neighbors}")
    quality(cfg, args.seeds)
    speed(cfg, args.scenes)


if __name__ == "__main__":
    main()
