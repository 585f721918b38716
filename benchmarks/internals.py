"""Inside the networks (paper §6.2 and §6.3.1): what D's units see, and G forgetting windows.

    python benchmarks/internals.py                      # the shared rooms run (small profile)
    python benchmarks/internals.py --n 1000 --channels 8
    python benchmarks/internals.py --boxes my_boxes.json --box-samples 150   # hand-drawn boxes
    python benchmarks/internals.py --smoke              # a tiny run end to end, a minute or two

It loads the bedroom run of chapters 5 and 6 (dcgan_tf.config.rooms_run; trained first if the
run folder is missing) and prints:

* guided backpropagation (dcgan_tf.guided) from the top units of D's last conv layer on
  fresh procedural rooms: the share of gradient energy on the bed and window masks, for
  the trained and a randomly initialised D, against the masks' share of the image (chance);
* the window segmentation probe's IoU on fresh rooms, the number of G's "window maps"
  (dcgan_tf.forgetting) found from boxes on --box-samples generated rooms;
* window presence and area, and door/lamp/picture rates, over --n z with and without the
  window maps, against dropping as many random maps.

The segmentation probe and the attribute probes know procedural rooms only: on LSUN
(--profile full) give hand-drawn boxes with --boxes and read the probe rates with care.
Written to --out: guided_units.png, window_drop.png, results.json, summary.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import keras
import numpy as np

from dcgan_tf import forgetting, guided, procedural
from dcgan_tf.config import PROFILES, DCGANConfig, InputError, rooms_run
from dcgan_tf.fileio import write_text
from dcgan_tf.paths import runs_dir
from dcgan_tf.prior import sample_prior

IMAGE_SEED, BOX_SEED, DROP_SEED = 9_003, 9_004, 9_005  # fresh rooms / z: no one else's


def _load_gan(args, out: Path):
    from dcgan_tf.train import train_or_load

    if args.smoke:  # a tiny model on a few hundred rooms: shows the pipeline, not results
        cfg = DCGANConfig(resolution=32, width=8, batch_size=32, epochs=1)
        return train_or_load(cfg, "rooms:256", out / "smoke_run", verbose=0)
    cfg, source, folder = rooms_run(args.profile)
    return train_or_load(cfg, source, runs_dir() / folder, verbose=0)


def _shares(units, grads, labels) -> dict:
    """Energy share on the bed and window masks over every unit of every channel."""
    index = [u.index for c in units for u in units[c]]
    g = np.concatenate([grads[c] for c in units])
    return {obj: guided.energy_share(g, labels[f"{obj}_mask"][index])
            for obj in ("bed", "window")}


def guided_part(gan, args, out: Path) -> dict:
    res = gan.cfg.resolution
    images, labels = procedural.load("rooms", args.images, seed=IMAGE_SEED, size=res)
    d = gan.discriminator
    keras.utils.set_random_seed(args.seed)  # the random D is the same draw every time
    nets = {"trained": d, "random": guided.random_discriminator(d)}
    results = {name: guided.guided_units(net, images, channels=range(args.channels),
                                         k=args.k, bn_images=images,
                                         pixel_range=gan.cfg.pixel_range)
               for name, net in nets.items()}
    guided.unit_figure(images, results, out / "guided_units.png", k=min(args.k, 6))
    return {name: _shares(units, grads, labels) for name, (units, grads) in results.items()}


def window_part(gan, args, out: Path) -> dict:
    from dcgan_tf.probes import get_probes

    cfg, g = gan.cfg, gan.generator
    res = cfg.resolution
    seg = forgetting.train_window_segmenter(res, n_train=args.seg_images,
                                            epochs=args.seg_epochs)
    seg_iou = forgetting.segmenter_iou(seg, n=args.seg_test, size=res)
    z = sample_prior(args.box_samples, cfg.z_dim, cfg.z_prior, BOX_SEED)
    images, acts = forgetting.layer_activations(g, z, pixel_range=cfg.pixel_range)
    if args.boxes:
        boxes = forgetting.load_boxes(args.boxes, n=len(z), size=res)
    else:
        boxes = forgetting.boxes_from_masks(forgetting.predict_masks(seg, images),
                                            min_area=args.min_area)
    with_box = sum(1 for b in boxes.values() if b)
    found = {"segmenter_iou": seg_iou, "box_samples": len(z), "samples_with_boxes": with_box,
             "n_maps": int(acts.shape[-1]), "layer": forgetting.window_layer(g)}
    if with_box == 0:  # e.g. an undertrained G that draws no windows: nothing to fit
        return {**found, "window_maps": 0, "note": "no window boxes on any sample"}
    maps, weights = forgetting.find_window_maps(acts, boxes, res)
    probes = get_probes("rooms", res, verbose=0)
    drop = forgetting.measure_drop(g, maps, probes, n=args.n, seed=DROP_SEED,
                                   z_prior=cfg.z_prior, pixel_range=cfg.pixel_range)
    z_fig = sample_prior(8, cfg.z_dim, cfg.z_prior, DROP_SEED)  # the first 8 measured z
    forgetting.drop_figure(forgetting.render_variants(
        g, z_fig, maps, drop["control_maps"], pixel_range=cfg.pixel_range),
        out / "window_drop.png")
    return {**found, "window_maps": len(maps), "weights": [float(w) for w in weights],
            **drop}


def summary(res: dict) -> str:
    lines = ["## Guided backprop: energy share on the masks (chance = masks' area)", "",
             "| D | bed share | bed chance | window share | window chance |",
             "|---|---|---|---|---|"]
    for name, s in res["guided"].items():
        lines.append(f"| {name} | {s['bed']['share']:.3f} | {s['bed']['chance']:.3f} | "
                     f"{s['window']['share']:.3f} | {s['window']['chance']:.3f} |")
    w = res["windows"]
    lines += ["", f"Window segmentation probe IoU on fresh rooms: {w['segmenter_iou']:.3f}",
              (f"Window maps in {w['layer']}: {w['window_maps']} of {w['n_maps']} "
               f"(boxes on {w['samples_with_boxes']} of {w['box_samples']} samples)")]
    if "variants" not in w:
        return "\n".join(lines + ["", f"No drop measured: {w['note']}"]) + "\n"
    lines += ["", f"## Over {w['n']} z", "",
              "| variant | window | window area | door | lamp | picture |",
              "|---|---|---|---|---|---|"]
    for name, s in w["variants"].items():
        lines.append(f"| {name} | {s['window_rate']:.3f} | {s['window_area']:.4f} | "
                     f"{s['door_rate']:.3f} | {s['lamp_rate']:.3f} | {s['picture_rate']:.3f} |")
    lines += ["", f"Door rate change with the window maps dropped: {w['door_change']:+.3f}",
              f"Bed: {w['bed']}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, help="default: DCGAN_PROFILE or small")
    ap.add_argument("--n", type=int, default=500, help="z measured with and without the drop")
    ap.add_argument("--images", type=int, default=2000, help="fresh rooms D's units scan")
    ap.add_argument("--channels", type=int, default=6, help="D channels visualised")
    ap.add_argument("--k", type=int, default=8, help="top images per channel")
    ap.add_argument("--box-samples", type=int, default=500, help="generated rooms boxed")
    ap.add_argument("--boxes", help="hand-drawn boxes (JSON, see dcgan_tf.forgetting)")
    ap.add_argument("--min-area", type=int, default=4, help="smallest window blob, pixels")
    ap.add_argument("--seg-images", type=int, default=4000, help="segmenter training rooms")
    ap.add_argument("--seg-epochs", type=int, default=4)
    ap.add_argument("--seg-test", type=int, default=500, help="rooms the IoU is taken on")
    ap.add_argument("--seed", type=int, default=0, help="the random D's draw")
    ap.add_argument("--out", help="default: RUNS/internals")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny model, few images: checks the pipeline in a minute or two")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.images, args.box_samples = min(args.n, 40), min(args.images, 64), 40
        args.seg_images, args.seg_epochs, args.seg_test = 1000, 1, 100
        args.k = min(args.k, 3)
    out = Path(args.out or runs_dir() / ("internals_smoke" if args.smoke else "internals"))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        gan = _load_gan(args, out)
        res = {"guided": guided_part(gan, args, out), "windows": window_part(gan, args, out)}
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_text(out / "results.json", json.dumps(res, indent=2) + "\n")
    table = summary(res)
    write_text(out / "summary.md", table)
    print(table)
    print(f"{(time.perf_counter() - start) / 60:.1f} min. Figures: {out}/guided_units.png, "
          f"{out}/window_drop.png; numbers: {out}/results.json, {out}/summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
