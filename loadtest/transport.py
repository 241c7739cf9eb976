"""The one place that talks to websocket-client and to the socket.

We open the TCP connection and the TLS layer ourselves, so each phase is timed on its own and
each failure is classified precisely, then use websocket-client's handshake request builder,
response reader and frame codec. Known pitfalls of websocket-client, handled here:

* its pure-Python UTF-8 validation is very slow: frames are read with validation off and the
  session decodes text with ``bytes.decode`` (C speed) and counts bad UTF-8 itself;
* a socket timeout on every ``recv`` costs ~30% throughput: once open, the socket is blocking
  (gevent parks the reader) and deadlines live in the waiting request, not on the socket;
* a frame written half-way before a send timeout leaves the stream unusable: a send timeout
  ends the session as abnormal (``send_timeout``) instead of sending on;
* ``recv()`` drops the server's close code: we read frames and keep the close frame;
* its module-global cookie jar would replay one server's ``Set-Cookie`` to every virtual user:
  it is replaced by an empty jar and cookies are kept per session;
* it does not implement permessage-deflate: we never offer it.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie
from typing import Any

import gevent
from gevent.lock import BoundedSemaphore
from websocket import _handshake
from websocket._exceptions import (
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketTimeoutException,
)
from websocket._http import read_headers
from websocket._url import parse_url

from loadtest.config import SessionOptions
from loadtest.errors import ConnectionEnded, HandshakeFailure
from loadtest.frames import Frame, FrameParser, encode_frame
from loadtest.metrics.handshake import http_class

_SIOCOUTQ = 0x5411  # Linux: bytes not yet acknowledged by the peer in the send queue
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_RECV_CHUNK = 256 * 1024


class _NoCookieJar:
    """Stands in for websocket-client's process-global jar: cookies are kept per session."""

    def add(self, set_cookie: str | None) -> None:
        """Ignore: the session keeps its own cookies."""

    def set(self, set_cookie: str | None) -> None:
        """Ignore: the session keeps its own cookies."""

    def get(self, host: str) -> str:
        """Return no shared cookie."""
        return ""


_handshake.CookieJar = _NoCookieJar()  # type: ignore[assignment]


@dataclass(frozen=True)
class Handshake:
    """What a successful opening produced."""

    subprotocol: str | None
    set_cookies: dict[str, str]
    phases_us: dict[str, int]


def _us_since(start_ns: int) -> int:
    return (time.perf_counter_ns() - start_ns) // 1000


@lru_cache(maxsize=32)
def _tls_context(ca_file: str | None, cert: str | None, key: str | None, insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert:
        context.load_cert_chain(cert, key)
    return context


def classify(exc: BaseException) -> HandshakeFailure:
    """Map an exception raised while opening a session to a stable class, most specific first."""
    if isinstance(exc, HandshakeFailure):
        return exc
    if isinstance(exc, socket.gaierror):
        return HandshakeFailure("dns", "the host name did not resolve")
    if isinstance(exc, ConnectionRefusedError):
        return HandshakeFailure("refused", "connection refused")
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", 0)
        what = {
            62: "host name mismatch",
            64: "host name mismatch (IP address)",
            10: "certificate expired",
            18: "self-signed certificate",
        }.get(code, "self-signed or unknown issuer" if code in (19, 20, 21) else "certificate verify failed")
        return HandshakeFailure("tls", f"certificate verification failed: {what}")
    if isinstance(exc, ssl.SSLError):
        text = str(exc).upper()
        if "WRONG_VERSION_NUMBER" in text or "RECORD_LAYER" in text or "PACKET_LENGTH" in text:
            return HandshakeFailure("tls", "handshake failed: the port does not speak TLS")
        if isinstance(exc, ssl.SSLEOFError) or "UNEXPECTED_EOF" in text:
            return HandshakeFailure(
                "tls", "the server hung up during the TLS handshake: the port may not speak TLS"
            )
        return HandshakeFailure("tls", "handshake failed")
    if isinstance(exc, (TimeoutError, socket.timeout, gevent.Timeout, WebSocketTimeoutException)):
        return HandshakeFailure("timeout", "no answer within the connect timeout")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, WebSocketConnectionClosedException)):
        return HandshakeFailure("reset", "the server closed the connection during the handshake")
    if isinstance(exc, WebSocketException):
        return HandshakeFailure("protocol", "the answer to the upgrade is not valid HTTP")
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return HandshakeFailure("unreachable", "no route to the host")
    if isinstance(exc, OSError):
        return HandshakeFailure("error", f"socket error {errno.errorcode.get(exc.errno or 0, 'unknown')}")
    raise exc  # a bug of ours: let it surface


def _check_upgrade(headers: dict[str, str], key: str, subprotocols: tuple[str, ...]) -> str | None:
    """Validate a 101 answer; return the chosen subprotocol."""
    for name, want in (("upgrade", "websocket"), ("connection", "upgrade")):
        if want not in [v.strip().lower() for v in headers.get(name, "").split(",")]:
            raise HandshakeFailure(
                "protocol", f"101 without '{name.title()}: {want}': the proxy is not upgrading"
            )
    expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
    if headers.get("sec-websocket-accept", "").strip() != expected:
        raise HandshakeFailure("protocol", "wrong Sec-WebSocket-Accept")
    chosen = headers.get("sec-websocket-protocol")
    if subprotocols:
        if not chosen or chosen.strip().lower() not in [s.lower() for s in subprotocols]:
            raise HandshakeFailure("protocol", "subprotocol mismatch: the server picked none of ours")
        return chosen.strip()
    if chosen:
        raise HandshakeFailure("protocol", "subprotocol mismatch: the server picked one we did not offer")
    return None


def _cookies_from(headers: dict[str, str]) -> dict[str, str]:
    raw = headers.get("set-cookie")
    if not raw:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def open_connection(
    url: str,
    options: SessionOptions,
    *,
    headers: dict[str, str],
    cookies: dict[str, str],
    source_ip: str = "",
) -> tuple[Connection, Handshake]:
    """Open a WebSocket connection, timing TCP, TLS and upgrade; raise a classified failure."""
    hostname, port, resource, secure = parse_url(url)
    sock: socket.socket | None = None
    phases: dict[str, int] = {}
    started = time.perf_counter_ns()
    try:
        with gevent.Timeout(options.connect_timeout_s, TimeoutError):
            family, kind, proto, _, address = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if options.sndbuf_bytes:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, options.sndbuf_bytes)
            if source_ip:
                sock.bind((source_ip, 0))
            phase = time.perf_counter_ns()
            sock.connect(address)
            phases["connect_tcp"] = _us_since(phase)
            if secure:
                phase = time.perf_counter_ns()
                context = _tls_context(
                    options.ca_file, options.client_cert, options.client_key, options.insecure
                )
                sock = context.wrap_socket(sock, server_hostname=hostname)
                phases["connect_tls"] = _us_since(phase)
            phase = time.perf_counter_ns()
            request_options: dict[str, Any] = {"header": headers, "subprotocols": list(options.subprotocols)}
            if options.origin is not None:
                request_options["origin"] = options.origin
            if cookies:
                request_options["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            lines, key = _handshake._get_handshake_headers(resource, url, hostname, port, request_options)
            sock.sendall("\r\n".join(lines).encode("utf-8"))
            status, response_headers, _ = read_headers(sock)
            if status != 101:
                raise HandshakeFailure(
                    http_class(status), "the server answered the upgrade with this HTTP status"
                )
            subprotocol = _check_upgrade(response_headers, key, options.subprotocols)
            phases["connect_upgrade"] = _us_since(phase)
    except BaseException as exc:
        if sock is not None:
            sock.close()
        if isinstance(exc, (gevent.GreenletExit, KeyboardInterrupt, SystemExit)):
            raise
        raise classify(exc) from exc
    phases["connect"] = _us_since(started)
    sock.settimeout(None)  # deadlines live in the waiting request, never on the hot recv path
    return Connection(sock, options.send_timeout_s), Handshake(
        subprotocol, _cookies_from(response_headers), phases
    )


class Connection:
    """An open WebSocket stream: frames out under one lock, frames in from one buffered reader."""

    __slots__ = ("_sock", "_fd", "_raw", "_send_timeout_s", "_lock", "_parser", "broken")

    def __init__(self, sock: socket.socket, send_timeout_s: float) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        # gevent keeps the OS socket non-blocking in ``_sock``: try it first, and only wait (with
        # a timer) when the kernel queue is full. Never for TLS, whose bytes must go through SSL.
        tls = isinstance(sock, ssl.SSLSocket) or hasattr(sock, "_sslobj")
        self._raw: Any = None if tls else getattr(sock, "_sock", None)
        self._send_timeout_s = send_timeout_s
        self._lock = BoundedSemaphore(1)
        self._parser = FrameParser()
        self.broken = False

    def queue_bytes(self) -> int:
        """Return the bytes in the kernel send queue not yet acknowledged by the peer."""
        try:
            return int(struct.unpack("i", fcntl.ioctl(self._fd, _SIOCOUTQ, b"\0\0\0\0"))[0])
        except OSError:
            return 0

    def send(self, payload: bytes, opcode: int, *, fin: int = 1) -> tuple[int, int, int]:
        """Send one frame; return ``(payload bytes, µs blocked in send, kernel queue bytes)``.

        Raises:
            ConnectionEnded: the socket failed, or the send timed out (the stream is then unusable).
        """
        return len(payload), *self.send_encoded(encode_frame(opcode, payload, fin=bool(fin)))

    def send_encoded(self, data: bytes) -> tuple[int, int]:
        """Write already-encoded frames in one go; return ``(µs blocked, kernel queue bytes)``.

        Raises:
            ConnectionEnded: as :meth:`send`.
        """
        with self._lock:
            if self.broken:
                raise ConnectionEnded("error")
            started = time.perf_counter_ns()
            try:
                sent = 0
                if self._raw is not None:
                    try:
                        sent = self._raw.send(data)
                    except BlockingIOError:
                        sent = 0
                if sent < len(data):
                    with gevent.Timeout(self._send_timeout_s, TimeoutError):
                        self._sock.sendall(memoryview(data)[sent:])
            except TimeoutError as exc:
                self.broken = True
                stall_us = (time.perf_counter_ns() - started) // 1000
                raise ConnectionEnded(
                    "send_timeout", stall_us=stall_us, queue_bytes=self.queue_bytes()
                ) from exc
            except (ConnectionResetError, BrokenPipeError) as exc:
                self.broken = True
                raise ConnectionEnded("reset") from exc
            except OSError as exc:
                self.broken = True
                raise ConnectionEnded("error") from exc
            stall_us = (time.perf_counter_ns() - started) // 1000
        return stall_us, self.queue_bytes()

    def recv_frame(self) -> Frame:
        """Return the next ``(fin, opcode, payload)`` (blocking the calling greenlet only).

        Raises:
            ConnectionEnded: EOF or reset.
            ProtocolViolation: the peer broke the framing rules.
        """
        parser = self._parser
        frame = parser.next_frame()
        while frame is None:
            try:
                data = self._sock.recv(_RECV_CHUNK)
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise ConnectionEnded("reset") from exc
            except OSError as exc:
                raise ConnectionEnded("error") from exc
            if not data:
                raise ConnectionEnded("eof")
            parser.feed(data)
            frame = parser.next_frame()
        return frame

    def close(self) -> None:
        """Close the socket (no close frame: the session sends that first when it can)."""
        self.broken = True
        try:
            self._sock.close()
        except OSError:
            return


__all__ = ["Connection", "Handshake", "classify", "open_connection"]
