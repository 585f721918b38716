"""An HTTP(S) GET in which every byte and every second is bounded, redirects included.

One deadline of `timeout` seconds covers connecting, a proxy's CONNECT exchange, the TLS
handshake, sending, every redirect hop's headers and the body: each wait for the network is
given only the time left, so a server that trickles bytes cannot stretch it. At most
MAX_REDIRECTS redirects are followed, to http or https only, and their bodies are never
read; each response may bring HEAD_BYTES of status line and headers, and a body of
max_bytes; every connection is closed. Only the host name lookup is left to the system
resolver's own timeout. The environment's http_proxy /
https_proxy / no_proxy are honoured (a proxy's own credentials are not sent).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import math
import numbers
import random
import select
import socket
import ssl
import time
import urllib.parse
import urllib.request
from typing import NamedTuple

from dcgan_tf.config import InputError

USER_AGENT = "dcgan-tf-data-prep/0.1 (course kit; +https://github.com/dcgan-tf/dcgan-tf)"
SCHEMES = ("http", "https")
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
REDIRECT_STATUS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
HEAD_BYTES = 64 * 1024  # status line and headers of one response (http.client allows 6 MB)
# Left as they are in a request target; everything else (spaces, non-ASCII) is %-escaped.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


class Rejected(Exception):
    """A URL that will not give an image; `retryable` if trying later might succeed."""

    def __init__(self, reason: str, retryable: bool = False):
        super().__init__(reason)
        self.retryable = retryable


# Each argument's kind and allowed range, as check_args states them.
_RULES = {
    "workers": (numbers.Integral, lambda v: v >= 1, "an integer >= 1"),
    "max_bytes": (numbers.Integral, lambda v: v >= 1, "an integer >= 1"),
    "max_pixels": (numbers.Integral, lambda v: v >= 1, "an integer >= 1"),
    "retries": (numbers.Integral, lambda v: v >= 0, "an integer >= 0"),
    "timeout": (numbers.Real, lambda v: 0 < v < math.inf, "a finite number > 0"),
    "backoff": (numbers.Real, lambda v: 0 <= v < math.inf, "a finite number >= 0"),
}


def check_args(**args) -> None:
    """Raise ValueError naming the first argument out of range, e.g. retries=-1."""
    for name, value in args.items():
        kind, ok, rule = _RULES[name]
        if isinstance(value, bool) or not isinstance(value, kind) or not ok(value):
            raise InputError(f"{name}={value!r} must be {rule}")


class _Budget:
    """What one URL may still take: seconds until its deadline, and bytes to receive."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.bytes_left, self.what = 0, ""

    def seconds_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"deadline of {self.seconds:g} s passed")
        return left

    def allow(self, n: int, what: str) -> None:
        self.bytes_left, self.limit, self.what = n, n, what

    def take(self, n: int) -> None:
        self.bytes_left -= n
        if self.bytes_left < 0:
            raise Rejected(f"too large: {self.what} exceed {self.limit:,} bytes")


class _BoundedSocket:
    """A connected socket whose every send and receive must end by the URL's deadline.

    A socket timeout alone bounds only the gaps between bytes: a server sending one byte a
    second would hold the request for ever. Here the timeout is reset to the time left
    before each call, and every byte received is charged to the budget.
    """

    def __init__(self, sock, budget: _Budget):
        self._sock, self._budget = sock, budget

    def recv_into(self, buffer, *args):
        self._sock.settimeout(self._budget.seconds_left())
        n = self._sock.recv_into(buffer, *args)
        self._budget.take(n)
        return n

    def sendall(self, data, *args):
        self._sock.settimeout(self._budget.seconds_left())
        return self._sock.sendall(data, *args)

    def makefile(self, *args, **kwargs):
        # As socket.makefile, reading through recv_into above. The reference count lets
        # http.client close the connection while the response is still being read.
        self._sock._io_refs += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"))

    def _decref_socketios(self):
        self._sock._decref_socketios()

    def close(self):
        self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _Bounded:
    """Mixin for http.client connections: connect and talk within a _Budget."""

    def __init__(self, host: str, port: int, budget: _Budget):
        super().__init__(host, port, timeout=budget.seconds_left())
        self.budget = budget
        self._create_connection = self._connect_in_time

    def _connect_in_time(self, address, timeout=None, source_address=None):
        # socket.create_connection gives each address of the host the whole timeout.
        err = OSError(f"{address[0]}: no address to connect to")
        for family, kind, proto, _, addr in socket.getaddrinfo(*address,
                                                               type=socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.budget.seconds_left())
                sock.connect(addr)
                return sock
            except OSError as e:
                sock.close()
                err = e
        raise err

    def connect(self):
        # Not http.client's connect: it talks to a proxy (CONNECT) on the raw socket, whose
        # timeout bounds only the gap between bytes.
        sock = self._connect_in_time((self.host, self.port))
        with contextlib.suppress(OSError):  # as http.client: fewer small-packet delays
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = _BoundedSocket(sock, self.budget)
        if self._tunnel_host:
            self.budget.allow(HEAD_BYTES, "the proxy's answer to CONNECT")
            self._tunnel()


class _Http(_Bounded, http.client.HTTPConnection):
    pass


class _Https(_Bounded, http.client.HTTPSConnection):
    def connect(self):
        super().connect()
        tls = self._context.wrap_socket(self.sock._sock, do_handshake_on_connect=False,
                                        server_hostname=self._tunnel_host or self.host)
        self.sock = _BoundedSocket(tls, self.budget)
        _handshake(tls, self.budget)


def _handshake(tls: ssl.SSLSocket, budget: _Budget) -> None:
    """The TLS handshake, waiting for each of its reads and writes only until the deadline."""
    tls.setblocking(False)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            ready = select.select([tls], [], [], budget.seconds_left())[0]
        except ssl.SSLWantWriteError:
            ready = select.select([], [tls], [], budget.seconds_left())[1]
        if not ready:
            raise TimeoutError(f"deadline of {budget.seconds:g} s passed in the TLS handshake")
    tls.setblocking(True)  # _BoundedSocket sets a timeout before each later call


class _Url(NamedTuple):
    scheme: str
    host: str
    port: int
    target: str  # what the request line asks for: path and query, %-escaped

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = self.port == (443 if self.scheme == "https" else 80)
        return f"{self.scheme}://{host}" + ("" if default else f":{self.port}")


def _split(url: str) -> _Url:
    """The parts of an http(s) URL needed to fetch it; Rejected if it is not one."""
    try:
        parts = urllib.parse.urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError as err:
        raise Rejected(f"invalid URL: {err}") from None
    if scheme not in SCHEMES:
        raise Rejected(f"unsupported URL scheme {scheme + '://' if scheme else '(none)'}"
                       " (only http and https)")
    try:
        if not host or not host.encode("idna"):
            raise UnicodeError
    except UnicodeError:
        raise Rejected(f"invalid URL: no usable host name in {url!r}") from None
    target = urllib.parse.quote(parts.path or "/", safe=_URL_SAFE)
    if parts.query:
        target += "?" + urllib.parse.quote(parts.query, safe=_URL_SAFE)
    return _Url(scheme, host, port or (443 if scheme == "https" else 80), target)


def _connection(url: _Url, budget: _Budget):
    """(connection, request target) for one hop, through the environment's proxy if any."""
    proxy = urllib.request.getproxies().get(url.scheme)
    if not proxy or urllib.request.proxy_bypass(url.host):
        return (_Https if url.scheme == "https" else _Http)(url.host, url.port, budget), \
            url.target
    p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if url.scheme == "http":  # a plain proxy is sent the whole URL
        return _Http(p.hostname, p.port or 80, budget), url.origin + url.target
    conn = _Https(p.hostname, p.port or 80, budget)  # TLS inside a CONNECT tunnel
    conn.set_tunnel(url.host, url.port)
    return conn, url.target


def _next_url(url: str, resp) -> str:
    """Where a redirect points: an absolute http(s) URL, or Rejected."""
    location = resp.getheader("Location")
    if not location:
        raise Rejected(f"HTTP {resp.status} redirect without a Location")
    new = urllib.parse.urljoin(url, location.strip())
    try:
        scheme = urllib.parse.urlsplit(new).scheme.lower()
    except ValueError as err:
        raise Rejected(f"redirect to an invalid URL: {err}") from None
    if scheme not in SCHEMES:
        raise Rejected(f"redirect to a non-http URL ({scheme}://)")
    return new


def _read_body(resp, budget: _Budget, max_bytes: int) -> bytes:
    length = resp.getheader("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise Rejected(f"too large: Content-Length {int(length):,} > {max_bytes:,} bytes")
    budget.allow(max_bytes + HEAD_BYTES, "body and its framing")
    chunks, size = [], 0
    while chunk := resp.read1(64 * 1024):  # whatever has arrived: read() would wait
        size += len(chunk)
        if size > max_bytes:
            raise Rejected(f"too large: body exceeds {max_bytes:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _get(url: str, budget: _Budget, max_bytes: int) -> tuple[str | None, bytes | None]:
    """One hop: (next URL, None) for a redirect, else (None, body). Closes what it opens."""
    conn, target = _connection(_split(url), budget)
    try:
        conn.request("GET", target, headers={"User-Agent": USER_AGENT, "Accept": "image/*",
                                              "Connection": "close"})
        budget.allow(HEAD_BYTES, "status line and headers")
        resp = conn.getresponse()
        try:
            if resp.status in REDIRECT_STATUS:
                return _next_url(url, resp), None  # its body is never read
            if not 200 <= resp.status < 300:
                raise Rejected(f"HTTP {resp.status} {resp.reason}",
                               resp.status in RETRY_STATUS)
            return None, _read_body(resp, budget, max_bytes)
        finally:
            resp.close()
    finally:
        conn.close()


def fetch_once(url: str, timeout: float, max_bytes: int) -> bytes:
    """One GET, redirects included, within `timeout` seconds in all and the byte bounds.

    Raises Rejected; any other exception is a bug.
    """
    budget, seen = _Budget(timeout), {url}
    try:
        for _ in range(MAX_REDIRECTS + 1):
            new, body = _get(url, budget, max_bytes)
            if new is None:
                return body
            if new in seen:
                raise Rejected(f"redirect loop (back to {new})")
            seen.add(new)
            url = new
        raise Rejected(f"too many redirects (more than {MAX_REDIRECTS})")
    except TimeoutError:
        raise Rejected(f"timed out after {timeout:g} s", retryable=True) from None
    except ssl.SSLCertVerificationError as err:
        raise Rejected(f"TLS certificate rejected: {err.verify_message}") from None
    except http.client.InvalidURL as err:
        raise Rejected(f"invalid URL: {err}") from None
    except (http.client.HTTPException, OSError) as err:
        # Socket-level trouble and broken answers may pass with time.
        raise Rejected(f"connection failed: {type(err).__name__}: {err}", True) from None


def fetch(url: str, *, timeout: float = 20.0, max_bytes: int = 20_000_000, retries: int = 3,
          backoff: float = 1.0) -> tuple[bytes, int]:
    """GET with retries on transient failures, waiting backoff * 2**attempt (+ jitter).

    Returns (body, attempts); raises Rejected with the last reason and the attempt count.
    """
    check_args(timeout=timeout, max_bytes=max_bytes, retries=retries, backoff=backoff)
    for attempt in range(retries + 1):
        try:
            return fetch_once(url, timeout, max_bytes), attempt + 1
        except Rejected as err:
            if not err.retryable or attempt == retries:
                err.attempts = attempt + 1
                raise
            time.sleep(backoff * 2**attempt * (1.0 + 0.25 * random.random()))
    raise AssertionError("unreachable")
