"""How often the health monitor's collapse line fires on the paper's configuration, and on
the broken ones, for the line in use and for others, replayed from a sweep's health.csv.

    python benchmarks/stability.py --configs paper --seeds 10 --out runs/fp_lab
    python benchmarks/stability.py --configs no_g_batchnorm beta1_0.9 bn_on_d_input \\
        hidden_dense g_sigmoid_output --seeds 3 --out runs/fp_lab
    python benchmarks/monitor_lines.py runs/fp_lab

The monitor's verdicts depend only on the per-epoch signals in health.csv, so every line
is judged on the same runs without training again. For each candidate collapse line
(COLLAPSE_BELOW, COLLAPSE_SEVERE) it prints the share of the paper's seeds flagged for
collapse (false positives: the paper's configuration is the healthy one) and the share of
each broken configuration's seeds flagged for collapse.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dcgan_tf.health import monitor  # noqa: E402
from dcgan_tf.runlog import read_rows  # noqa: E402

CANDIDATES = ((0.5, 0.25), (0.45, 0.25), (0.4, 0.25), (0.4, 0.2), (0.35, 0.2), (0.3, 0.15))


def replay(health_csv: Path) -> set[str]:
    """The signals the monitor flags for one run, from its per-epoch rows."""
    rows = [{k: float(v) if v else math.nan for k, v in r.items()}
            for r in read_rows(health_csv)]
    with tempfile.TemporaryDirectory() as tmp:
        mon = monitor.HealthMonitor(tmp, np.zeros((2, 8, 8, 3), np.uint8),
                                    np.zeros((1, 1), np.float32), verbose=False)
        mon.history, mon.flags = [], []
        for row in rows:
            mon.history.append(row)
            mon.check(row)
    return {f["signal"] for f in mon.flags}


def rates(sweep: Path) -> dict[str, tuple[int, int]]:
    """config -> (seeds flagged for collapse, seeds)."""
    out = {}
    for config in sorted(p for p in sweep.iterdir() if p.is_dir()):
        runs = sorted(config.glob("seed*/" + monitor.HEALTH_CSV))
        flagged = sum("collapse" in replay(run) for run in runs)
        if runs:
            out[config.name] = (flagged, len(runs))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", type=Path, help="a benchmarks/stability.py --out folder")
    args = ap.parse_args(argv)
    if not (args.sweep / "paper").is_dir():
        print(f"error: {args.sweep} has no paper/ runs", file=sys.stderr)
        return 2
    in_use = (monitor.COLLAPSE_BELOW, monitor.COLLAPSE_SEVERE)
    try:
        for below, severe in (in_use, *[c for c in CANDIDATES if c != in_use]):
            monitor.COLLAPSE_BELOW, monitor.COLLAPSE_SEVERE = below, severe
            _print_line(rates(args.sweep), below, severe, (below, severe) == in_use)
    finally:
        monitor.COLLAPSE_BELOW, monitor.COLLAPSE_SEVERE = in_use
    return 0


def _print_line(found: dict, below: float, severe: float, in_use: bool) -> None:
    fp, n = found.pop("paper")
    broken = ", ".join(f"{k} {f}/{m}" for k, (f, m) in found.items())
    print(f"below {below:.2f}, severe {severe:.2f}{' (in use)' if in_use else ''}: paper "
          f"flagged {fp}/{n} ({fp / n:.0%}); broken: {broken}")


if __name__ == "__main__":
    sys.exit(main())
