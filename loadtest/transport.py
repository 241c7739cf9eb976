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
* it does not implement permessage-deflate: we never offer it, and a 101 that enables an
  extension anyway fails the handshake (``protocol``), as RFC 6455 §4.1 requires;
* its frame reader is replaced by :class:`loadtest.frames.FrameParser`, which checks everything
  a client must check and bounds a message's size.
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
from loadtest.frames import FrameParser, Message, encode_frame
from loadtest.metrics.handshake import http_class

_SIOCOUTQ = 0x5411  # Linux: bytes not yet acknowledged by the peer in the send queue
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_RECV_CHUNK = 256 * 1024
_YIELD_BYTES = 1 << 20
_YIELD_S = 1e-6


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
    if headers.get("sec-websocket-extensions", "").strip():
        # We offer no extension (permessage-deflate is not supported): RFC 6455 §4.1 says a client
        # must fail a handshake whose answer names one it did not offer.
        raise HandshakeFailure("protocol", "the server accepted an extension we did not offer")
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
                failure_class = http_class(status)
                if failure_class == "protocol":
                    raise HandshakeFailure("protocol", "the answer to the upgrade has no valid HTTP status")
                raise HandshakeFailure(failure_class, "the server answered the upgrade with this HTTP status")
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
    return Connection(sock, options.send_timeout_s, options.max_message_bytes), Handshake(
        subprotocol, _cookies_from(response_headers), phases
    )


class Connection:
    """An open WebSocket stream: frames out under one lock, messages in from one buffered reader.

    A write that something interrupts half-way (a stopping user's greenlet killed inside
    ``send``, a user's own ``gevent.Timeout``) leaves the rest of its bytes in :attr:`unsent`:
    the next write sends them first, so another frame is never written into the middle of one.
    """

    __slots__ = ("_sock", "_fd", "_raw", "_send_timeout_s", "_lock", "_parser", "_streak", "broken", "unsent")

    def __init__(self, sock: socket.socket, send_timeout_s: float, max_message_bytes: int = 64 << 20) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        # gevent keeps the OS socket non-blocking in ``_sock``: try it first, and only wait (with
        # a timer) when the kernel queue is full. Never for TLS, whose bytes must go through SSL.
        tls = isinstance(sock, ssl.SSLSocket) or hasattr(sock, "_sslobj")
        self._raw: Any = None if tls else getattr(sock, "_sock", None)
        self._send_timeout_s = send_timeout_s
        self._lock = BoundedSemaphore(1)
        self._parser = FrameParser(max_message_bytes)
        self._streak = 0  # bytes read since this reader last let other greenlets run
        self.broken = ""  # why writing is over (a ConnectionEnded reason), once it is
        self.unsent: memoryview | None = None  # the tail of an interrupted write

    def queue_bytes(self) -> int:
        """Return the bytes in the kernel send queue not yet acknowledged by the peer."""
        try:
            return int(struct.unpack("i", fcntl.ioctl(self._fd, _SIOCOUTQ, b"\0\0\0\0"))[0])
        except OSError:
            return 0

    def send(
        self, payload: bytes, opcode: int, *, fin: int = 1, timeout_s: float | None = None
    ) -> tuple[int, int, int]:
        """Send one frame; return ``(payload bytes, µs blocked in send, kernel queue bytes)``.

        Raises:
            ConnectionEnded: the socket failed, or the send timed out (the stream is then unusable).
        """
        return len(payload), *self.send_encoded(encode_frame(opcode, payload, fin=bool(fin)), timeout_s)

    def send_encoded(self, data: bytes, timeout_s: float | None = None) -> tuple[int, int]:
        """Write already-encoded frames (after the tail of an interrupted write, if any).

        Returns ``(µs blocked, kernel queue bytes)``. ``timeout_s`` (default: the send timeout)
        bounds the wait for the lock and the write together.

        Raises:
            ConnectionEnded: ``send_timeout`` (the stream is unusable if a frame was started),
                ``reset`` or ``error``.
        """
        timeout = self._send_timeout_s if timeout_s is None else timeout_s
        started = time.perf_counter_ns()
        if not self._lock.acquire(timeout=timeout):  # another write is stuck: ours never started
            raise ConnectionEnded("send_timeout", stall_us=_us_since(started), queue_bytes=self.queue_bytes())
        try:
            if self.broken:
                raise ConnectionEnded(self.broken)
            if self.unsent is not None or self._raw is None or self._try_send(data):
                remaining = max(0.0, timeout - (time.perf_counter_ns() - started) / 1e9)
                self._write_all(data, remaining, started)
            stall_us = _us_since(started)
        finally:
            self._lock.release()
        return stall_us, self.queue_bytes()

    def _try_send(self, data: bytes) -> bool:
        """Write what the kernel takes at once; return True if some of ``data`` is left to write."""
        try:
            sent = int(self._raw.send(data))
        except BlockingIOError:
            sent = 0
        except (ConnectionResetError, BrokenPipeError) as exc:
            self.broken = "reset"
            raise ConnectionEnded("reset") from exc
        except OSError as exc:
            self.broken = "error"
            raise ConnectionEnded("error") from exc
        if sent < len(data):
            self.unsent = memoryview(data)[sent:]
            return True
        return False

    def _write_all(self, data: bytes, timeout_s: float, started_ns: int) -> None:
        """Write :attr:`unsent`, then ``data`` unless it is what is unsent, within ``timeout_s``."""
        tail = self.unsent
        views = [] if tail is None else [tail]
        if tail is None or tail.obj is not data:
            views.append(memoryview(data))
        try:
            with gevent.Timeout(timeout_s, TimeoutError):
                for view in views:
                    while view:
                        self.unsent = view  # what is left if something interrupts this send
                        view = view[self._sock.send(view) :]
            self.unsent = None
        except TimeoutError as exc:
            self.broken = "send_timeout"
            stall_us = _us_since(started_ns)
            raise ConnectionEnded("send_timeout", stall_us=stall_us, queue_bytes=self.queue_bytes()) from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            self.broken = "reset"
            raise ConnectionEnded("reset") from exc
        except OSError as exc:
            self.broken = "error"
            raise ConnectionEnded("error") from exc
        # Anything else (GreenletExit, a user's own Timeout) propagates with the tail in ``unsent``.

    def recv_message(self) -> Message:
        """Return the next ``(opcode, payload)`` message or control frame (blocking this greenlet).

        Raises:
            ConnectionEnded: EOF or reset.
            ProtocolViolation: the server broke the protocol (see :mod:`loadtest.frames`).
        """
        parser = self._parser
        message = parser.next_message()
        while message is None:
            try:
                data = self._sock.recv(_RECV_CHUNK)
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise ConnectionEnded("reset") from exc
            except OSError as exc:
                raise ConnectionEnded("error") from exc
            if not data:
                raise ConnectionEnded("eof")
            # gevent only switches when a recv would block: a server streaming a big message
            # would keep this greenlet running; give the others a turn every _YIELD_BYTES. A
            # positive sleep, because sleep(0) may resume us before the loop polls I/O and timers.
            self._streak += len(data)
            if self._streak >= _YIELD_BYTES:
                self._streak = 0
                gevent.sleep(_YIELD_S)
            parser.feed(data)
            message = parser.next_message()
        return message

    def close(self) -> None:
        """Close the socket (no close frame: the session sends that first when it can)."""
        self.broken = "error"
        try:
            self._sock.close()
        except OSError:
            return


__all__ = ["Connection", "Handshake", "classify", "open_connection"]
