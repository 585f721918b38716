"""Every byte and second a URL may take is bounded: headers, redirect hops and bodies.

The servers here misbehave without end (endless bodies, headers one byte at a time) until
the client hangs up, and record that they saw it hang up; they stop on their own only after
a very generous bound, so that a client without bounds fails the test instead of hanging it.
"""

import gc
import hashlib
import http.server
import socket
import socketserver
import threading

import pytest
from test_data_prep_download import Handler as ImageHandler  # tests/ is on sys.path

from data_prep import fetch
from data_prep.download import download
from data_prep.manifest import Manifest

JPEG = ImageHandler.jpeg
ENDLESS = 64 * 2**20  # what an "endless" body stops at: far beyond every bound below
TRICKLE_GAP = 0.2  # seconds between header bytes: well inside any socket timeout used here
TRICKLE_BYTES = 150  # a trickle stops on its own after 30 s: a client without a deadline


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up mid-answer are the point here


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps a connection open until the client closes it

    def log_message(self, *args):
        pass

    def raw(self, text: str):
        self.wfile.write(text.replace("\n", "\r\n").encode("latin-1"))

    def hung_up(self, what: str):
        """Wait (at most a generous minute) for the client to close; record it if it does."""
        self.connection.settimeout(60)
        try:
            if self.connection.recv(1) == b"":
                self.server.saw[what].set()
        except OSError:  # a reset is a hang-up too
            self.server.saw[what].set()

    def do_GET(self):
        path = self.path
        if path == "/image.jpg":
            self.raw(f"HTTP/1.1 200 OK\nContent-Length: {len(JPEG)}\n\n")
            self.wfile.write(JPEG)
        elif path.startswith("/chain/"):  # /chain/<k>: k redirects, then the image
            k = int(path[7:])
            self.raw(f"HTTP/1.1 302 Found\nLocation: /chain/{k - 1}\nContent-Length: 0\n\n"
                     if k else f"HTTP/1.1 200 OK\nContent-Length: {len(JPEG)}\n\n")
            if not k:
                self.wfile.write(JPEG)
        elif path == "/redirect-endless-body":  # a 302 whose body never ends
            self.raw("HTTP/1.1 302 Found\nLocation: /image.jpg\nConnection: close\n\n")
            chunk = b"x" * 2**16
            try:
                for _ in range(ENDLESS // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                self.server.saw["redirect body refused"].set()
            self.close_connection = True
        elif path == "/trickle-headers":  # one header byte at a time, until the client goes
            self.raw("HTTP/1.1 200 OK\nX-Slow: ")
            self.connection.settimeout(TRICKLE_GAP)
            for _ in range(TRICKLE_BYTES):
                try:
                    if self.connection.recv(1) == b"":
                        self.server.saw["trickle hung up"].set()
                        break
                except socket.timeout:
                    self.wfile.write(b"a")
                except OSError:
                    self.server.saw["trickle hung up"].set()
                    break
            self.close_connection = True
        elif path == "/to-ftp":  # a redirect the client must refuse, then hang up on
            self.raw("HTTP/1.1 302 Found\nLocation: ftp://127.0.0.1/x.jpg\nContent-Length: 0"
                     "\n\n")
            self.hung_up("ftp redirect closed")
            self.close_connection = True
        elif path == "/big-headers":  # 80 KB of headers (http.client itself allows 6 MB)
            head = "".join(f"X-Filler-{i}: {'y' * 2000}\n" for i in range(40))
            self.raw(f"HTTP/1.1 200 OK\n{head}Content-Length: {len(JPEG)}\n\n")
            self.wfile.write(JPEG)
        else:
            self.raw("HTTP/1.1 404 Not Found\nContent-Length: 0\n\n")


@pytest.fixture
def server():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.saw = {k: threading.Event() for k in ("redirect body refused", "trickle hung up",
                                              "ftp redirect closed")}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def fetch_all(server, tmp_path, paths, **kw):
    args = dict(workers=1, timeout=60.0, retries=0, backoff=0.0, max_bytes=200_000)
    urls = [(server.url + p, "") for p in paths]
    counts = download(urls, tmp_path, **{**args, **kw})
    latest = Manifest(tmp_path).latest("download")
    return counts, [latest[u] for u, _ in urls]


def test_a_redirect_body_is_never_read(server, tmp_path):
    _, (rec,) = fetch_all(server, tmp_path, ["/redirect-endless-body"])
    assert rec["status"] == "ok", rec  # the redirect was followed...
    assert rec["sha256"] == hashlib.sha256(JPEG).hexdigest()
    # ...and its body refused: the server could not send it all (urllib read it to the end).
    assert server.saw["redirect body refused"].wait(30)


def test_headers_trickled_a_byte_at_a_time_end_at_the_deadline(server, tmp_path):
    # download() returning at all means its worker was freed: without a deadline on the
    # headers it would wait for the server's generous bound (30 s) and then fail below.
    _, (rec,) = fetch_all(server, tmp_path, ["/trickle-headers"], timeout=1.5)
    assert rec["status"] == "failed" and "timed out" in rec["reason"], rec
    assert server.saw["trickle hung up"].wait(30)  # the client hung up; it did not wait


def test_redirects_are_followed_at_most_five_times(server, tmp_path):
    assert fetch.MAX_REDIRECTS == 5  # the documented bound
    _, recs = fetch_all(server, tmp_path, ["/chain/5", "/chain/6", "/chain/10"])
    assert recs[0]["status"] == "ok"
    for rec in recs[1:]:
        assert rec["status"] == "rejected" and "too many redirects" in rec["reason"], rec


def test_a_redirect_to_another_scheme_is_refused_and_its_response_closed(server, tmp_path):
    gc.disable()  # a response left open must not be rescued by the garbage collector
    try:
        _, (rec,) = fetch_all(server, tmp_path, ["/to-ftp"])
        assert rec["status"] == "rejected" and "non-http" in rec["reason"], rec
        assert server.saw["ftp redirect closed"].wait(30)
    finally:
        gc.enable()


def test_headers_are_capped_in_size(server, tmp_path):
    _, (rec,) = fetch_all(server, tmp_path, ["/big-headers"])
    assert rec["status"] == "rejected" and "too large" in rec["reason"], rec
    assert "headers" in rec["reason"]


class TrickleTLS(socketserver.BaseRequestHandler):
    """Answers whatever the client sends (a ClientHello, a CONNECT) with the start of a TLS
    record that claims 16 KB, then one byte every TRICKLE_GAP, until the client hangs up."""

    def handle(self):
        sock, sent = self.request, 0
        sock.settimeout(TRICKLE_GAP)
        record = b"\x16\x03\x03\x40\x00" + b"\x00" * TRICKLE_BYTES
        while sent < len(record):
            try:
                if sock.recv(4096) == b"":
                    self.server.hung_up.set()
                    return
            except socket.timeout:
                sock.sendall(record[sent:sent + 1])
                sent += 1
            except OSError:
                self.server.hung_up.set()
                return


@pytest.fixture
def trickle_tls():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), TrickleTLS)
    srv.daemon_threads, srv.hung_up = True, threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("route", ["direct", "proxy CONNECT"])
def test_a_tls_handshake_trickled_a_byte_at_a_time_ends_at_the_deadline(
        trickle_tls, route, monkeypatch):
    port = trickle_tls.server_address[1]
    if route == "direct":
        url = f"https://127.0.0.1:{port}/x.jpg"
    else:  # the server plays a proxy that trickles its answer to CONNECT
        url = "https://photos.example.invalid/x.jpg"
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    # Without a deadline on the handshake the client would wait out the whole trickle
    # (30 s) and then fail on the closed connection, not on time.
    with pytest.raises(fetch.Rejected, match="timed out") as err:
        fetch.fetch_once(url, timeout=1.5, max_bytes=1000)
    assert err.value.retryable
    assert trickle_tls.hung_up.wait(30)  # the client hung up; it did not wait
