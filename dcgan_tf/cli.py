"""Command line: `python -m dcgan_tf train ...` and `python -m dcgan_tf sample ...`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

EPILOG = """examples:
  python -m dcgan_tf train                                  # small profile, procedural faces
  python -m dcgan_tf train --data digits --out runs/digits
  python -m dcgan_tf train --profile full --data tfds:celeb_a --out runs/celeba   # GPU
  python -m dcgan_tf train --out runs/faces --resume --epochs 20
  python -m dcgan_tf sample --run runs/faces --n 64 --out grid.png
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line instead of usage + error
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dcgan_tf", description="Train and sample DCGANs.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a DCGAN into a run folder")
    t.add_argument("--data", default="faces",
                   help="faces[:N], rooms[:N], digits, tfds:NAME, a folder of images or "
                        "TFRecord shards (default: faces)")
    t.add_argument("--out", default="runs/faces", help="run folder (default: runs/faces)")
    t.add_argument("--profile", choices=["small", "full"],
                   default=os.environ.get("DCGAN_PROFILE", "small"),
                   help="small: CPU minutes (32x32, width 32); full: the paper's 64x64 model")
    t.add_argument("--resume", action="store_true", help="continue the run folder's checkpoint")
    t.add_argument("--epochs", type=_positive)
    t.add_argument("--resolution", type=int, choices=[32, 64, 128])
    t.add_argument("--width", type=_positive)
    t.add_argument("--batch-size", type=_positive)
    t.add_argument("--kernel-size", type=int, choices=[4, 5])
    t.add_argument("--z-prior", choices=["uniform", "normal"])
    t.add_argument("--channels", type=int, choices=[1, 3])
    t.add_argument("--seed", type=int)
    t.add_argument("--mixed-precision", action="store_true", help="float16 maths (GPU)")
    t.add_argument("--xla", action="store_true", help="compile the train step with XLA (GPU)")
    t.add_argument("--no-score", action="store_true",
                   help="skip the probe Frechet distance after training on faces/rooms")
    t.add_argument("--score-n", type=_positive, default=2000,
                   help="images per set for the probe Frechet distance (default 2000)")

    s = sub.add_parser("sample", help="render a grid of samples from a run's checkpoint")
    s.add_argument("--run", required=True, help="run folder written by `train`")
    s.add_argument("--n", type=_positive, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=int, default=0, help="seed of the latent vectors")
    s.add_argument("--out", help="PNG to write (default: RUN/sample_seed<SEED>.png)")
    return p


def _config(args):
    from dcgan_tf.config import DCGANConfig

    run_cfg = Path(args.out) / "config.json"
    overrides = {k: getattr(args, k) for k in
                 ("epochs", "resolution", "width", "batch_size", "kernel_size", "z_prior",
                  "channels", "seed") if getattr(args, k) is not None}
    if args.mixed_precision:
        overrides["mixed_precision"] = True
    if args.xla:
        overrides["xla"] = True
    if args.resume and run_cfg.exists():  # the run's own settings, plus what was changed
        return DCGANConfig.from_json(run_cfg).replace(**overrides)
    if "channels" not in overrides and str(args.data).split(":")[0] in ("digits", "mnist",
                                                                        "tfds:mnist"):
        overrides["channels"] = 1
    return DCGANConfig.profile(args.profile, **overrides)


def _train(args) -> int:
    from dcgan_tf.train import train

    cfg = _config(args)
    start = time.time()
    train(cfg, args.data, args.out, resume=args.resume)
    minutes = (time.time() - start) / 60
    out = Path(args.out)
    print(f"trained in {minutes:.1f} min; samples: {out / 'samples'}, "
          f"loss curves: {out / 'loss.png'}, progress: {out / 'progress.gif'}")
    name = str(args.data).split(":")[0]
    if name in ("faces", "rooms") and not args.no_score:
        from dcgan_tf.report import score_run

        report = score_run(out, name, n=args.score_n)
        print(report.summary())
    return 0


def _sample(args) -> int:
    from dcgan_tf import plots
    from dcgan_tf.train import sample

    images = sample(args.run, args.n, args.seed)
    out = Path(args.out or Path(args.run) / f"sample_seed{args.seed}.png")
    plots.save_png(plots.grid(images), out, scale=2)
    print(f"wrote {out}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from dcgan_tf.callbacks import TrainingDiverged
    from dcgan_tf.data import DataError

    try:
        return _train(args) if args.command == "train" else _sample(args)
    except (DataError, FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: the last completed epoch is checkpointed; rerun with --resume",
              file=sys.stderr)
        return 130
