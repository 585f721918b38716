"""Command line: `python -m dcgan_tf train ...` and `python -m dcgan_tf sample ...`.

Exit codes (data_prep's command line uses the same table):
  0    success
  1    failure while running: training diverged, or an unexpected error (a bug; --debug
       shows its traceback)
  2    bad usage or input: an unknown option or value, a data source that cannot be read, a
       run folder that is missing, already holds a checkpoint, or has a different config
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from dcgan_tf.cliargs import (BAD_INPUT, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, Parser,
                              checked, exit_code_text, positive)
from dcgan_tf.config import (CACHE_CHOICES, CACHE_MEMORY_BUDGET, KERNEL_SIZES, PRIORS,
                             PROFILES, RESOLUTIONS, STRATEGIES, DCGANConfig, InputError,
                             check_beta_1, check_g_ema, check_learning_rate)

ONE_CHANNEL = ("digits", "mnist")
XLA_FLAGS = {"auto": "auto", "on": True, "off": False}  # --xla: DCGANConfig.xla
DRY_RUN_IMAGES, DRY_RUN_BATCH = 128, 16  # --dry-run: 8 steps of the real code path
# The guideline switches' flags (docs/paper_notes.md §3). Each sets its switch away from
# the paper's value; it is named from the switch, "--no-" first where the paper has True.
SWITCH_HELP = {
    "g_batchnorm": "no BatchNorm in G (BN stopped G collapsing all samples to one point)",
    "d_batchnorm": "no BatchNorm in D's hidden layers",
    "bn_on_g_output": "BatchNorm on G's output layer too (BN everywhere oscillated)",
    "bn_on_d_input": "BatchNorm on D's input layer too (BN everywhere oscillated)",
    "pooling": "max-pooling in D and upsampling in G instead of strided convolutions",
    "hidden_dense": "a fully connected hidden layer in G and in D",
    "g_leaky_relu": "LeakyReLU instead of ReLU in G",
    "d_relu": "ReLU instead of LeakyReLU in D",
    "g_sigmoid_output": "sigmoid instead of tanh on G's output (data scaled to [0, 1])",
    "global_pooling": "global average pooling on top of D (more stable, slower to converge)",
}
# Adam (docs/paper_notes.md §4): option, config field, its check, help, the bad value the
# paper names.
ADAM_OPTIONS = (
    ("--lr", "learning_rate", check_learning_rate, "Adam learning rate of both networks",
     "0.001 (too high)"),
    ("--beta1", "beta_1", check_beta_1, "Adam beta1 of both networks", "0.9 (it oscillated)"),
)
ADAM_FIELDS = tuple(option[1] for option in ADAM_OPTIONS)

EPILOG = """examples:
  python -m dcgan_tf train                                  # small profile, procedural faces
  python -m dcgan_tf train --data digits --out runs/digits
  python -m dcgan_tf train --pooling --out runs/pooling     # break one guideline on purpose
  python -m dcgan_tf train --profile full --data tfds:celeb_a --out runs/celeba   # GPU
  python -m dcgan_tf train --out runs/faces --resume --epochs 20
  python -m dcgan_tf sample --run runs/faces --n 64 --out grid.png

""" + exit_code_text()


def _profiles(field: str) -> str:
    """"(small: X, full: Y)": the value each profile gives a config field."""
    small, full = DCGANConfig.profile("small"), DCGANConfig.profile("full")
    return f"(small: {getattr(small, field)}, full: {getattr(full, field)})"


def _add_model_options(t):
    def add(flag, text, **kwargs):
        field = flag[2:].replace("-", "_")
        t.add_argument(flag, help=f"{text} {_profiles(field)}", **kwargs)

    add("--epochs", "epochs to train up to", type=positive())
    add("--resolution", "image side", type=int, choices=RESOLUTIONS)
    add("--width", "feature maps of G's last and D's first conv layer", type=positive())
    add("--batch-size", "images per step", type=positive())
    add("--kernel-size", "conv kernel side", type=int, choices=KERNEL_SIZES)
    add("--z-prior", "distribution of z", choices=PRIORS)
    add("--channels", "1 (grey) or 3 (RGB); digits and mnist default to 1", type=int,
        choices=[1, 3])
    add("--seed", "seed of weights, noise and shuffling", type=int)
    add("--g-ema", "decay of the moving average of G's weights that samples are drawn from; "
        "0 = plain G, as in the paper", type=checked(check_g_ema), metavar="DECAY")
    add("--mixed-precision", "float16 maths (GPU)", action="store_true")
    add("--xla", "compile the train step with XLA; auto: on for a single GPU, off on the "
        "CPU (slower there) and under several replicas", choices=tuple(XLA_FLAGS))
    add("--steps-per-execution", "train steps per call into TensorFlow; above 1, a fast GPU "
        "waits less for Python", type=positive())
    t.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="default: one device (a GPU if there is one); mirrored: every GPU, "
                        "one replica each (MirroredStrategy)")
    t.add_argument("--memory-growth", action="store_true",
                   help="take GPU memory as needed, not all of it at the start")


def _add_guideline_options(t):
    """One flag per guideline switch, plus Adam's two settings; unset flags stay None."""
    paper = DCGANConfig()
    g = t.add_argument_group(
        "guidelines (docs/paper_notes.md §3-4): each flag breaks one on purpose")
    for switch in DCGANConfig.guideline_switches():
        on = getattr(paper, switch)
        g.add_argument(("--no-" if on else "--") + switch.replace("_", "-"), dest=switch,
                       action="store_const", const=not on, default=None,
                       help=f"{SWITCH_HELP[switch]}; {switch}: paper {on}, {not on} "
                            "breaks the guideline")
    for flag, field, check, text, bad in ADAM_OPTIONS:
        g.add_argument(flag, dest=field, type=checked(check), metavar=flag[2:].upper(),
                       help=f"{text}; paper {getattr(paper, field):g}, {bad} breaks the "
                            "guideline")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m dcgan_tf", description="Train and sample DCGANs.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error, not one line")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("train", help="train a DCGAN into a run folder", parents=[common])
    t.add_argument("--data",
                   help="faces[:N], rooms[:N], digits, tfds:NAME, a folder of images or "
                        "TFRecord shards (default: faces; with --resume: the run's own)")
    t.add_argument("--out", help="run folder (default: runs/faces; with --dry-run a new "
                   "temporary folder)")
    small, full = DCGANConfig.profile("small"), DCGANConfig.profile("full")
    t.add_argument("--profile", choices=PROFILES,
                   default=os.environ.get("DCGAN_PROFILE", "small"),
                   help=f"small: CPU minutes ({small.resolution}x{small.resolution}, width "
                        f"{small.width}); full: a GPU ({full.resolution}x{full.resolution}, "
                        f"width {full.width}: G starts at 4x4x{8 * full.width}; Fig. 1's "
                        "4x4x1024 is --width 128) (default: $DCGAN_PROFILE, else small)")
    t.add_argument("--dry-run", action="store_true",
                   help=f"check the whole path in seconds: {DRY_RUN_IMAGES} drawn images (or "
                        f"digits), 1 epoch at batch {DRY_RUN_BATCH}, no probes, no score")
    t.add_argument("--resume", action="store_true",
                   help="continue the run folder's checkpoint, with its config and data")
    _add_model_options(t)
    _add_guideline_options(t)
    t.add_argument("--cache", choices=CACHE_CHOICES, default="auto",
                   help="where the decoded images are kept between epochs: auto (default) "
                        f"is memory if they fit in {CACHE_MEMORY_BUDGET / 2**30:g} GiB, "
                        "else a file under $DCGAN_CACHE (default ~/.cache/dcgan_tf)")
    t.add_argument("--no-score", action="store_true",
                   help="skip the probe Frechet distance after training on faces/rooms")
    t.add_argument("--score-n", type=positive(), default=2000,
                   help="images per set for the probe Frechet distance (default 2000; "
                        "more than the probes have features)")

    s = sub.add_parser("sample", help="render a grid of samples from a run's checkpoint",
                       parents=[common])
    s.add_argument("--run", required=True, help="run folder written by `train`")
    s.add_argument("--n", type=positive(), default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=int, default=0,
                   help="seed of the latent vectors (default 0)")
    s.add_argument("--epoch", type=positive(),
                   help="the generator after this epoch, one of the last 5 the run kept in "
                        "RUN/history/ (default: the last)")
    s.add_argument("--out", help="PNG to write (default: RUN/sample_seed<SEED>.png)")
    return p


def _check_score_n(parser, args):
    # Checked before hours of training, not after.
    from dcgan_tf.data import score_n_problem
    from dcgan_tf.train import recorded_source

    if args.command != "train" or args.no_score:
        return
    resumed = args.resume and recorded_source(Path(args.out))
    problem = score_n_problem(resumed or _source(args), args.score_n)  # what will be scored
    if problem:
        parser.error(problem)


def _source(args):
    """The source to train on; None lets train() use the one the run folder recorded."""
    if args.data is not None:
        return args.data
    if args.resume and (Path(args.out) / "config.json").exists():
        return None
    return "faces"


def _config(args, source):
    run_cfg = Path(args.out) / "config.json"
    knobs = (*DCGANConfig.guideline_switches(), *ADAM_FIELDS)
    overrides = {k: getattr(args, k) for k in
                 ("epochs", "resolution", "width", "batch_size", "kernel_size", "z_prior",
                  "channels", "seed", "g_ema", "steps_per_execution", *knobs)
                 if getattr(args, k) is not None}
    if args.mixed_precision:
        overrides["mixed_precision"] = True
    if args.xla is not None:
        overrides["xla"] = XLA_FLAGS[args.xla]
    if args.resume and run_cfg.exists():  # the run's own settings, plus what was changed
        return DCGANConfig.from_json(run_cfg).replace(**overrides)
    name = str(source).removeprefix("tfds:").split(":")[0]
    if "channels" not in overrides and name in ONE_CHANNEL:
        overrides["channels"] = 1
    return DCGANConfig.profile(args.profile, **overrides)


def broken_line(cfg: DCGANConfig) -> str | None:
    """"guidelines broken on purpose: ..." naming the switches and Adam settings off the
    paper's, or None for the paper's own settings."""
    paper = DCGANConfig()
    broken = cfg.broken_guidelines() + [
        f"{field} {getattr(cfg, field):g}" for field in ADAM_FIELDS
        if getattr(cfg, field) != getattr(paper, field)]
    return "guidelines broken on purpose: " + ", ".join(broken) if broken else None


def _dry_run(args):
    """--dry-run's (source, config changes): a few steps on tiny data, nothing to score."""
    from dcgan_tf.data import procedural_name

    if args.resume:
        raise InputError("--dry-run trains a fresh folder; it cannot --resume")
    source = args.data or "faces"
    name = procedural_name(source)
    if name is None and source != "digits":
        raise InputError(f"--dry-run trains on drawn data (faces, rooms) or digits, not "
                         f"{source!r}")
    args.no_score = True
    return (f"{name}:{DRY_RUN_IMAGES}" if name else source), {"epochs": 1,
                                                              "batch_size": DRY_RUN_BATCH}


def _train(args, monitor=None) -> int:
    from dcgan_tf import checkpoint, devices
    from dcgan_tf.data import drawn_set, procedural_name
    from dcgan_tf.train import recorded_source, train

    source, out = _source(args), Path(args.out)
    cfg = _config(args, source)
    if args.dry_run:
        source, changes = _dry_run(args)
        cfg = cfg.replace(**changes)
    # What will train: on resume, the run's recorded source (train() refuses another one).
    planned = procedural_name((args.resume and recorded_source(out)) or source)
    if planned and not args.no_score and cfg.channels != 3:
        raise InputError(f"the {planned} probes score RGB images and this run has "
                         f"{cfg.channels} channel(s): add --no-score")
    before = checkpoint.saved_epoch(out) if args.resume else 0
    broken = broken_line(cfg)
    if broken:  # so a student sees what this run changes from the paper
        print(broken)
    if args.memory_growth:
        devices.memory_growth()
    strategy = devices.strategy_named(args.strategy)
    start = time.time()
    # The dry run's monitor keeps to pixels: it has no time to train probes.
    watch = functools.partial(monitor, probes=not args.dry_run) if monitor else None
    train(cfg, source, out, resume=args.resume, strategy=strategy, cache=args.cache,
          monitor=watch)
    after = checkpoint.saved_epoch(out)
    if after == before:
        print(f"nothing to train: {out} already has {after} epochs (--epochs {cfg.epochs}); "
              "pass a larger --epochs to continue")
        return 0
    if args.dry_run:
        print(f"dry run: {after} epoch in {time.time() - start:.0f} s, run folder {out}")
        return 0
    print(f"trained in {(time.time() - start) / 60:.1f} min; samples: {out / 'samples'}, "
          f"loss curves: {out / 'loss.png'}, progress: {out / 'progress.gif'}")
    drawn = drawn_set(recorded_source(out) or source)  # what train() actually read
    if drawn is not None and not args.no_score:
        print(drawn.score(out, n=args.score_n).summary())
    return 0


def _sample(args) -> int:
    from dcgan_tf import plots
    from dcgan_tf.train import sample

    images = sample(args.run, args.n, args.seed, args.epoch)
    name = f"sample_seed{args.seed}" + (f"_epoch{args.epoch:03d}" if args.epoch else "")
    out = Path(args.out or Path(args.run) / f"{name}.png")
    plots.save_png(plots.grid(images), out, scale=2)
    print(f"wrote {out}")
    return 0


def _exit_code(err: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) for an error, by the EXIT_CODES table."""
    from dcgan_tf.callbacks import TrainingDiverged

    if isinstance(err, BAD_INPUT):  # DataError too
        return EXIT_BAD_INPUT, f"error: {err}"
    if isinstance(err, TrainingDiverged):
        return EXIT_FAILED, f"error: {err}"
    return EXIT_FAILED, (f"error: unexpected {type(err).__name__}: {err} (rerun with --debug "
                         "for the traceback)")


def main(argv=None, setup=None) -> int:
    """Run the command line. `setup()` runs once the arguments are parsed (so --help needs no
    TensorFlow) and returns the monitor `train` attaches, or None: python -m dcgan_tf
    registers the drawn data sets there and returns the health monitor's watch."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.out is None:
        args.out = (tempfile.mkdtemp(prefix="dcgan_dry_run_") if args.dry_run
                    else "runs/faces")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    monitor = setup() if setup is not None else None
    _check_score_n(parser, args)
    try:
        return _train(args, monitor) if args.command == "train" else _sample(args)
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        what = ("the last completed epoch is checkpointed; rerun with --resume"
                if args.command == "train" else "nothing was written")
        print(f"\ninterrupted: {what}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - mapped to the exit code table
        code, message = _exit_code(err)
        if args.debug:
            traceback.print_exc()
        else:
            print(" ".join(message.split("\n")), file=sys.stderr)
        return code
