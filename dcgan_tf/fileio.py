"""Writing files so that a crash, a kill or a concurrent writer never leaves a torn file.

Every file the kit writes that a later step reads back (checkpoints, caches, probes,
downloads, crops, manifests' side files, shards) goes through `atomic_path`: the data goes to
a uniquely named temporary file in the same folder, is flushed to disk, and is then renamed
over the target in one step (os.replace is atomic on POSIX and Windows); the folder is
flushed too, so the rename survives a power cut. Two writers of the
same target each get their own temporary file, so the last rename wins and neither can
truncate the other's bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

# mkstemp creates files readable by their owner only; a finished file gets the mode any new
# file would (0o666 less the umask), or keeps the mode of the file it replaces. The umask
# can only be read by setting it, so it is read once, at import, before threads start.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)  # Windows refuses to fsync a read-only descriptor
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; Windows cannot open folders)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """Yield a unique temporary path next to `path`; on success it is moved onto `path`.

    For writers that insist on a file name (Keras' model.save wants suffix=".keras"). The
    temporary name is hidden and ends in `suffix`, so globs for the real files (*.npz,
    *.tfrecord) do not pick it up. On an error it is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path))
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", **open_kwargs):
    """Open a file for writing whose contents appear at `path` only once complete."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()


def write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


_MISSING = object()


def write_json(path, data) -> Path:
    """Write `data` as JSON (one-space indent, UTF-8, a final newline) atomically."""
    return write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def read_json(path, default=_MISSING):
    """The JSON in `path`; `default` if the file does not exist (when one is given)."""
    path = Path(path)
    if default is not _MISSING and not path.is_file():
        return default
    return json.loads(path.read_text(encoding="utf-8"))
