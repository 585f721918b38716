"""Chapter 6's two experiments end to end, shared by notebook 06 and benchmarks/internals.py.

* `guided_study`: guided backprop (dcgan_tf.studies.guided) from the top units of D's last conv
  layer on fresh procedural rooms, for the trained D and a randomly initialised one, with
  the share of gradient energy on the bed and window masks against chance (the masks' area).
* `find_windows` then `drop_study`: boxes around the windows of generated rooms, G's
  "window maps" (dcgan_tf.studies.window_removal), and the object rates over many z with and without
  them, against dropping as many random maps.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import keras
import numpy as np

from dcgan_tf.config import InputError
from dcgan_tf import seeds
from dcgan_tf.groundtruth import probes as probes_module  # get_probes looked up per call
from dcgan_tf.groundtruth import procedural
from dcgan_tf.plots import grid, new_figure, rows_figure, save_figure, save_png
from dcgan_tf.prior import sample_prior
from dcgan_tf.studies import guided, latent, window_removal

IMAGE_SEED, BOX_SEED, DROP_SEED = seeds.NETWORK_IMAGES, seeds.NETWORK_BOXES, seeds.NETWORK_DROP
MASKED = ("bed", "window")  # the objects the paper says D's units fire on


def rooms_figure(gan, k: int = 8, path=None):
    """Real rooms, the same rooms with their bed and window masks tinted, and G's rooms."""
    cfg = gan.cfg
    images, labels = procedural.load("rooms", k, seed=IMAGE_SEED, size=cfg.resolution)
    fake = latent.render(gan, sample_prior(k, cfg.z_dim, cfg.z_prior, BOX_SEED))
    tinted = procedural.tint(images, labels, objects=MASKED)
    return rows_figure({"real rooms": images,
                        "their bed (magenta) and window (green) masks": tinted,
                        "generated rooms": fake}, path, k)


def _shares(units, grads, labels) -> dict:
    """Energy share on the bed and window masks, pooled over every unit of every channel."""
    index = [u.index for c in units for u in units[c]]
    g = np.concatenate([grads[c] for c in units])
    return {obj: guided.energy_share(g, labels[f"{obj}_mask"][index]) for obj in MASKED}


def guided_study(gan, n_images: int = 2000, channels=range(6), k: int = 8,
                 seed: int = 0, layer: str | None = None) -> dict:
    """Guided backprop for the trained D and a random D (seeded) from units of `layer`
    (default: D's last conv activation): images, labels, results {name: (units,
    gradients)} and shares {name: {obj: energy_share}}."""
    images, labels = procedural.load("rooms", n_images, seed=IMAGE_SEED,
                                     size=gan.cfg.resolution)
    d = gan.discriminator
    keras.utils.set_random_seed(seed)  # the random D is the same draw every time
    nets = {"trained": d, "random": guided.random_discriminator(d)}
    results = {name: guided.guided_units(net, images, layer, channels=channels, k=k,
                                         bn_images=images, pixel_range=gan.cfg.pixel_range)
               for name, net in nets.items()}
    shares = {name: _shares(units, grads, labels) for name, (units, grads) in results.items()}
    return {"images": images, "labels": labels, "results": results, "shares": shares}


def share_figure(shares: dict, path=None):
    """Bars: share of guided energy on each mask per D (error bars: 1.96 standard errors
    over the units' images), with chance (the mask's area)."""
    fig, axes = new_figure(path, 1, len(MASKED), (3.4 * len(MASKED), 3.0))
    names = list(shares)
    for ax, obj in zip(axes, MASKED):
        ax.bar(names, [100 * shares[n][obj]["share"] for n in names], color=["C0", "C7"],
               yerr=[196 * shares[n][obj].get("se", 0.0) for n in names], capsize=4)
        chance = np.mean([shares[n][obj]["chance"] for n in names])
        ax.axhline(100 * chance, ls="--", color="k", label=f"chance {100 * chance:.1f}%")
        ax.set_title(f"energy on the {obj} mask", fontsize=9)
        ax.set_ylabel("% of guided energy")
        ax.legend(fontsize=8)
    return save_figure(fig, path)


@dataclasses.dataclass
class WindowSearch:
    """What `find_windows` found: the boxed samples, the window maps and their weights."""

    z: np.ndarray
    images: np.ndarray  # uint8, G(z)
    boxes: dict  # sample index -> [[x0, y0, x1, y1], ...]
    maps: np.ndarray  # the maps with a positive weight
    weights: np.ndarray  # one per map of `layer` (empty when no sample has a box)
    layer: str
    n_maps: int
    segmenter_iou: float | None  # None with hand-drawn boxes

    @property
    def samples_with_boxes(self) -> int:
        return sum(1 for b in self.boxes.values() if b)


def write_box_samples(gan, n: int, folder) -> list:
    """The n generated rooms find_windows boxes (BOX_SEED), as sample_0000.png ... in
    `folder`, scaled up 8 times for drawing on: box them by hand (window_removal.load_boxes's
    format, in the samples' own pixels) to follow the paper on LSUN."""
    cfg = gan.cfg
    images = latent.render(gan, sample_prior(n, cfg.z_dim, cfg.z_prior, BOX_SEED))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [save_png(image, folder / f"sample_{i:04d}.png", scale=8)
            for i, image in enumerate(images)]


def find_windows(gan, box_samples: int = 500, boxes_file=None, seg_images: int = 4000,
                 seg_epochs: int = 4, seg_test: int = 500, min_area: int = 4) -> WindowSearch:
    """Box the windows of `box_samples` generated rooms (segmentation probe, or hand-drawn
    boxes from `boxes_file`), then fit the logistic regression on G's second-highest layer."""
    cfg, g = gan.cfg, gan.sampler
    z = sample_prior(box_samples, cfg.z_dim, cfg.z_prior, BOX_SEED)
    images, acts = window_removal.layer_activations(g, z, pixel_range=cfg.pixel_range)
    seg_iou = None
    if boxes_file:
        boxes = window_removal.load_boxes(boxes_file, n=len(z), size=cfg.resolution)
    else:
        seg = window_removal.train_window_segmenter(cfg.resolution, n_train=seg_images,
                                                epochs=seg_epochs)
        seg_iou = window_removal.segmenter_iou(seg, n=seg_test, size=cfg.resolution)
        boxes = window_removal.boxes_from_masks(window_removal.predict_masks(seg, images),
                                            min_area=min_area)
    maps, weights = np.array([], int), np.array([])
    if any(boxes.values()):  # an undertrained G may draw no window at all: nothing to fit
        maps, weights = window_removal.find_window_maps(acts, boxes, cfg.resolution)
    return WindowSearch(z, images, boxes, maps, weights, window_removal.window_layer(g),
                        int(acts.shape[-1]), seg_iou)


def boxed(images, boxes: dict, colour=(255, 0, 0)) -> np.ndarray:
    """Copies of uint8 images with their window boxes drawn (a 1-pixel outline)."""
    out = np.array(images, copy=True)
    for i, image_boxes in boxes.items():
        for x0, y0, x1, y1 in image_boxes:
            cv2.rectangle(out[i], (x0, y0), (x1 - 1, y1 - 1), colour, 1)  # x1, y1 exclusive
    return out


def windows_figure(found: WindowSearch, path=None, k: int = 8):
    """Top: the first k boxed samples that have a window; bottom: the logistic regression's
    weight per map of the layer, sorted, the positive ones (the window maps) in red."""
    fig, axes = new_figure(path, 2, 1, (1.1 * k + 0.5, 4.2))
    with_box = [i for i, b in sorted(found.boxes.items()) if b][:k]
    if with_box:
        pictures = boxed(found.images, found.boxes)[with_box]
        axes[0].imshow(grid(pictures, ncols=len(with_box)), interpolation="nearest")
    axes[0].set_axis_off()
    axes[0].set_title(f"window boxes on generated rooms ({found.samples_with_boxes} of "
                      f"{len(found.z)} have one)", fontsize=9)
    w = np.sort(found.weights)[::-1]
    axes[1].bar(np.arange(len(w)), w, color=np.where(w > 0, "C3", "C7"))
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set_xlabel(f"maps of {found.layer}, sorted by weight")
    axes[1].set_ylabel("weight (inside a box)")
    axes[1].set_title(f"{len(found.maps)} of {found.n_maps} maps have a positive weight",
                      fontsize=9)
    return save_figure(fig, path)


def drop_study(gan, found: WindowSearch, n: int = 500, controls: int = 5) -> dict:
    """Object rates over n fresh z (DROP_SEED) with and without the window maps and with
    as many random maps dropped (window_removal.measure_drop, counted by the rooms probes);
    `controls` random draws in all (seeds 1, 2, ...) give the control's spread."""
    if len(found.maps) == 0:
        raise InputError("no window maps to drop: no generated sample had a window box")
    cfg = gan.cfg
    probes = probes_module.get_probes("rooms", cfg.resolution, progress=False)
    drop = window_removal.measure_drop(gan.sampler, found.maps, probes, n=n, seed=DROP_SEED,
                                   z_prior=cfg.z_prior, pixel_range=cfg.pixel_range)
    z = sample_prior(n, cfg.z_dim, cfg.z_prior, DROP_SEED)  # the z measure_drop used
    more = window_removal.control_stats(gan.sampler, len(found.maps), probes, z,
                                    range(2, controls + 1), pixel_range=cfg.pixel_range)
    draws = [drop["variants"]["random dropped"], *more]
    drop["controls"] = {key: {"mean": float(np.mean([d[key] for d in draws])),
                              "sd": float(np.std([d[key] for d in draws], ddof=1))
                              if len(draws) > 1 else 0.0}
                        for key in draws[0]}
    drop["controls"]["draws"] = len(draws)
    return drop


def dose_response(gan, found: WindowSearch, ks=(1, 2, 4, 8), n: int = 500,
                  controls: int = 3) -> list[dict]:
    """Window rate and area with only the k strongest window maps dropped, for each k (and
    all of them), beside k random maps (`controls` draws): does a small drop already remove
    windows, before the pictures as a whole fall apart?"""
    cfg, g = gan.cfg, gan.sampler
    probes = probes_module.get_probes("rooms", cfg.resolution, progress=False)
    z = sample_prior(n, cfg.z_dim, cfg.z_prior, DROP_SEED)
    strongest = found.maps[np.argsort(-found.weights[found.maps], kind="stable")]
    rows = []
    for k in sorted({min(k, len(strongest)) for k in ks} | {len(strongest)}):
        window = window_removal.drop_stats(g, strongest[:k], probes, z, cfg.pixel_range)
        rand = window_removal.control_stats(g, k, probes, z, range(1, controls + 1),
                                        pixel_range=cfg.pixel_range)
        rows.append({"k": int(k), **{f"window_maps_{key}": window[key] for key in
                                     ("window_rate", "window_area")},
                     **{f"random_{key}": float(np.mean([r[key] for r in rand]))
                        for key in ("window_rate", "window_area")},
                     "random_window_rate_sd": float(np.std([r["window_rate"] for r in rand]))})
    return rows


def dose_figure(rows: list[dict], base: dict, path=None):
    """Window rate and area against the number of maps dropped: the strongest window maps
    first, against as many random maps; the dotted line is G as trained."""
    fig, axes = new_figure(path, 1, 2, (9.0, 3.2))
    k = [r["k"] for r in rows]
    for ax, key, label in ((axes[0], "window_rate", "share of rooms with a window"),
                           (axes[1], "window_area", "mean window area")):
        ax.plot(k, [r[f"window_maps_{key}"] for r in rows], "o-", label="strongest window maps")
        sd = [r["random_window_rate_sd"] for r in rows] if key == "window_rate" else None
        ax.errorbar(k, [r[f"random_{key}"] for r in rows], yerr=sd, fmt="s--", color="C2",
                    capsize=3, label="random maps (± sd)" if sd else "random maps")
        ax.axhline(base[key], ls=":", color="k", label="as trained")
        ax.set_xlabel("maps dropped")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def drop_variants(gan, drop: dict, k: int = 8) -> dict:
    """The first k measured z under each variant (the Fig. 6 grid)."""
    cfg = gan.cfg
    z = sample_prior(k, cfg.z_dim, cfg.z_prior, DROP_SEED)  # = the first k z drop_study used
    return window_removal.render_variants(gan.sampler, z, drop["maps"], drop["control_maps"],
                                      pixel_range=cfg.pixel_range)


RATES = ("window_rate", "door_rate", "lamp_rate", "picture_rate")


def rates_figure(drop: dict, path=None):
    """Grouped bars: each object's presence rate under each variant of the drop; the random
    drop shows the mean and sd over its control draws when drop_study made several."""
    fig, axes = new_figure(path, 1, 1, (6.5, 3.2))
    ax, variants = axes[0], drop["variants"]
    width = 0.8 / len(variants)
    for i, (name, stats) in enumerate(variants.items()):
        heights, err, label = [stats[r] for r in RATES], None, name
        if name == "random dropped" and drop.get("controls", {}).get("draws", 1) > 1:
            c = drop["controls"]
            heights, err = [c[r]["mean"] for r in RATES], [c[r]["sd"] for r in RATES]
            label = f"random dropped (mean ± sd of {c['draws']} draws)"
        ax.bar(np.arange(len(RATES)) + i * width, heights, width, yerr=err, capsize=3,
               label=label)
    ax.set_xticks(np.arange(len(RATES)) + width * (len(variants) - 1) / 2,
                  [r.removesuffix("_rate") for r in RATES])
    ax.set_ylabel(f"share of {drop['n']} rooms")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def results_json(study: dict, found: WindowSearch, drop: dict | None) -> dict:
    """The numbers of both experiments, JSON-ready."""
    windows = {"segmenter_iou": found.segmenter_iou, "box_samples": len(found.z),
               "samples_with_boxes": found.samples_with_boxes, "n_maps": found.n_maps,
               "layer": found.layer, "window_maps": int(len(found.maps)),
               "weights": [float(w) for w in found.weights]}
    if drop is None:
        windows["note"] = "no window boxes on any sample"
    return {"guided": study["shares"], "windows": {**windows, **(drop or {})}}


def summary(res: dict) -> str:
    """results_json as markdown tables."""
    lines = ["## Guided backprop: energy share on the masks (chance = masks' area)", "",
             "| D | bed share ± 1.96 se | bed chance | window share ± 1.96 se | window chance |",
             "|---|---|---|---|---|"]
    for name, s in res["guided"].items():
        b, w = s["bed"], s["window"]
        lines.append(f"| {name} | {b['share']:.3f} ± {1.96 * b.get('se', 0):.3f} | "
                     f"{b['chance']:.3f} | {w['share']:.3f} ± {1.96 * w.get('se', 0):.3f} | "
                     f"{w['chance']:.3f} |")
    w = res["windows"]
    iou = "hand-drawn boxes" if w["segmenter_iou"] is None else f"{w['segmenter_iou']:.3f}"
    lines += ["", f"Window segmentation probe IoU on fresh rooms: {iou}",
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
    if "controls" in w:
        c = w["controls"]
        lines.append(f"| random dropped, {c['draws']} draws (mean ± sd) | " + " | ".join(
            f"{c[k]['mean']:.{4 if k == 'window_area' else 3}f} ± "
            f"{c[k]['sd']:.{4 if k == 'window_area' else 3}f}"
            for k in ("window_rate", "window_area", "door_rate", "lamp_rate",
                      "picture_rate")) + " |")
    lines += ["", f"Door rate change with the window maps dropped: {w['door_change']:+.3f}",
              f"Bed: {w['bed']}"]
    if w.get("dose"):
        lines += ["", "## The strongest k window maps dropped, against k random maps", "",
                  "| k | window rate | random: window rate (± sd) | window area | "
                  "random: window area |", "|---|---|---|---|---|"]
        lines += [f"| {r['k']} | {r['window_maps_window_rate']:.3f} | "
                  f"{r['random_window_rate']:.3f} ± {r['random_window_rate_sd']:.3f} | "
                  f"{r['window_maps_window_area']:.4f} | {r['random_window_area']:.4f} |"
                  for r in w["dose"]]
    return "\n".join(lines) + "\n"
