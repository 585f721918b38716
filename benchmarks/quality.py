"""Quality per CPU-minute of the small profile: probe FD against training minutes.

    python benchmarks/quality.py                          # every variant, 3 seeds
    python benchmarks/quality.py --variants small --seeds 1 --epochs 40   # further out
    python benchmarks/quality.py --smoke                  # seconds: a tiny run of the code
    python benchmarks/quality.py --compare before=runs/faces_old after=runs/faces

Each variant (VARIANTS below: overrides of the small profile) trains the main job's model on
the main job's data (20,000 procedural faces) with each seed, scored after every epoch by
the probe Frechet distance of 2,000 samples (dcgan_tf.groundtruth.scoring.ScoreLog, the main
job's own measure). A run with a weight average (g_ema) also scores the G being trained, so
one run gives the FD before and after averaging. It prints, per variant, the final FD mean ±
sd over the seeds (and the plain G's), the training minutes and images/s, then the ruler:
the FD of real faces a little blurred or noisy
(dcgan_tf.groundtruth.scoring.reference_points). It writes OUT/results.csv, OUT/summary.md,
OUT/fd_minutes.png (FD against minutes: the frontier) and OUT/final_grids.png. Re-running
the same command skips finished runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import numpy as np  # noqa: E402

from dcgan_tf import plots  # noqa: E402
from dcgan_tf.config import DCGANConfig, InputError  # noqa: E402
from dcgan_tf.fileio import write_text  # noqa: E402
from dcgan_tf.groundtruth import procedural, scoring  # noqa: E402
from dcgan_tf.paths import runs_dir  # noqa: E402
from dcgan_tf.studies import ablation  # noqa: E402
from dcgan_tf.train import load_run  # noqa: E402

# Overrides of the small profile; each names every knob it sets, so a variant means the
# same whatever the profile's defaults become. Each is trained past the profile's 10 epochs
# to show where its curve goes; at epoch 10 "small" is the main job exactly (same seed, same
# steps), and its plain G is the main job as it was before the weight average.
VARIANTS = {
    "small": {"epochs": 16, "g_ema": 0.99},  # the small profile: the paper's 5x5 kernels
    "kernel4": {"epochs": 16, "kernel_size": 4, "g_ema": 0.99},  # most ports' 4x4
    # Capacity: twice the feature maps in every layer, about four times the work per step.
    "width64": {"epochs": 4, "width": 64, "g_ema": 0.99},
}
BEFORE_EPOCHS = 10  # the main job's budget
SOURCE = "faces"  # the main job's data: 20,000 faces
SMOKE = {"smoke": {"epochs": 2, "width": 8, "g_ema": 0.9}}


def summary_rows(rows, images: int) -> list[dict]:
    """Per variant and checkpoint (epoch BEFORE_EPOCHS and the last): seeds, the FD of the
    weight average and of the plain G (mean, sd over seeds), training minutes, images/s,
    and both FDs averaged over the second half of the epochs up to the checkpoint (one
    epoch's FD swings; this is the level a run settles at)."""
    out = []
    by_variant = ablation._runs(rows)
    for name in sorted(by_variant, key=lambda n: list(VARIANTS).index(n) if n in VARIANTS
                       else len(VARIANTS)):
        runs = [r for r in by_variant[name].values() if r[-1]["status"] == "done"]
        for epoch in sorted({BEFORE_EPOCHS, *(r[-1]["epoch"] for r in runs)}):
            at = [row for r in runs for row in r if row["epoch"] == epoch]
            if not at:
                continue
            late = [[row for row in r if ablation.in_late_half(row["epoch"], epoch)]
                    for r in runs]
            late = [r for r in late if r and r[-1]["epoch"] == epoch]
            minutes = float(np.mean([row["train_seconds"] / 60 for row in at]))
            entry = {"variant": name, "epoch": epoch, "seeds": len(at),
                     "minutes": minutes, "images_per_s": images * epoch / (minutes * 60)}
            for key in ("fd", "fd_plain"):
                entry[key] = ablation.mean_sd([row.get(key) for row in at])
                entry[f"late_{key}"] = ablation.mean_sd([
                    float(np.mean([row[key] for row in r])) if all(
                        row.get(key) is not None for row in r) else None for r in late])
            out.append(entry)
    return out


def markdown(summary) -> str:
    head = ["variant", "epochs", "seeds", "FD, plain G", "FD, weight average",
            "second half of the epochs: plain G", "weight average", "train min", "images/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(value):
        if value is None:
            return "n/a"
        return f"{value[0]:.2f}" + ("" if np.isnan(value[1]) else f" ± {value[1]:.2f}")

    for s in summary:
        lines.append(f"| {s['variant']} | {s['epoch']} | {s['seeds']} | "
                     f"{cell(s['fd_plain'])} | {cell(s['fd'])} | {cell(s['late_fd_plain'])} | "
                     f"{cell(s['late_fd'])} | {s['minutes']:.1f} | {s['images_per_s']:.0f} |")
    return "\n".join(lines) + "\n\nFD: probe Frechet distance, mean ± sd over seeds.\n"


def ruler_markdown(points: dict[str, float]) -> str:
    """report.reference_points as a table: what a probe FD looks like on real faces."""
    lines = ["| real faces, held-out draw against | probe FD |", "|---|---:|"]
    lines += [f"| {label} | {fd:.2f} |" for label, fd in points.items()]
    return "\n".join(lines) + "\n"


def compare_figure(runs: dict[str, str], path, k: int = 12) -> None:
    """Real faces, then each run's samples for the same z (its sampler: the weight
    average when it has one, else its plain G), with each run's probe FD on 2,000."""
    gans = {label: load_run(run) for label, run in runs.items()}
    cfg = next(iter(gans.values())).cfg
    scorer = scoring.Scorer(cfg, "faces", 2_000)
    real, _ = procedural.load("faces", k, seed=scoring.REAL_SEEDS[1], size=cfg.resolution)
    rows = {"real faces (a fresh draw)": real}
    for label, gan in gans.items():
        images = scorer.images(gan)
        rows[f"{label}: probe FD {scorer.fd(images):.1f}"] = images
    plots.rows_figure(rows, path, k=k)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="NAME",
                    help="variants to run (default: all of " + ", ".join(VARIANTS) + ")")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per variant: 0..N-1")
    ap.add_argument("--epochs", type=int, help="train every variant to this many epochs "
                    "instead of its own (finished runs resume: the frontier further out)")
    ap.add_argument("--out", default=str(runs_dir() / "quality"),
                    help="the sweep's folder (default: RUNS/quality)")
    ap.add_argument("--smoke", action="store_true",
                    help="a 2-epoch width-8 run on 512 faces: checks the code, not quality")
    ap.add_argument("--compare", nargs="+", metavar="LABEL=RUN",
                    help="only draw OUT/compare.png: real faces, then the same z through each "
                    "run folder's generator (e.g. before=runs/faces_old after=runs/faces)")
    args = ap.parse_args(argv)
    if args.compare:
        pairs = dict(item.split("=", 1) for item in args.compare)
        compare_figure(pairs, f"{args.out.rstrip('/')}/compare.png")
        print(f"wrote {args.out.rstrip('/')}/compare.png")
        return 0

    table, source, n_images, score_n = VARIANTS, SOURCE, 20_000, 2_000
    if args.smoke:
        table, source, n_images, score_n = SMOKE, "faces:512", 512, 300
        args.variants, args.seeds = list(SMOKE), 1
    if args.epochs:
        table = {name: {**over, "epochs": args.epochs} for name, over in table.items()}
    start = time.perf_counter()
    try:
        base = DCGANConfig.profile("small", g_ema=0.0)
        ablation.run_ablation(args.variants, args.seeds, source, args.out, base=base,
                              score_n=score_n, table=table)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = [r for r in ablation.collect(args.out) if r["config"] in args.variants]
    per_epoch = n_images // base.batch_size * base.batch_size  # full batches only
    ruler = scoring.reference_points(scoring.Scorer(base, "faces", score_n))
    text = markdown(summary_rows(rows, per_epoch)) + "\n" + ruler_markdown(ruler)
    out = args.out.rstrip("/")
    write_text(f"{out}/summary.md", text)
    ablation.fd_curves(rows, f"{out}/fd_minutes.png", minutes=True, baseline="small",
                       column="fd_plain", label=", weight average",
                       lines={"target: FD 5": 5.0, **{
                           f"real faces, {k.lower()}": ruler[k] for k in
                           ("Gaussian blur, sigma 0.5 px", "Gaussian blur, sigma 0.75 px")}},
                       title="Probe FD against training minutes (mean over seeds, band: "
                             "range)")
    ablation.final_grids(args.out, f"{out}/final_grids.png")
    print()
    print(text)
    print(f"{len(args.variants)} variants x {args.seeds} seeds in "
          f"{(time.perf_counter() - start) / 60:.1f} min. Per epoch: {out}/results.csv; "
          f"figures: {out}/fd_minutes.png, {out}/final_grids.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
