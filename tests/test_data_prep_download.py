"""data_prep download against a local HTTP server on 127.0.0.1 serving good and bad cases.

Nothing here races a server's delays against the client: slow answers wait on an event that
is set only when the test ends, and the interrupt test lets requests through a gate one by
one, so it knows exactly what was served when it interrupts.
"""

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
import urllib.parse
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import download as download_module
from data_prep.decode import load_rgb
from data_prep.download import _save, download, read_url_list
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
        path = urllib.parse.urlsplit(self.path).path  # a proxy is sent the whole URL
        if path in self.bodies:
            ctype, body = self.bodies[path]
            return self.send_body(body, ctype)
        if path.startswith("/same-"):  # /same-<anything>: the one JPEG under many names
            return self.send_body(self.jpeg)
        if path.startswith("/gate/"):  # /gate/<n>.png: a distinct picture, once let through
            srv.gate.acquire()
            return self.send_body(picture(int(path[6:].split(".")[0])), "image/png")
        if path == "/flaky.jpg":  # 500, then 503, then the image
            if hits <= 2:
                return self.send_body(b"busy", "text/plain", 500 if hits == 1 else 503)
            return self.send_body(self.jpeg)
        if path == "/down.jpg":
            return self.send_body(b"down", "text/plain", 503)
        if path == "/slow.jpg":  # no answer until the test is over
            srv.finished.wait()
            return self.send_body(self.jpeg)
        if path == "/trickle.jpg":  # answers at once, then dribbles a body that never ends
            self.send_response(200)
            self.end_headers()
            while not srv.finished.is_set():
                self.wfile.write(b"\xff" * 50)  # fails once the client has hung up
                srv.finished.wait(0.05)  # far below the client's timeout: never idle
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
    srv.gate = threading.Semaphore(0)  # /gate/ requests wait for the test's permits
    srv.finished = threading.Event()  # set when the test ends: frees handlers still waiting
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.finished.set()
    srv.gate.release(10_000)
    srv.shutdown()
    srv.server_close()


# A timeout no healthy request comes near, even on a busy machine; the cases that must
# time out never answer, and only they get the short one.
FAST = dict(workers=4, timeout=60.0, retries=2, backoff=0.01, max_bytes=LIMIT)
NEVER_ANSWERED = {"/slow.jpg", "/trickle.jpg"}


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
    (tmp_path / "slow.txt").write_text("\n".join(u + p for p in NEVER_ANSWERED) + "\n")
    download(tmp_path / "slow.txt", tmp_path / "work", **{**FAST, "timeout": 1.0})
    counts = download(tmp_path / "urls.txt", tmp_path / "work", **FAST)
    latest = Manifest(tmp_path / "work").latest("download")
    assert len(latest) == len(urls) and sum(counts.values()) == len(urls)
    assert counts["failed"] == 3  # /down.jpg and the two that time out, not fetched again
    assert server.hits["/slow.jpg"] == server.hits["/trickle.jpg"] == 3  # 1 + 2 retries
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


def _wait_for(condition, what: str, proc=None, timeout: float = 60.0):
    # Waits for an event, not a race: the timeout only turns a hang into a failure.
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the CLI exited ({proc.returncode}) before {what}:\n"
                                 + proc.output.decode(errors="replace"))
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def _start_cli(url_file, work, workers):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    # A timeout far longer than the test waits: requests held at the gate never time out.
    # A Ctrl-C must reach the CLI as a user's would, whatever the test runner inherited: a
    # job started with `&` from a script (CI harnesses do this) ignores SIGINT, and Python
    # keeps an inherited "ignore", so the CLI would never see the signal.
    proc = subprocess.Popen(
        [sys.executable, "-m", "data_prep", "download", str(url_file), "--work", str(work),
         "--workers", str(workers), "--retries", "0", "--timeout", "120"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.output = bytearray()

    def drain():  # read as it comes, so the test can wait for a line
        for line in proc.stdout:
            proc.output += line
    proc.reader = threading.Thread(target=drain, daemon=True)
    proc.reader.start()
    return proc


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_interrupted_run_resumes_losing_nothing(server, tmp_path, sig):
    n, first, workers = 30, 5, 2
    urls = [f"{server.url}/gate/{i}.png" for i in range(n)]
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    work = tmp_path / "work"
    manifest = work / "manifest.jsonl"

    def arrived():
        with server.lock:
            return sum(server.hits.values())

    proc = _start_cli(tmp_path / "urls.txt", work, workers)
    try:
        server.gate.release(first)  # exactly `first` answers...
        _wait_for(lambda: _lines(manifest) >= first and arrived() == first + workers,
                  f"{first} records and {workers} requests waiting at the gate", proc)
        assert _lines(manifest) == first  # ...and `workers` requests in flight, held
        proc.send_signal(sig)
        if sig == signal.SIGINT:  # only once the CLI has stopped taking new work...
            _wait_for(lambda: b"interrupted" in proc.output, "the CLI to see the Ctrl-C",
                      proc)
        server.gate.release(10_000)  # ...do the requests in flight get their answers
        proc.wait(timeout=60)
    finally:
        proc.kill()
    proc.reader.join(timeout=60)
    done_first = Manifest(work).latest("download")
    in_flight = workers if sig == signal.SIGINT else 0  # finished and recorded, or lost
    assert len(done_first) == first + in_flight
    assert all(r["status"] == "ok" for r in done_first.values())
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert b"interrupted" in proc.output
    download(tmp_path / "urls.txt", work, workers=workers, timeout=120, retries=0)
    latest = Manifest(work).latest("download")
    assert [latest[u]["status"] for u in urls] == ["ok"] * n
    for i, u in enumerate(urls):
        path = work / latest[u]["file"]
        assert path.read_bytes() == picture(i)
    repeats = sum(server.hits[f"/gate/{i}.png"] - 1 for i in range(n))
    # Ctrl-C: in-flight requests were finished and recorded, nothing is asked twice;
    # kill -9: exactly the requests in flight are asked again.
    assert repeats == (0 if sig == signal.SIGINT else workers)
    assert all(server.hits[f"/gate/{i}.png"] >= 1 for i in range(n))


def _pause_first_rename(monkeypatch):
    """The first os.replace waits until a second one has finished: two savers interleaved.

    This is the order that broke a shared temp name: A writes its temp file, B writes the
    same temp name and renames it, then A's rename finds its temp file gone.
    """
    real_replace, calls, second_done = os.replace, [], threading.Event()

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 1:
            assert second_done.wait(60), "no second save came"
            return real_replace(src, dst)
        real_replace(src, dst)
        second_done.set()
        return None

    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_two_savers_of_the_same_bytes_both_succeed(tmp_path, monkeypatch):
    calls = _pause_first_rename(monkeypatch)
    data = Handler.jpeg
    out = {}

    def save(who):
        try:
            out[who] = _save(data, tmp_path, ".jpg")
        except Exception as err:  # noqa: BLE001 - the failure under test
            out[who] = err

    a = threading.Thread(target=save, args=("a",))
    a.start()
    _wait_for(lambda: calls, "the first save to reach its rename")
    save("b")
    a.join(timeout=60)
    digest = hashlib.sha256(data).hexdigest()
    assert out["a"] == out["b"] == (digest, tmp_path / f"{digest}.jpg")
    assert len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == [f"{digest}.jpg"]  # no temp file left
    assert (tmp_path / f"{digest}.jpg").read_bytes() == data


def test_two_urls_serving_identical_bytes_are_both_recorded_ok(server, tmp_path,
                                                                monkeypatch):
    calls = _pause_first_rename(monkeypatch)
    urls = [(f"{server.url}/same-{k}.jpg", "") for k in "ab"]
    counts = download(urls, tmp_path, workers=2, timeout=60, retries=0)
    assert len(calls) == 2  # both saved at once, in the order that used to collide
    assert counts == {"ok": 2}
    latest = Manifest(tmp_path).latest("download")
    assert latest[urls[0][0]]["file"] == latest[urls[1][0]]["file"]
    assert (tmp_path / latest[urls[0][0]]["file"]).read_bytes() == Handler.jpeg


@pytest.mark.parametrize("arg, value", [
    ("workers", 0), ("timeout", 0), ("timeout", -1.0), ("timeout", float("nan")),
    ("max_bytes", 0), ("retries", -1), ("backoff", -1.0), ("max_pixels", 0)])
def test_download_refuses_bad_arguments_before_doing_anything(server, tmp_path, arg, value):
    urls = [(server.url + "/good.jpg", "")]
    with pytest.raises(ValueError, match=f"{arg}={value}"):
        download(urls, tmp_path / "work", **{**FAST, arg: value})
    assert not (tmp_path / "work").exists() and not server.hits


def test_a_bug_is_recorded_as_an_error_with_its_traceback_and_retried(server, tmp_path,
                                                                      monkeypatch, capsys):
    def broken(data, max_pixels):
        raise TypeError("a bug in the kit")

    monkeypatch.setattr(download_module, "check_bytes", broken)
    urls = [(server.url + "/good.jpg", ""), (server.url + "/missing.jpg", "")]
    counts = download(urls, tmp_path, **FAST)
    assert counts == {"error": 1, "rejected": 1}  # the 404 is still an ordinary rejection
    rec = Manifest(tmp_path).latest("download")[urls[0][0]]
    assert rec["status"] == "error" and rec["reason"] == "TypeError: a bug in the kit"
    assert "Traceback" in rec["traceback"] and "in broken" in rec["traceback"]
    assert "a bug in the kit" in capsys.readouterr().err  # shown, not only filed
    monkeypatch.undo()  # the bug fixed: a re-run tries the URL again, the 404 stays done
    assert download(urls, tmp_path, **FAST) == {"ok": 1, "rejected": 1}
    assert server.hits["/good.jpg"] == 2 and server.hits["/missing.jpg"] == 1


def test_fetch_through_the_environments_proxy(server, tmp_path, monkeypatch):
    # The server plays the proxy: a plain proxy is sent the whole URL.
    monkeypatch.setenv("http_proxy", server.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    url = "http://photos.example.invalid/same-via-proxy.jpg"
    assert download([(url, "")], tmp_path, **FAST) == {"ok": 1}
    assert server.hits[url] == 1
