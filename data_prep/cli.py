"""python -m data_prep download|detect|dedup|shard|all|status ... (also: data-prep ...)

Every step reads and appends <work>/manifest.jsonl, skips what it already did, and can be
stopped with Ctrl-C and re-run with the same command.

Exit codes (the same as python -m dcgan_tf):
  0    done
  1    failed: a step went wrong, or none of its inputs succeeded (the first failure is
       shown, with its traceback if it was a bug)
  2    bad usage or input: an unknown option, a bad value, a file or folder not found
  130  interrupted (Ctrl-C): what finished is recorded; run the same command to resume
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from dcgan_tf.cliargs import (BAD_INPUT, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK,
                              Parser, at_least_zero, exit_code_text, positive)
from dcgan_tf.config import InputError

DEFAULT_WORK = "runs/data_prep"


def _add_download(p):
    p.add_argument("--workers", type=positive(int), default=8, help="parallel requests")
    p.add_argument("--timeout", type=positive(float), default=20.0,
                   help="seconds allowed per request, body included")
    p.add_argument("--retries", type=at_least_zero(int), default=3,
                   help="retries of transient failures (0 or more)")
    p.add_argument("--backoff", type=at_least_zero(float), default=1.0,
                   help="first retry wait in seconds (0 or more)")
    p.add_argument("--max-mb", type=positive(float), default=20.0, help="largest body, MB")
    p.add_argument("--retry-failed", action="store_true",
                   help="try again the URLs that failed for a transient reason")


def _add_detect(p):
    p.add_argument("--detector", choices=("haar", "yunet"), default="haar")
    p.add_argument("--yunet-model", help="face_detection_yunet_*.onnx (for --detector yunet)")
    p.add_argument("--min-size", type=positive(int), default=64,
                   help="smallest face box side kept, in photo pixels")
    p.add_argument("--size", type=int, choices=(64, 128), default=64, help="crop side")
    p.add_argument("--margin", type=float, default=0.2, help="margin around the face box")
    p.add_argument("--pad", choices=("reflect", "edge", "constant"), default="reflect")
    p.add_argument("--min-score", type=float, default=None,
                   help="detector score to keep (default: 1.0 for haar, 0.8 for yunet)")
    p.add_argument("--threads", type=positive(int), default=None,
                   help="photos decoded and searched at once (default: one per core)")
    p.add_argument("--redo", action="store_true", help="detect again in recorded photos")


def _add_dedup(p):
    p.add_argument("--method", choices=("ae", "phash", "exact"), default="ae")
    p.add_argument("--epochs", type=positive(int), default=50, help="autoencoder epochs")
    p.add_argument("--threshold", type=at_least_zero(float), default=0.5,
                   help="code binarising threshold")


def _add_shard(p):
    p.add_argument("--out", help="shard folder (default: <work>/shards)")
    p.add_argument("--shards", type=positive(int), help="number of shard files")
    p.add_argument("--png-dir", help="also copy the shipped crops here as PNG files")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="data_prep", description=__doc__.split("\n\n")[0],
                     epilog=exit_code_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="STEP")

    def add(name, help_):
        p = sub.add_parser(name, help=help_, description=help_, epilog=exit_code_text(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--work", default=DEFAULT_WORK,
                       help=f"work folder holding the manifest (default {DEFAULT_WORK})")
        return p

    p = add("download", "fetch a URL list (URL [name] per line) into <work>/images")
    p.add_argument("urls", help="the URL list file")
    _add_download(p)
    p = add("detect", "find faces and save square crops into <work>/crops")
    p.add_argument("--images", help="folder of photos (default: <work>/images)")
    _add_detect(p)
    p = add("dedup", "mark exact and near duplicate crops")
    _add_dedup(p)
    p = add("shard", "write the kept crops as TFRecord shards")
    _add_shard(p)
    p = add("all", "download (for a URL list) or use a folder of photos, then every step")
    p.add_argument("input", help="a URL list file, or a folder of photos")
    for f in (_add_download, _add_detect, _add_dedup, _add_shard):
        f(p)
    add("status", "summarise the manifest: counts and reasons per step")
    return parser


def status(work) -> str:
    """A short text summary of the manifest: per step, counts by status and top reasons."""
    from collections import Counter

    from data_prep.manifest import Manifest

    manifest = Manifest(work)
    if not manifest.path.exists():
        raise FileNotFoundError(f"{manifest.path}: no manifest yet; run a step first")
    lines = [str(manifest.path)]
    for step in ("download", "detect", "dedup", "shard"):
        latest = manifest.latest(step)
        if not latest:
            continue
        counts = Counter(r["status"] for r in latest.values())
        lines.append(f"{step}: " + ", ".join(f"{n} {s}" for s, n in counts.most_common()))
        reasons = Counter(_gist(r["reason"]) for r in latest.values() if r.get("reason"))
        for why, n in reasons.most_common(8):
            lines.append(f"  {n:6d}  {why}")
        if step == "detect":
            boxes = [b for r in latest.values() for b in r.get("boxes", [])]
            kept = sum(b["kept"] for b in boxes)
            lines.append(f"  face boxes: {kept} kept, {len(boxes) - kept} rejected")
            why = Counter(_gist(b["reason"]) for b in boxes if not b["kept"])
            for w, n in why.most_common():
                lines.append(f"  {n:6d}  box {w}")
    return "\n".join(lines)


def _gist(reason: str) -> str:
    # "too small: 40 px < 64 px" -> "too small"; "near duplicate (ae) of X" -> "near duplicate"
    return reason.split(":")[0].split(" of ")[0].split(" (")[0]


def _detect_config(args):
    """The DetectConfig the options ask for, with its detector's files checked."""
    from data_prep.detect import DetectConfig, make_detector

    try:
        cfg = DetectConfig(detector=args.detector, yunet_model=args.yunet_model,
                           min_size=args.min_size, size=args.size, margin=args.margin,
                           pad=args.pad, min_score=args.min_score)
        make_detector(cfg)
    except (ValueError, FileNotFoundError) as err:
        raise InputError(str(err)) from None
    return cfg


def _check_inputs(args):
    """Refuse, before any step runs, inputs named on the command line that do not exist."""
    cmd = args.command
    if cmd in ("download", "all"):
        source = Path(args.urls if cmd == "download" else args.input)
        if not source.exists():
            raise InputError(f"{source}: no such file or folder")
        if cmd == "download" and source.is_dir():
            raise InputError(f"{source} is a folder; download needs a URL list file "
                             "(for a folder of photos use: detect --images FOLDER)")
    if cmd == "detect" and args.images is not None and not Path(args.images).is_dir():
        raise InputError(f"{args.images}: no such folder of photos")


def _require_success(work, step: str, counts: dict, good, since: float):
    """Raise NothingSucceeded when no input of this step succeeded; warn about bugs."""
    from data_prep.manifest import Manifest, NothingSucceeded

    manifest = Manifest(work)
    if not any(counts.get(s, 0) for s in good):
        raise NothingSucceeded(f"nothing succeeded ({_fmt(counts) or 'no inputs'}); "
                               + manifest.first_problem(step, since))
    if counts.get("error"):
        print(f"{step}: warning: {counts['error']} input(s) hit an unexpected error (a bug?): "
              f"{manifest.first_problem(step, since).splitlines()[0]} (tracebacks are in "
              f"{manifest.path})", file=sys.stderr)


def run(args) -> None:
    work = Path(args.work)
    cmd = args.command
    if cmd == "status":
        print(status(work))
        return
    _check_inputs(args)
    cfg = _detect_config(args) if cmd in ("detect", "all") else None
    images = args.images if cmd == "detect" else None
    if cmd == "all" and Path(args.input).is_dir():
        images = args.input
    elif cmd in ("download", "all"):
        from data_prep.download import download

        since = time.time() - 0.001
        counts = download(Path(args.urls if cmd == "download" else args.input), work,
                          workers=args.workers, timeout=args.timeout, retries=args.retries,
                          backoff=args.backoff, max_bytes=int(args.max_mb * 1e6),
                          retry_failed=args.retry_failed)
        print(f"download: {_fmt(counts)}")
        _require_success(work, "download", counts, ("ok",), since)
    if cmd in ("detect", "all"):
        from data_prep.detect import detect

        since = time.time() - 0.001
        counts = detect(work, images, cfg, workers=args.threads, redo=args.redo)
        print(f"detect: {_fmt(counts)}")
        _require_success(work, "detect", counts, ("ok", "no_face"), since)
    if cmd in ("dedup", "all"):
        from data_prep.dedup import dedup

        counts = dedup(work, args.method, epochs=args.epochs, threshold=args.threshold)
        print(f"dedup: {_fmt(counts)} (groups in {work / 'dedup'})")
    if cmd in ("shard", "all"):
        from data_prep.shard import shard

        info = shard(work, args.out, num_shards=args.shards, png_dir=args.png_dir)
        folder = Path(info["files"][0]).parent
        print(f"shard: {info['count']} crops in {len(info['files'])} file(s) in {folder}")


def _fmt(counts: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items())


def main(argv=None) -> int:
    """Entry point of `python -m data_prep` and the `data-prep` script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    prog = f"data_prep {args.command}"
    try:
        run(args)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; what finished is in the manifest - run the same "
              "command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BAD_INPUT as err:  # a bad value, a missing input
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValueError, RuntimeError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
