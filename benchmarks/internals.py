"""Inside the networks (paper §6.2 and §6.3.1): what D's units see, and G forgetting windows.

    python benchmarks/internals.py                      # the shared rooms run (small profile)
    python benchmarks/internals.py --n 1000 --channels 8 --controls 10
    python benchmarks/internals.py --boxes my_boxes.json --box-samples 150   # hand-drawn boxes
    python benchmarks/internals.py --epochs 16          # a rooms run four times as long
    python benchmarks/internals.py --smoke              # a tiny run end to end, a minute or two

It loads the bedroom run of chapters 5 and 6 (dcgan_tf.course.runs.rooms_run; trained first if the
run folder is missing) and prints:

* guided backpropagation (dcgan_tf.studies.guided) from the top units of D's last conv layer on
  fresh procedural rooms: the share of gradient energy on the bed and window masks, for
  the trained and a randomly initialised D, against the masks' share of the image (chance);
* the window segmentation probe's IoU on fresh rooms, the number of G's "window maps"
  (dcgan_tf.studies.window_removal) found from boxes on --box-samples generated rooms;
* window presence and area, and door/lamp/picture rates, over --n z with and without the
  window maps, against dropping as many random maps (--controls draws: mean and sd).

The segmentation probe and the attribute probes know procedural rooms only: on LSUN
(--profile full) give hand-drawn boxes with --boxes and read the probe rates with care.
Written to --out: guided_units.png, guided_shares.png, window_maps.png, window_drop.png,
window_rates.png, window_dose.png, results.json, summary.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from dcgan_tf.config import PROFILES, DCGANConfig, InputError
from dcgan_tf.course.runs import rooms_run
from dcgan_tf.fileio import write_json, write_text
from dcgan_tf.paths import runs_dir
from dcgan_tf.studies import guided, network_studies, window_removal
from dcgan_tf.train import train_or_load


def _load_gan(args, out: Path):
    if args.smoke:  # a tiny model on a few hundred rooms: shows the pipeline, not results
        cfg = DCGANConfig(resolution=32, width=8, batch_size=32, epochs=1)
        return train_or_load(cfg, "rooms:256", out / "smoke_run", progress=False)
    cfg, source, folder = rooms_run(args.profile)
    if args.epochs and args.epochs != cfg.epochs:  # the harder setting: a longer-trained run
        cfg, folder = cfg.replace(epochs=args.epochs), f"{folder}_{args.epochs}ep"
    print(f"rooms run: runs/{folder} ({cfg.epochs} epochs on {source})")
    return train_or_load(cfg, source, runs_dir() / folder, progress=False)


def run(gan, args, out: Path) -> dict:
    """Both experiments, their figures written to out; the numbers (results_json)."""
    study = network_studies.guided_study(gan, args.images, range(args.channels), args.k, args.seed,
                                   args.layer)
    guided.unit_figure(study["images"], study["results"], out / "guided_units.png",
                       k=min(args.k, 6))
    network_studies.share_figure(study["shares"], out / "guided_shares.png")
    found = network_studies.find_windows(gan, args.box_samples, args.boxes, args.seg_images,
                                   args.seg_epochs, args.seg_test, args.min_area)
    network_studies.windows_figure(found, out / "window_maps.png")
    drop = None
    if len(found.maps):
        drop = network_studies.drop_study(gan, found, args.n, args.controls)
        network_studies.rates_figure(drop, out / "window_rates.png")
        drop["dose"] = network_studies.dose_response(gan, found, n=args.n, controls=args.controls)
        network_studies.dose_figure(drop["dose"], drop["variants"]["original"],
                              out / "window_dose.png")
        variants = network_studies.drop_variants(gan, drop)
        window_removal.drop_figure(variants, out / "window_drop.png")
    return network_studies.results_json(study, found, drop)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, help="default: DCGAN_PROFILE or small")
    ap.add_argument("--n", type=int, default=500, help="z measured with and without the drop")
    ap.add_argument("--controls", type=int, default=5,
                    help="random drops of as many maps (the control's spread)")
    ap.add_argument("--images", type=int, default=2000, help="fresh rooms D's units scan")
    ap.add_argument("--channels", type=int, default=6, help="D channels visualised")
    ap.add_argument("--k", type=int, default=8, help="top images per channel")
    ap.add_argument("--layer", help="D layer whose units are traced (default: the last conv "
                                    "activation, e.g. act3; act1 and act2 are lower)")
    ap.add_argument("--box-samples", type=int, default=500, help="generated rooms boxed")
    ap.add_argument("--boxes", help="hand-drawn boxes (JSON, see dcgan_tf.studies.window_removal)")
    ap.add_argument("--min-area", type=int, default=4, help="smallest window blob, pixels")
    ap.add_argument("--seg-images", type=int, default=4000, help="segmenter training rooms")
    ap.add_argument("--seg-epochs", type=int, default=4)
    ap.add_argument("--seg-test", type=int, default=500, help="rooms the IoU is taken on")
    ap.add_argument("--seed", type=int, default=0, help="the random D's draw")
    ap.add_argument("--epochs", type=int,
                    help="train (or reuse) a rooms run this many epochs long instead of the "
                         "chapters' (runs/rooms_small_<N>ep)")
    ap.add_argument("--out", help="default: RUNS/internals")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny model, few images: checks the pipeline in a minute or two")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.images, args.box_samples = min(args.n, 40), min(args.images, 64), 40
        args.seg_images, args.seg_epochs, args.seg_test = 1000, 1, 100
        args.k, args.controls = min(args.k, 3), 2
    out = Path(args.out or runs_dir() / ("internals_smoke" if args.smoke else "internals"))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        gan = _load_gan(args, out)
        res = run(gan, args, out)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_json(out / "results.json", res)
    table = network_studies.summary(res)
    write_text(out / "summary.md", table)
    print(table)
    print(f"{(time.perf_counter() - start) / 60:.1f} min. Figures in {out}: guided_units.png, "
          f"guided_shares.png, window_maps.png, window_drop.png, window_rates.png, "
          f"window_dose.png; "
          f"numbers: results.json, summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
