"""Where runs are written: one folder for every chapter, whatever the working directory."""

from __future__ import annotations

import os
from pathlib import Path


def checkout_root() -> Path | None:
    """The kit's repository root (the folder holding pyproject.toml) when dcgan_tf is
    imported from a checkout, as with `pip install -e`; None for an installed copy."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def runs_dir() -> Path:
    """The runs folder (created): env DCGAN_RUNS, else <checkout>/runs, else ./runs.

    Notebooks run from notebooks/, from the repository root or from /content on Colab; all
    of them must find the run a previous chapter trained, so the folder never depends on
    the working directory when the kit is a checkout.
    """
    env = os.environ.get("DCGAN_RUNS")
    if env:
        path = Path(env).expanduser()
    else:
        root = checkout_root()
        path = (root if root is not None else Path.cwd()) / "runs"
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
