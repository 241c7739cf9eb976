"""The one place that talks to the socket: TCP, TLS, the upgrade, frames out, bytes in.

We open the TCP connection and the TLS layer ourselves, so each phase is timed on its own and
each failure is classified precisely; the upgrade request and answer are :mod:`loadtest.upgrade`
(sans-I/O), frames :mod:`loadtest.frames`. What we learnt from websocket-client, which this
project used for all of it before (its exception classes are still mapped here):

* its pure-Python UTF-8 validation is very slow: text is decoded with ``bytes.decode`` (C speed)
  and bad UTF-8 counted by the session;
* it reads the upgrade answer one byte per ``recv``: we read it in buffered chunks, and what
  follows the headers goes to the frame parser;
* ``recv()`` drops the server's close code and does two ``recv`` per frame: frames are parsed by
  :class:`loadtest.frames.FrameParser` out of one buffer per read;
* a socket timeout on every ``recv`` costs ~30% throughput: once open, the socket is read by the
  hub's watcher (:mod:`loadtest.engine`), deadlines live in the wheel;
* a frame written half-way before a send timeout leaves the stream unusable: a send timeout ends
  the session as abnormal (``send_timeout``) instead of sending on;
* its module-global cookie jar replayed one server's ``Set-Cookie`` to every virtual user:
  cookies are kept per session;
* permessage-deflate is not implemented there: we offer it only with ``--ws-compression deflate``
  (:mod:`loadtest.deflate`, in our frame codec), and a 101 that enables an extension we did not
  offer, or answers ours against RFC 7692, fails the handshake (``protocol``), as RFC 6455 §4.1
  requires.
"""

from __future__ import annotations

import errno
import fcntl
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import gevent
from gevent.lock import BoundedSemaphore
from gevent.monkey import get_original
from websocket import WebSocketConnectionClosedException, WebSocketException, WebSocketTimeoutException

from loadtest import upgrade
from loadtest.config import SessionOptions
from loadtest.deflate import Deflate
from loadtest.errors import ConnectionEnded, HandshakeFailure
from loadtest.frames import FrameParser, Message, encode_frame
from loadtest.metrics.handshake import http_class

_SIOCOUTQ = 0x5411  # Linux: bytes not yet acknowledged by the peer in the send queue
_RECV_CHUNK = 256 * 1024
_HEAD_CHUNK = 4096
_thread_ident: Callable[[], int] = get_original("_thread", "get_ident")  # the OS thread's, not a greenlet's
_recv_buffers: dict[int, memoryview] = {}
#: How long a name's resolution is reused (a numeric host is never resolved).
RESOLVE_TTL_S = 30.0
#: The kernel send queue is sampled only after a write the kernel did not take whole, and then at
#: most once per this many ns per session (an ioctl after every send was ~1.5% of the CPU).
QUEUE_SAMPLE_NS = 5_000_000
#: ``send_encoded`` returns this for the queue when it was not sampled.
NOT_SAMPLED = -1
#: What :meth:`Connection.try_send` did: nothing (the caller must write from a greenlet), all of
#: it, or a start whose tail is in ``unsent`` (a greenlet must finish it before anything else).
NOTHING, ALL, STARTED = 0, 1, 2


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


# -- resolution: numeric hosts never, names once per RESOLVE_TTL_S ------------------------------
_Address = tuple[int, int, int, Any]  # family, type, proto, sockaddr
_RESOLVED: dict[tuple[str, int], tuple[float, _Address]] = {}


def _numeric(host: str, port: int) -> _Address | None:
    for family, sockaddr in ((socket.AF_INET, (host, port)), (socket.AF_INET6, (host, port, 0, 0))):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family, socket.SOCK_STREAM, socket.IPPROTO_TCP, sockaddr
    return None


def resolve(host: str, port: int) -> _Address:
    """Return where to connect: a numeric host as it is, a name from a cache (gevent's resolver
    runs in a thread pool: a round trip through it per connect is not free)."""
    numeric = _numeric(host, port)
    if numeric is not None:
        return numeric
    now = time.monotonic()
    cached = _RESOLVED.get((host, port))
    if cached is not None and cached[0] > now:
        return cached[1]
    family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    if len(_RESOLVED) > 1024:  # bounded: a run targets a handful of hosts
        _RESOLVED.clear()
    _RESOLVED[(host, port)] = (now + RESOLVE_TTL_S, (family, kind, proto, sockaddr))
    return family, kind, proto, sockaddr


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read the answer's head in buffered chunks; return ``(status, headers, bytes after it)``."""
    buffer = b""
    while True:
        chunk = sock.recv(_HEAD_CHUNK)
        if not chunk:
            raise HandshakeFailure("reset", "the server closed the connection during the handshake")
        buffer += chunk
        found = upgrade.head_end(buffer)
        if found is not None:
            break
        if len(buffer) > upgrade.MAX_HEAD_BYTES:
            raise HandshakeFailure("protocol", "the answer to the upgrade is not valid HTTP")
    status, headers = upgrade.parse_response(buffer[: found[0]])
    return status, headers, buffer[found[1] :]


def open_connection(
    url: str,
    options: SessionOptions,
    *,
    headers: dict[str, str],
    cookies: dict[str, str],
    source_ip: str = "",
) -> tuple[Connection, Handshake]:
    """Open a WebSocket connection, timing TCP, TLS and upgrade; raise a classified failure."""
    hostname, port, resource, secure = upgrade.split_url(url)
    sock: socket.socket | None = None
    phases: dict[str, int] = {}
    started = time.perf_counter_ns()
    try:
        with gevent.Timeout(options.connect_timeout_s, TimeoutError):
            family, kind, proto, address = resolve(hostname, port)
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
            request, key = upgrade.build_request(
                hostname,
                port,
                resource,
                secure,
                headers=headers,
                origin=options.origin,
                subprotocols=options.subprotocols,
                cookie="; ".join(f"{k}={v}" for k, v in cookies.items()),
                compression=options.compression == "deflate",
            )
            sock.sendall(request)
            status, response_headers, early = _read_answer(sock)
            if status != 101:
                failure_class = http_class(status)
                if failure_class == "protocol":
                    raise HandshakeFailure("protocol", "the answer to the upgrade has no valid HTTP status")
                raise HandshakeFailure(failure_class, "the server answered the upgrade with this HTTP status")
            compression = options.compression == "deflate"
            subprotocol = upgrade.check_upgrade(
                response_headers, key, options.subprotocols, compression=compression
            )
            params = upgrade.negotiated(response_headers) if compression else None
            phases["connect_upgrade"] = _us_since(phase)
    except BaseException as exc:
        if sock is not None:
            sock.close()
        if isinstance(exc, (gevent.GreenletExit, KeyboardInterrupt, SystemExit)):
            raise
        raise classify(exc) from exc
    phases["connect"] = _us_since(started)
    sock.settimeout(None)  # waits (a full send queue) are bounded by the session, not the socket
    conn = Connection(sock, options.send_timeout_s, options.max_message_bytes)
    if params is not None:
        conn.deflate = conn.parser.inflater = Deflate(params, options.max_message_bytes)
    if early:
        conn.parser.feed(early)  # the server's first frames came with its answer
    return conn, Handshake(subprotocol, upgrade.cookies_from(response_headers), phases)


def _recv_buffer() -> memoryview:
    """Return this OS thread's receive buffer, made on its first read.

    Every read goes into it and is copied out at its size before anything can switch greenlets.
    A ``recv(_RECV_CHUNK)`` per read allocated 256 KiB and shrank it in place: the glibc heap's
    free space then grew ~1.5 MiB a minute in a 1,000-session soak while the bytes in use stayed
    flat (the same CPU per round trip either way: bench/echo_throughput.py).
    """
    ident = _thread_ident()
    buffer = _recv_buffers.get(ident)
    if buffer is None:
        buffer = _recv_buffers[ident] = memoryview(bytearray(_RECV_CHUNK))
    return buffer


class Connection:
    """An open WebSocket stream: frames out under one lock, bytes in from the hub's read watcher.

    Writing happens in greenlets (:meth:`send_encoded`, which may wait for the kernel) or, for
    the few frames the read callback sends itself (pongs, the echo of a close), in the hub
    (:meth:`try_send`, which never waits). A write that something interrupts half-way (a stopping
    user's greenlet killed inside ``send``, a user's own ``gevent.Timeout``) leaves the rest of its
    bytes in :attr:`unsent`: the next write sends them first, so another frame is never written
    into the middle of one.
    """

    __slots__ = (
        "_sock",
        "_raw",
        "_sslobj",
        "_watcher",
        "_send_timeout_s",
        "_lock",
        "_sampled_ns",
        "parser",
        "deflate",
        "broken",
        "unsent",
    )

    def __init__(self, sock: socket.socket, send_timeout_s: float, max_message_bytes: int = 64 << 20) -> None:
        self._sock = sock
        # gevent keeps the OS socket non-blocking in ``_sock``: reads and first write attempts go
        # straight to it; only a full kernel queue makes a writer wait (through gevent's socket).
        # TLS bytes go through the SSL object (non-blocking too: it raises SSLWant*Error).
        self._sslobj: Any = getattr(sock, "_sslobj", None)
        self._raw: Any = None if self._sslobj is not None else getattr(sock, "_sock", None)
        self._watcher: Any = None  # the read watcher, once the engine reads this connection
        self._send_timeout_s = send_timeout_s
        self._lock: BoundedSemaphore | None = None  # created at the first write that must wait
        self._sampled_ns = 0  # when the send queue was last sampled
        self.parser = FrameParser(max_message_bytes)
        self.deflate: Deflate | None = None  # permessage-deflate, once negotiated
        self.broken = ""  # why writing is over (a ConnectionEnded reason), once it is
        self.unsent: memoryview | None = None  # the tail of an interrupted write

    # -- reading (the hub) -----------------------------------------------------------------
    def start_reading(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` from the hub whenever the socket is readable (level-triggered).

        gevent's own read watcher of the socket is reused: nothing else waits on it, since no
        greenlet ever calls ``recv`` on an open connection.
        """
        self._watcher = self._sock._read_event  # type: ignore[attr-defined]
        self._watcher.start(callback)

    def stop_reading(self) -> None:
        """Stop the read callbacks (before the socket closes: gevent would wake a waiter on it)."""
        if self._watcher is not None:
            self._watcher.stop()

    def read(self) -> bytes | None:
        """Return what the socket holds without waiting: bytes, ``b""`` at EOF, None if nothing yet.

        Raises:
            ConnectionEnded: reset or error.
        """
        try:
            buffer = _recv_buffer()
            sslobj = self._sslobj
            if sslobj is None:
                return bytes(buffer[: self._raw.recv_into(buffer)])
            data = bytes(buffer[: sslobj.read(_RECV_CHUNK, buffer)])
            while sslobj.pending():  # decrypted bytes the socket's readiness no longer shows
                data += bytes(buffer[: sslobj.read(_RECV_CHUNK, buffer)])
            return data
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            # (WantWrite: a TLS 1.3 key update needs a write first; the next readiness retries)
            return None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionEnded("reset") from exc
        except OSError as exc:
            raise ConnectionEnded("error") from exc

    def recv_message(self) -> Message:
        """Return the next message, waiting in this greenlet (tools and tests; sessions use the hub).

        Raises:
            ConnectionEnded: EOF or reset.
            ProtocolViolation: the server broke the protocol (see :mod:`loadtest.frames`).
        """
        parser = self.parser
        message = parser.next_message()
        while message is None:
            try:  # gevent waits inside recv_into, never between it and the copy
                buffer = _recv_buffer()
                data = bytes(buffer[: self._sock.recv_into(buffer)])
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise ConnectionEnded("reset") from exc
            except OSError as exc:
                raise ConnectionEnded("error") from exc
            if not data:
                raise ConnectionEnded("eof")
            parser.feed(data)
            message = parser.next_message()
        return message

    # -- writing ---------------------------------------------------------------------------
    def queue_bytes(self) -> int:
        """Return the bytes in the kernel send queue not yet acknowledged by the peer."""
        try:
            return int(struct.unpack("i", fcntl.ioctl(self._sock.fileno(), _SIOCOUTQ, b"\0\0\0\0"))[0])
        except OSError:
            return 0

    def writable_now(self) -> bool:
        """Return True if a frame may be written at once: no write under way, none cut, not broken."""
        return not self.broken and self.unsent is None and (self._lock is None or not self._lock.locked())

    def try_send(self, data: bytes) -> int:
        """Write from the hub without waiting; return :data:`NOTHING`, :data:`ALL` or :data:`STARTED`.

        Only when :meth:`writable_now`. After ``STARTED`` the tail is in :attr:`unsent` and a
        greenlet must finish it (``send_encoded(b"")``) before any other frame.

        Raises:
            ConnectionEnded: reset or error.
        """
        if not self._try_send(data):
            return ALL
        unsent = self.unsent
        if unsent is not None and self._sslobj is None and len(unsent) == len(data):
            self.unsent = None  # nothing went out: the caller may write it from a greenlet
            return NOTHING
        return STARTED

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

        Returns ``(µs blocked, kernel queue bytes or NOT_SAMPLED)``: a write the kernel takes at
        once blocked 0 µs and is not sampled; one that waited is (see :data:`QUEUE_SAMPLE_NS`).
        ``timeout_s`` (default: the send timeout) bounds the wait for the lock and the write.

        Raises:
            ConnectionEnded: ``send_timeout`` (the stream is unusable if a frame was started),
                ``reset`` or ``error``.
        """
        lock = self._lock
        direct = self._raw is not None or self._sslobj is not None  # else a stand-in socket (tests)
        # The lock is free and a non-blocking send never switches greenlets: nothing can write
        # between this check and the send, so the common case needs no acquire and release (and
        # most connections never need the lock at all: it is created by the first write that waits).
        free = direct and (lock is None or not lock.locked()) and not self.broken and self.unsent is None
        if free and not self._try_send(data):
            return 0, NOT_SAMPLED  # the common case: the kernel took it all
        if lock is None:
            lock = self._lock = BoundedSemaphore(1)
        timeout = self._send_timeout_s if timeout_s is None else timeout_s
        started = time.perf_counter_ns()
        if not lock.acquire(timeout=timeout):  # another write is stuck: ours never started
            raise ConnectionEnded("send_timeout", stall_us=_us_since(started), queue_bytes=self.queue_bytes())
        try:
            if self.broken:
                raise ConnectionEnded(self.broken)
            if self.unsent is not None or not direct or self._try_send(data):
                remaining = max(0.0, timeout - (time.perf_counter_ns() - started) / 1e9)
                self._write_all(data, remaining, started)
            stall_us = _us_since(started)
        finally:
            lock.release()
        now = time.perf_counter_ns()
        if now - self._sampled_ns < QUEUE_SAMPLE_NS:
            return stall_us, NOT_SAMPLED
        self._sampled_ns = now
        return stall_us, self.queue_bytes()

    def _try_send(self, data: bytes) -> bool:
        """Write what the kernel takes at once; return True if some of ``data`` is left to write."""
        try:
            if self._sslobj is not None:
                try:
                    self._sslobj.write(data)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    self.unsent = memoryview(data)  # TLS retries the whole buffer
                    return True
                return False
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
        if (tail is None or tail.obj is not data) and data:
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

    def close(self) -> None:
        """Close the socket (no close frame: the session sends that first when it can)."""
        self.broken = "error"
        self.stop_reading()
        try:
            self._sock.close()
        except OSError:
            return


__all__ = ["Connection", "Handshake", "classify", "open_connection", "resolve"]
