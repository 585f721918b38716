"""Step 1: fetch a URL list into <work>/images, one manifest record per URL.

A URL list has one URL per line, optionally followed by the person's name:
    https://example.org/a.jpg  Ada Lovelace
Blank lines and lines starting with # are ignored. Only http and https are fetched. Bodies
are checked by decoding them (a valid image with a wrong Content-Type is accepted; an HTML
page is rejected), capped in size, and saved as <sha256 of content>.<format suffix>: nothing
the server names reaches the file system. URLs with a recorded outcome are skipped on a
re-run; `retry_failed=True` tries those that failed for a transient reason again.

Interrupting: Ctrl-C lets the requests in flight finish and records them, so the re-run
repeats nothing; after a hard kill only those in flight (at most 4 x workers) are repeated.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import http.client
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from data_prep.decode import MAX_PIXELS, BadImage, check_bytes
from data_prep.manifest import Manifest, run_all

USER_AGENT = "dcgan-tf-data-prep/0.1 (course kit; +https://github.com/dcgan-tf/dcgan-tf)"
SCHEMES = ("http", "https")
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class Rejected(Exception):
    """A URL that will not give an image; `retryable` if trying later might succeed."""

    def __init__(self, reason: str, retryable: bool = False):
        super().__init__(reason)
        self.retryable = retryable


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a redirect to ftp://; only http(s) may be fetched.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in SCHEMES:
            raise Rejected(f"redirect to a non-http URL ({scheme}://)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


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


def fetch_once(url: str, timeout: float, max_bytes: int) -> bytes:
    """One GET with a whole-request deadline and a size cap. Raises Rejected."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise Rejected(f"unsupported URL scheme {scheme + '://' if scheme else '(none)'}"
                       " (only http and https)")
    deadline = time.monotonic() + timeout
    try:
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT,
                                                   "Accept": "image/*"})
        with _OPENER.open(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise Rejected(f"too large: Content-Length {int(length):,} > {max_bytes:,} bytes")
            chunks, size = [], 0
            while True:
                if time.monotonic() > deadline:  # a trickling server: the socket never idles
                    raise Rejected(f"timed out after {timeout:g} s (slow body)", retryable=True)
                chunk = resp.read1(64 * 1024)  # whatever has arrived: read() would wait
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise Rejected(f"too large: body exceeds {max_bytes:,} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except Rejected:
        raise
    except urllib.error.HTTPError as err:
        if err.code in (301, 302, 303, 307, 308) and "redirect" in str(err.msg).lower():
            raise Rejected(f"redirect loop or too many redirects (HTTP {err.code})") from None
        raise Rejected(f"HTTP {err.code} {err.reason}", err.code in RETRY_STATUS) from None
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise Rejected(f"timed out after {timeout:g} s", retryable=True) from None
        # Socket-level trouble may pass; "no host given" and the like will not.
        raise Rejected(f"connection failed: {reason}", isinstance(reason, OSError)) from None
    except ValueError as err:
        raise Rejected(f"invalid URL: {err}") from None
    except (TimeoutError, socket.timeout):
        raise Rejected(f"timed out after {timeout:g} s", retryable=True) from None
    except (http.client.HTTPException, ConnectionError, OSError) as err:
        raise Rejected(f"connection failed: {type(err).__name__}: {err}", True) from None


def fetch(url: str, *, timeout: float = 20.0, max_bytes: int = 20_000_000, retries: int = 3,
          backoff: float = 1.0) -> tuple[bytes, int]:
    """GET with retries on transient failures, waiting backoff * 2**attempt (+ jitter).

    Returns (body, attempts); raises Rejected with the last reason and the attempt count.
    """
    for attempt in range(retries + 1):
        try:
            return fetch_once(url, timeout, max_bytes), attempt + 1
        except Rejected as err:
            if not err.retryable or attempt == retries:
                err.attempts = attempt + 1
                raise
            time.sleep(backoff * 2**attempt * (1.0 + 0.25 * random.random()))
    raise AssertionError("unreachable")


def _save(data: bytes, folder: Path, suffix: str) -> tuple[str, Path]:
    digest = hashlib.sha256(data).hexdigest()
    path = folder / f"{digest}{suffix}"
    if not path.exists():  # same content from another URL: one file
        tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return digest, path


def download(url_list, work, *, workers: int = 8, timeout: float = 20.0,
             max_bytes: int = 20_000_000, retries: int = 3, backoff: float = 1.0,
             max_pixels: int = MAX_PIXELS, retry_failed: bool = False) -> dict:
    """Fetch every URL of `url_list` (a file or (url, name) pairs) into <work>/images.

    Returns counts of the outcomes, e.g. {"ok": 97, "rejected": 2, "failed": 1}.
    """
    entries = read_url_list(url_list) if isinstance(url_list, (str, os.PathLike)) else [
        (u, n) for u, n in url_list]
    manifest = Manifest(work)
    folder = manifest.root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    done = manifest.latest("download")
    todo = [(u, n) for u, n in entries
            if u not in done or (retry_failed and done[u]["status"] == "failed")]
    skipped = len(entries) - len(todo)
    if skipped:
        print(f"download: {skipped} URL(s) already recorded in {manifest.path}, skipped")

    def one(entry):
        url, name = entry
        try:
            data, attempts = fetch(url, timeout=timeout, max_bytes=max_bytes,
                                   retries=retries, backoff=backoff)
            fmt, suffix, (w, h) = check_bytes(data, max_pixels)
            digest, path = _save(data, folder, suffix)
        except Rejected as err:
            status = "failed" if err.retryable else "rejected"
            return dict(step="download", key=url, status=status, name=name, reason=str(err),
                        attempts=getattr(err, "attempts", 1))
        except BadImage as err:
            return dict(step="download", key=url, status="rejected", name=name,
                        reason=str(err), attempts=attempts, bytes=len(data))
        except Exception as err:  # a bug or an odd OS error must not end the whole run
            return dict(step="download", key=url, status="failed", name=name,
                        reason=f"{type(err).__name__}: {err}", attempts=1)
        return dict(step="download", key=url, status="ok", name=name,
                    file=manifest.relative(path), sha256=digest, bytes=len(data),
                    format=fmt, size=[w, h], attempts=attempts)

    def record(rec):
        manifest.append(**rec)

    with cf.ThreadPoolExecutor(max(1, workers)) as pool:
        run_all(one, todo, pool, record, window=4 * max(1, workers), desc="download",
                total=len(todo), unit="url")
    counts: dict[str, int] = {}
    latest = manifest.latest("download")
    for u, _ in entries:
        status = latest.get(u, {}).get("status", "missing")
        counts[status] = counts.get(status, 0) + 1
    return counts
