"""data_prep download against a local HTTP server on 127.0.0.1 serving good and bad cases."""

import collections
import hashlib
import http.server
import io
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep.decode import load_rgb
from data_prep.download import download, read_url_list
from data_prep.manifest import Manifest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 200_000  # max_bytes used by these tests


def encode(arr, fmt="JPEG", mode=None):
    im = Image.fromarray(arr)
    if mode:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def picture(i: int) -> bytes:
    rng = np.random.default_rng(i)
    return encode(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), "PNG")


def bomb_png() -> bytes:
    data = bytearray(encode(np.zeros((1, 1), np.uint8), "PNG"))
    at = data.index(b"IHDR")
    data[at + 4:at + 12] = struct.pack(">II", 40_000, 40_000)
    data[at + 17:at + 21] = struct.pack(">I", zlib.crc32(bytes(data[at:at + 17])))
    return bytes(data)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are expected here


class Handler(http.server.BaseHTTPRequestHandler):
    jpeg = encode(np.random.default_rng(99).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    rgb = np.random.default_rng(7).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    bodies = {
        "/good.jpg": ("image/jpeg", jpeg),
        "/png-as-text": ("text/plain", picture(1)),  # valid image, wrong type: accepted
        "/no-type.png": (None, picture(2)),
        "/cmyk.jpg": ("image/jpeg", encode(rgb, "JPEG", "CMYK")),
        "/grey16.png": ("image/png", encode((np.arange(400).reshape(20, 20) * 160)
                                            .astype(np.uint16), "PNG")),
        "/rgba.png": ("image/png", encode(np.dstack([rgb, np.full((20, 20), 128, np.uint8)]),
                                          "PNG")),
        "/html.jpg": ("text/html", b"<!doctype html><html><body>Sign in</body></html>"),
        "/text.jpg": ("image/jpeg", b"this is not a jpeg at all"),
        "/empty.jpg": ("image/jpeg", b""),
        "/truncated.jpg": ("image/jpeg", jpeg[: len(jpeg) // 2]),
        "/bomb.png": ("image/png", bomb_png()),
    }

    def log_message(self, *args):
        pass

    def send_body(self, body, ctype="image/jpeg", code=200, length=True):
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.hits[self.path] += 1
            hits = srv.hits[self.path]
        path, _, query = self.path.partition("?")
        if path in self.bodies:
            ctype, body = self.bodies[path]
            return self.send_body(body, ctype)
        if path.startswith("/img/"):  # /img/<n>.png[?delay=seconds]: distinct pictures
            if query.startswith("delay="):
                time.sleep(float(query[6:]))
            return self.send_body(picture(int(path[5:].split(".")[0])), "image/png")
        if path == "/flaky.jpg":  # 500, then 503, then the image
            if hits <= 2:
                return self.send_body(b"busy", "text/plain", 500 if hits == 1 else 503)
            return self.send_body(self.jpeg)
        if path == "/down.jpg":
            return self.send_body(b"down", "text/plain", 503)
        if path == "/slow.jpg":  # no answer within the client's timeout
            time.sleep(3.0)
            return self.send_body(self.jpeg)
        if path == "/trickle.jpg":  # answers at once, then dribbles the body
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.jpeg)))
            self.end_headers()
            for i in range(0, len(self.jpeg), 50):
                self.wfile.write(self.jpeg[i:i + 50])
                time.sleep(0.1)
            return None
        if path == "/big-header.jpg":  # announces too much: refused before reading
            return self.send_body(b"\0" * (LIMIT + 1))
        if path == "/big-body.jpg":  # announces nothing, streams too much
            self.send_response(200)
            self.end_headers()
            for _ in range(LIMIT // 10_000 + 5):
                self.wfile.write(b"\xff" * 10_000)
            return None
        if path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return None
        if path == "/to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/x.jpg")
            self.end_headers()
            return None
        if path == "/to-good":
            self.send_response(301)
            self.send_header("Location", "/good.jpg")
            self.end_headers()
            return None
        return self.send_body(b"not found", "text/plain", 404)


@pytest.fixture
def server():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.hits = collections.Counter()
    srv.lock = threading.Lock()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


FAST = dict(workers=4, timeout=1.0, retries=2, backoff=0.01, max_bytes=LIMIT)


def test_every_bad_case_is_recorded_with_its_reason(server, tmp_path):
    u = server.url
    expect = {  # path -> (status, words in the reason)
        "/good.jpg": ("ok", None),
        "/png-as-text": ("ok", None),
        "/no-type.png": ("ok", None),
        "/cmyk.jpg": ("ok", None),
        "/grey16.png": ("ok", None),
        "/rgba.png": ("ok", None),
        "/to-good": ("ok", None),
        "/flaky.jpg": ("ok", None),
        "/html.jpg": ("rejected", "not an image"),
        "/text.jpg": ("rejected", "not an image"),
        "/empty.jpg": ("rejected", "empty"),
        "/truncated.jpg": ("rejected", "truncated"),
        "/bomb.png": ("rejected", "decompression bomb"),
        "/missing.jpg": ("rejected", "HTTP 404"),
        "/big-header.jpg": ("rejected", "too large"),
        "/big-body.jpg": ("rejected", "too large"),
        "/loop": ("rejected", "redirect loop"),
        "/to-ftp": ("rejected", "non-http"),
        "/down.jpg": ("failed", "HTTP 503"),
        "/slow.jpg": ("failed", "timed out"),
        "/trickle.jpg": ("failed", "timed out"),
    }
    urls = [u + p for p in expect] + ["ftp://127.0.0.1/a.jpg", "file:///etc/hostname",
                                      "not a url"]
    lines = [f"{url} Person {i}" for i, url in enumerate(urls)]
    (tmp_path / "urls.txt").write_text("# a comment\n\n" + "\n".join(lines) + "\n")
    counts = download(tmp_path / "urls.txt", tmp_path / "work", **FAST)
    latest = Manifest(tmp_path / "work").latest("download")
    assert len(latest) == len(urls) and sum(counts.values()) == len(urls)
    for path, (status, why) in expect.items():
        rec = latest[u + path]
        assert rec["status"] == status, (path, rec)
        if why:
            assert why in rec["reason"], (path, rec["reason"])
    for url in ("ftp://127.0.0.1/a.jpg", "file:///etc/hostname", "not"):
        assert "scheme" in latest[url]["reason"] and latest[url]["status"] == "rejected"
    # Retries: 500 then 503 then success is three requests; a 404 is asked for once;
    # a server that stays down is asked 1 + retries times.
    assert latest[u + "/flaky.jpg"]["attempts"] == 3 and server.hits["/flaky.jpg"] == 3
    assert server.hits["/missing.jpg"] == 1 and server.hits["/down.jpg"] == 3
    # Saved files are named by their content's hash and hold exactly what was served.
    rec = latest[u + "/good.jpg"]
    assert rec["name"] == "Person 0"
    saved = tmp_path / "work" / rec["file"]
    assert saved.name == hashlib.sha256(Handler.jpeg).hexdigest() + ".jpg"
    assert saved.read_bytes() == Handler.jpeg
    # Same content from three URLs (a redirect, a flaky server): one file.
    assert latest[u + "/to-good"]["file"] == latest[u + "/flaky.jpg"]["file"] == rec["file"]
    assert latest[u + "/png-as-text"]["file"].endswith(".png")
    files = sorted(p.name for p in (tmp_path / "work" / "images").iterdir())
    assert len(files) == 6 and all(len(Path(f).stem) == 64 for f in files)
    for f in files:
        assert load_rgb(tmp_path / "work" / "images" / f).dtype == np.uint8


def test_rerun_skips_recorded_urls_and_can_retry_transient_failures(server, tmp_path):
    urls = [(server.url + p, "") for p in ("/good.jpg", "/missing.jpg", "/down.jpg")]
    download(urls, tmp_path, **FAST)
    before = dict(server.hits)
    download(urls, tmp_path, **FAST)
    assert dict(server.hits) == before  # nothing fetched again
    download(urls, tmp_path, retry_failed=True, **FAST)
    assert server.hits["/down.jpg"] == 2 * before["/down.jpg"]
    assert server.hits["/good.jpg"] == 1 and server.hits["/missing.jpg"] == 1


def test_url_list_parsing(tmp_path):
    f = tmp_path / "urls.txt"
    f.write_text("http://a/1.jpg  Ada   Lovelace\n# skip\n\nhttp://b/2.jpg\n"
                 "http://a/1.jpg again\nhttp://c/3.jpg\tAlan Turing\n")
    assert read_url_list(f) == [("http://a/1.jpg", "Ada Lovelace"), ("http://b/2.jpg", ""),
                                ("http://c/3.jpg", "Alan Turing")]
    with pytest.raises(FileNotFoundError, match="URL list not found"):
        read_url_list(tmp_path / "nope.txt")


def _start_cli(url_file, work):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "data_prep", "download", str(url_file), "--work", str(work),
         "--workers", "2", "--retries", "0", "--timeout", "5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _interrupt_after(proc, manifest: Path, n_records: int, sig):
    deadline = time.time() + 30
    while time.time() < deadline:
        if manifest.exists() and manifest.read_text().count("\n") >= n_records:
            break
        time.sleep(0.01)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_interrupted_run_resumes_losing_nothing(server, tmp_path, sig):
    n = 30
    urls = [f"{server.url}/img/{i}.png?delay=0.1" for i in range(n)]
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    work = tmp_path / "work"
    proc = _interrupt_after(_start_cli(tmp_path / "urls.txt", work), work / "manifest.jsonl",
                            5, sig)
    done_first = Manifest(work).latest("download")
    assert 5 <= len(done_first) < n  # really interrupted part-way
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert b"interrupted" in proc.stderr.read()
    download(tmp_path / "urls.txt", work, workers=2, timeout=5, retries=0)
    latest = Manifest(work).latest("download")
    assert [latest[u]["status"] for u in urls] == ["ok"] * n
    for i, u in enumerate(urls):
        path = work / latest[u]["file"]
        assert path.read_bytes() == picture(i)
    repeats = sum(server.hits[f"/img/{i}.png?delay=0.1"] - 1 for i in range(n))
    if sig == signal.SIGINT:
        assert repeats == 0  # in-flight requests were finished and recorded
    else:
        # kill -9: only what was in flight (at most 4 x workers requests) is asked again.
        assert repeats <= 8
