"""The manifest all steps share: an append-only JSON Lines log of what became of every input.

One line per record: {"step", "key", "status", "time", ...}. The latest record of a
(step, key) is its current state, so re-running a step only appends. Each record is a single
write followed by fsync: a crash can at worst tear the last line, which reading skips and the
next append seals off with a newline. Steps read what is done and skip it on a re-run.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import json
import os
import threading
import time
from pathlib import Path

from tqdm.auto import tqdm

from dcgan_tf.config import InputError

try:  # several processes may append to one manifest; fcntl is POSIX-only
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer at a time is the user's job
    fcntl = None

MANIFEST_NAME = "manifest.jsonl"


class NothingSucceeded(RuntimeError):
    """A step none of whose inputs succeeded; the message names the first failure."""


class Manifest:
    """Append-only, crash-safe record of every input of every step (see module docstring)."""

    def __init__(self, path, fsync: bool = True):
        """`path` is a work folder (manifest.jsonl inside it) or a manifest file: only a
        path ending in .jsonl that is not an existing folder names a file, so a new folder
        with a dot in its name (runs/faces.v2) is still a folder."""
        path = Path(path)
        is_file = path.suffix.lower() == ".jsonl" and not path.is_dir()
        self.path = path if is_file else path / MANIFEST_NAME
        self.fsync = fsync
        self._lock = threading.Lock()

    def __repr__(self):
        return f"Manifest({str(self.path)!r})"

    @property
    def root(self) -> Path:
        """The work folder; paths inside it are recorded relative to it."""
        return self.path.parent

    def append(self, step: str, key: str, status: str, **fields) -> dict:
        """Write one record durably and return it."""
        return self.append_many([dict(step=step, key=key, status=status, **fields)])[0]

    def append_many(self, records: list[dict]) -> list[dict]:
        """Write records (each with step, key, status) in one write and one fsync."""
        now = round(time.time(), 3)
        out = []
        for rec in records:
            missing = {"step", "key", "status"} - set(rec)
            if missing:
                raise InputError(f"manifest record lacks {sorted(missing)}: {rec}")
            out.append({"step": rec["step"], "key": rec["key"], "status": rec["status"],
                        "time": now, **rec})
        if not out:
            return out
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # seal off a line torn by an earlier crash
                os.write(fd, data)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)  # closing also drops the flock
        return out

    def records(self, step: str | None = None) -> list[dict]:
        """Every readable record in order (optionally of one step); torn lines are skipped."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a crash
                if isinstance(rec, dict) and (step is None or rec.get("step") == step):
                    out.append(rec)
        return out

    def latest(self, step: str) -> dict[str, dict]:
        """The current record of each key of a step, in first-seen order."""
        out: dict[str, dict] = {}
        for rec in self.records(step):
            out[rec["key"]] = rec
        return out

    def counts(self, step: str) -> dict[str, int]:
        """How many keys of a step are in each status."""
        return dict(collections.Counter(r["status"] for r in self.latest(step).values()))

    def first_problem(self, step: str, since: float | None = None,
                      ok=("ok", "no_face", "duplicate")) -> str:
        """The first unsuccessful record of a step, as 'KEY: REASON': of those made at or
        after `since` if any, else of all; the first with a traceback (a bug) is preferred,
        and its traceback appended."""
        bad = sorted((r for r in self.latest(step).values() if r["status"] not in ok),
                     key=lambda r: r.get("time", 0.0))
        recent = [r for r in bad if since is not None and r.get("time", 0.0) >= since]
        bad = recent or bad
        if not bad:
            return "no input was recorded"
        first = next((r for r in bad if r.get("traceback")), bad[0])
        text = f"first failure: {first['key']}: {first.get('reason', first['status'])}"
        return text + (f"\n{first['traceback'].rstrip()}" if first.get("traceback") else "")

    def relative(self, path) -> str:
        """A path as recorded: relative to the work folder when inside it, else absolute.

        Symlinks are not resolved: a link is recorded under its own name, never its target's.
        """
        path = Path(os.path.abspath(path))
        try:
            return path.relative_to(os.path.abspath(self.root)).as_posix()
        except ValueError:
            return str(path)

    def resolve(self, recorded: str) -> Path:
        """The file a recorded path names."""
        path = Path(recorded)
        return path if path.is_absolute() else self.root / path


def run_all(fn, items, executor, record, *, window: int, desc: str, total: int | None = None,
            unit: str = "it"):
    """Run fn(item) in `executor`, and record(result) here as each one finishes.

    At most `window` items are queued or running, so huge inputs are never queued at once.
    On Ctrl-C queued items are dropped and the running ones finish and are recorded before
    the KeyboardInterrupt goes on: work done is never lost, so a re-run never repeats it.
    """
    items = iter(items)
    unrecorded: set[cf.Future] = set()
    bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, disable=total == 0)
    exhausted = False
    try:
        while True:
            while not exhausted and len(unrecorded) < window:
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    break
                unrecorded.add(executor.submit(fn, item))
            if not unrecorded:
                break
            done, _ = cf.wait(unrecorded, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                record(fut.result())
                unrecorded.discard(fut)
                bar.update()
    except KeyboardInterrupt:
        # Queued items never start; the running ones finish and are recorded.
        running = [f for f in unrecorded if not f.cancel()]
        bar.write(f"{desc}: interrupted; finishing the {len(running)} item(s) running")
        for fut in cf.as_completed(running):
            record(fut.result())
            unrecorded.discard(fut)
        raise
    finally:
        bar.close()
