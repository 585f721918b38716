"""Run logs: the CSV files a run and a study write row by row, and read back.

One writer, one reader. A header is written with the first rows; appending keeps the columns
a file already has (a run from an older kit keeps its own); every write replaces the file
atomically (dcgan_tf.fileio), so a crash mid-write leaves the previous rows intact.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from dcgan_tf.fileio import write_text


def read_rows(path) -> list[dict]:
    """The rows of a log CSV as dicts of strings ([] if the file does not exist)."""
    if not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _fields(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f), None)


def write_rows(path, rows: list[dict], fields) -> None:
    """Replace `path` with a header of `fields` and `rows` (extra keys are ignored)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, text.getvalue())


def append_rows(path, rows: list[dict], fields) -> None:
    """Add rows to a log CSV, which is created with `fields` as its header if new."""
    path = Path(path)
    fields = _fields(path) or list(fields)
    write_rows(path, read_rows(path) + list(rows), fields)


def keep_rows(path, key: str, last: float) -> None:
    """Drop the rows whose `key` column is above `last`: a resumed run's tail."""
    path = Path(path)
    fields = _fields(path)
    if fields is None:
        return
    rows = read_rows(path)
    kept = [row for row in rows if float(row[key]) <= last]
    if len(kept) < len(rows):
        write_rows(path, kept, fields)


def read_columns(path) -> dict[str, np.ndarray]:
    """A log CSV as float columns (empty cells are NaN); {} for a missing or empty file."""
    rows = read_rows(path)
    if not rows:
        return {}
    return {k: np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows])
            for k in rows[0]}
