"""The stability ablation: break one DCGAN guideline at a time and measure what fails.

    python benchmarks/stability.py                                  # everything, 3 seeds
    python benchmarks/stability.py --configs paper no_g_batchnorm lr_1e-3 --seeds 2
    python benchmarks/stability.py --configs paper d_relu --resolution 64   # 64x64 on a CPU
    python benchmarks/stability.py --profile full --data rooms:20000 --epochs 10  # GPU

Every configuration (dcgan_tf.studies.ablation.ABLATIONS: the paper's; each guideline switch of
docs/paper_notes.md §3 flipped alone; Adam lr 1e-3 and beta1 0.9, §4) trains with each seed
on the same procedural data for the same number of epochs. Per run and epoch it records the
probe FD of --score-n samples against held-out real images and the probes' attribute rates
(dcgan_tf.groundtruth.scoring.ScoreLog), the health monitor's signals (dcgan_tf.health), D(x) and
D(G(z)), and the time spent in training steps. It prints, per configuration, the final FD
mean ± sd over the seeds that finished, the share of seeds the monitor flagged for each
signal (a diverged run counts as divergence) and the mean training minutes.

Written to --out: <config>/seed<k>/ (ordinary run folders), results.csv (one row per
config x seed x epoch), summary.md (the table), fd_curves.png and final_grids.png, all of this
command's configs x seeds only (the folder may hold others). Re-running the same command skips
finished runs and resumes interrupted ones; a run folder trained on other data or for more
epochs is refused (give each setting its own --out).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dcgan_tf.cliargs import Parser, positive  # noqa: E402
from dcgan_tf.config import PROFILES, RESOLUTIONS, DCGANConfig, InputError  # noqa: E402
from dcgan_tf.course import runs  # noqa: E402
from dcgan_tf.data import score_n_problem  # noqa: E402
from dcgan_tf.paths import runs_dir  # noqa: E402
from dcgan_tf.studies import ablation  # noqa: E402


def parser() -> Parser:
    """The command line; its errors are one line, exit code 2."""
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=list(ablation.ABLATIONS),
                    metavar="NAME", help="ablations to run (default: all of "
                    + ", ".join(ablation.ABLATIONS) + ")")
    ap.add_argument("--seeds", type=positive(), default=3, help="seeds per config: 0..N-1")
    ap.add_argument("--data", default=runs.LAB_SOURCE,
                    help=f"training data (default {runs.LAB_SOURCE}); FD needs faces:N or "
                    "rooms:N, other data get the monitor's signals only")
    ap.add_argument("--epochs", type=positive(), default=runs.LAB_EPOCHS,
                    help=f"epochs per run (default {runs.LAB_EPOCHS}, chapter 4's budget)")
    ap.add_argument("--out", default=str(runs_dir() / "stability"),
                    help="the sweep's folder (default: RUNS/stability, RUNS being "
                    "$DCGAN_RUNS or the checkout's runs/; chapter 4 reuses its seed-0 runs)")
    ap.add_argument("--score-n", type=positive(), default=500,
                    help="images scored per epoch (more than the probes' features)")
    ap.add_argument("--profile", choices=PROFILES, help="model size (default: DCGAN_PROFILE "
                    "or small)")
    ap.add_argument("--resolution", type=int, choices=RESOLUTIONS,
                    help="override the profile's image side (64: where the paper says "
                    "LeakyReLU in D matters most)")
    ap.add_argument("--width", type=positive(), help="override the profile's width (tiny runs)")
    ap.add_argument("--batch-size", type=positive(), help="override the profile's batch size")
    return ap


def _check_score_n(ap: Parser, args) -> None:
    problem = score_n_problem(args.data, args.score_n)  # None too for data not scored
    if problem:
        ap.error(problem)


def main(argv=None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    _check_score_n(ap, args)
    overrides = {k: v for k, v in (("resolution", args.resolution), ("width", args.width),
                                   ("batch_size", args.batch_size)) if v is not None}
    start, seeds = time.perf_counter(), list(range(args.seeds))
    try:
        base = DCGANConfig.profile(args.profile, **overrides)
        ablation.run_ablation(args.configs, seeds, args.data, args.out, base=base,
                              epochs=args.epochs, score_n=args.score_n)
        _, table = ablation.analyse(args.out, configs=args.configs, seeds=seeds)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print()
    print(table)
    out = args.out.rstrip("/")
    print(f"{len(args.configs)} configs x {args.seeds} seeds in "
          f"{(time.perf_counter() - start) / 60:.1f} min. Per epoch: {out}/results.csv; "
          f"table: {out}/summary.md; figures: {out}/fd_curves.png, {out}/final_grids.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
