"""Drawing speed of the procedural data sets (images/s), and optionally probe training time.

    python benchmarks/procedural.py                   # 50,000 faces and rooms, 1 and 2 workers
    python benchmarks/procedural.py --n 10000 --size 32 --workers 2
    python benchmarks/procedural.py --n 0 --probes 32 # cold-cache probe training, faces + rooms

The target: 50,000 images at 64x64 in under a minute on 2 cores. Nothing is cached: every
run draws from scratch. The load average is printed because other processes on a shared
machine slow every figure down.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from dcgan_tf.groundtruth import probes, procedural  # noqa: E402


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def bench_drawing(n: int, size: int, workers: list[int], names: list[str]) -> None:
    print(f"drawing {n:,} images at {size}x{size} on a machine with {os.cpu_count()} cores")
    print(f"{'data':6s} {'workers':>7s} {'seconds':>8s} {'images/s':>9s} {'50k takes':>10s}"
          f"  load avg")
    for name in names:
        procedural.make(name, 8, seed=999, size=size, workers=1)  # warm-up: texture banks
        for w in workers:
            start = time.perf_counter()
            images, _ = procedural.make(name, n, seed=123, size=size, workers=w,
                                        progress=False)
            seconds = time.perf_counter() - start
            rate = len(images) / seconds
            print(f"{name:6s} {w:7d} {seconds:8.1f} {rate:9.0f} {50_000 / rate:9.1f}s"
                  f"  {load_average()}", flush=True)


def bench_probes(size: int) -> None:
    """Train both probes from an empty cache, as CI does, and report time and scores."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DCGAN_CACHE"] = cache

        total = 0.0
        for name in procedural.NAMES:
            start = time.perf_counter()
            p = probes.get_probes(name, size, progress=False)
            seconds = time.perf_counter() - start
            total += seconds
            scores = ", ".join(f"{k} {v:.3f}" for k, v in p.scores.items()
                               if k != "train_seconds")
            print(f"probes {name} {size}px: {seconds:.1f}s (data + training + held-out "
                  f"scoring)  load avg {load_average()}\n  held-out: {scores}", flush=True)
        print(f"probes total: {total:.1f}s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="images per run (0: skip)")
    parser.add_argument("--size", type=int, default=64, choices=(32, 64, 128))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data", nargs="+", default=list(procedural.NAMES),
                        choices=procedural.NAMES)
    parser.add_argument("--probes", type=int, choices=(32, 64, 128),
                        help="also time cold-cache probe training at this size")
    args = parser.parse_args(argv)
    if args.n:
        bench_drawing(args.n, args.size, args.workers, args.data)
    if args.probes:
        bench_probes(args.probes)


if __name__ == "__main__":
    main()
