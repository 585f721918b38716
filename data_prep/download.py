"""Step 1: fetch a URL list into <work>/images, one manifest record per URL.

A URL list has one URL per line, optionally followed by the person's name:
    https://example.org/a.jpg  Ada Lovelace
Blank lines and lines starting with # are ignored. Only http and https are fetched. Bodies
are checked by decoding them (a valid image with a wrong Content-Type is accepted; an HTML
page is rejected), capped in size, and saved as <sha256 of content>.<format suffix>: nothing
the server names reaches the file system. URLs with a recorded outcome are skipped on a
re-run; `retry_failed=True` tries those that failed for a transient reason again. An
unexpected error (a bug, a full disk) is recorded as "error" with its traceback, and a
re-run tries that URL again. Each URL is fetched within bounds of time and size, redirects
included (see data_prep.fetch).

Interrupting: Ctrl-C lets the requests in flight finish and records them, so the re-run
repeats nothing; after a hard kill only those in flight (at most 4 x workers) are repeated.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import sys
import traceback
from pathlib import Path

from data_prep.decode import MAX_PIXELS, BadImage, check_bytes
from data_prep.fetch import Rejected, check_args, fetch
from data_prep.manifest import Manifest, run_all
from dcgan_tf.fileio import write_bytes


def read_url_list(path) -> list[tuple[str, str]]:
    """(url, name) pairs from a URL list file, in order, without repeats."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: URL list not found")
    seen, out = set(), []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        url, *name = line.split(None, 1)
        name = " ".join(name[0].split()) if name else ""
        if url not in seen:
            seen.add(url)
            out.append((url, name))
    return out


def _save(data: bytes, folder: Path, suffix: str) -> tuple[str, Path]:
    digest = hashlib.sha256(data).hexdigest()
    path = folder / f"{digest}{suffix}"
    if not path.exists():  # same content from another URL: one file
        write_bytes(path, data)  # its own temp file: a concurrent saver cannot truncate it
    return digest, path


def download(url_list, work, *, workers: int = 8, timeout: float = 20.0,
             max_bytes: int = 20_000_000, retries: int = 3, backoff: float = 1.0,
             max_pixels: int = MAX_PIXELS, retry_failed: bool = False) -> dict:
    """Fetch every URL of `url_list` (a file or (url, name) pairs) into <work>/images.

    Returns counts of the outcomes, e.g. {"ok": 97, "rejected": 2, "failed": 1}; an
    "error" count means a bug or an OS fault: the first traceback is printed to stderr and
    every one is in its manifest record. Raises ValueError for an argument out of range.
    """
    check_args(workers=workers, timeout=timeout, max_bytes=max_bytes, retries=retries,
               backoff=backoff, max_pixels=max_pixels)
    entries = read_url_list(url_list) if isinstance(url_list, (str, os.PathLike)) else [
        (u, n) for u, n in url_list]
    manifest = Manifest(work)
    folder = manifest.root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    limits = dict(timeout=timeout, max_bytes=max_bytes, retries=retries, backoff=backoff)
    first_error = _fetch_all(
        _todo(entries, manifest, retry_failed), manifest, workers,
        lambda entry: _fetch_one(entry, manifest, folder, max_pixels, limits))
    counts = _counts(entries, manifest.latest("download"))
    if first_error:
        print(f"download: {counts['error']} URL(s) met an unexpected error (reasons in "
              f"{manifest.path}); the first:\n{first_error}", file=sys.stderr)
    return counts


def _todo(entries, manifest: Manifest, retry_failed: bool) -> list[tuple[str, str]]:
    """The entries without a final outcome: never tried, a bug, or (if asked) transient."""
    done = manifest.latest("download")
    todo = [(u, n) for u, n in entries
            if u not in done or done[u]["status"] == "error"
            or (retry_failed and done[u]["status"] == "failed")]
    if len(entries) > len(todo):
        print(f"download: {len(entries) - len(todo)} URL(s) already recorded in "
              f"{manifest.path}, skipped")
    return todo


def _fetch_one(entry, manifest: Manifest, folder: Path, max_pixels: int, limits) -> dict:
    """One (url, name) -> its manifest record: fetched, checked and saved, or why not."""
    url, name = entry
    rec = dict(step="download", key=url)
    try:
        data, attempts = fetch(url, **limits)
        fmt, suffix, (w, h) = check_bytes(data, max_pixels)
        digest, path = _save(data, folder, suffix)
    except Rejected as err:
        return {**rec, "status": "failed" if err.retryable else "rejected", "name": name,
                "reason": str(err), "attempts": getattr(err, "attempts", 1)}
    except BadImage as err:
        return {**rec, "status": "rejected", "name": name, "reason": str(err),
                "attempts": attempts, "bytes": len(data)}
    except Exception as err:  # a bug: recorded (one URL must not end the run), and shown
        return {**rec, "status": "error", "name": name,
                "reason": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    return {**rec, "status": "ok", "name": name, "file": manifest.relative(path),
            "sha256": digest, "bytes": len(data), "format": fmt, "size": [w, h],
            "attempts": attempts}


def _fetch_all(todo, manifest: Manifest, workers: int, fetch_one) -> str | None:
    """Run fetch_one over `todo` on `workers` threads, recording each outcome as it comes.

    Returns the traceback of the first unexpected error, or None.
    """
    first_error = []

    def record(rec):
        manifest.append(**rec)
        if rec["status"] == "error" and not first_error:
            first_error.append(rec["traceback"])

    with cf.ThreadPoolExecutor(workers) as pool:
        run_all(fetch_one, todo, pool, record, window=4 * workers, desc="download",
                total=len(todo), unit="url")
    return first_error[0] if first_error else None


def _counts(entries, latest: dict) -> dict[str, int]:
    """How many entries have each latest status ("missing" if none was recorded)."""
    counts: dict[str, int] = {}
    for u, _ in entries:
        status = latest.get(u, {}).get("status", "missing")
        counts[status] = counts.get(status, 0) + 1
    return counts
