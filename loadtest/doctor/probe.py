"""A small blocking WebSocket client for probing one endpoint step by step (no gevent, no Locust).

Each step is its own call, timed and classified on its own, so ``loadtest doctor`` can stop at
the first one that fails and say which: resolve, TCP, TLS (with the certificate's facts), the
HTTP upgrade (the whole answer, not just its status), then frames both ways. The request is the
one a load test sends (the same headers, Origin, subprotocols, cookies and token placement);
frames are encoded and parsed by :mod:`loadtest.frames`, with every RFC 6455 check.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loadtest.config import SessionOptions, with_query
from loadtest.errors import ConnectionEnded, HandshakeFailure
from loadtest.frames import FrameParser, Message, ProtocolViolation, encode_frame

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: An HTTP answer head longer than this is not a WebSocket server's.
MAX_HEAD = 64 * 1024
#: Leave the Origin header out (a non-browser client), instead of the default one.
NO_ORIGIN = ""


@dataclass
class Target:
    """Where a URL points."""

    url: str
    secure: bool
    host: str
    port: int
    resource: str  # path and query

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        secure = parts.scheme.lower() == "wss"
        host = parts.hostname or ""
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(url, secure, host, parts.port or (443 if secure else 80), resource)

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port in (80, 443) else f"{host}:{self.port}"


def ms_since(started: float) -> float:
    """Return the milliseconds since ``started`` (``time.perf_counter()``), to 0.1 ms."""
    return round((time.perf_counter() - started) * 1000, 1)


def resolve(target: Target, timeout_s: float) -> tuple[list[str], float]:
    """Return the target's addresses and the milliseconds the lookup took (0 for a numeric host)."""
    started = time.perf_counter()
    socket.setdefaulttimeout(timeout_s)
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    finally:
        socket.setdefaulttimeout(None)
    return list(dict.fromkeys(str(info[4][0]) for info in infos)), ms_since(started)


def connect_tcp(address: str, port: int, timeout_s: float) -> tuple[socket.socket, float]:
    """Return a connected socket and the milliseconds the TCP handshake took."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    started = time.perf_counter()
    try:
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock, ms_since(started)


def tls_context(options: SessionOptions) -> ssl.SSLContext:
    """Return the client TLS context a load test with ``options`` uses."""
    context = ssl.create_default_context(cafile=options.ca_file)
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if options.client_cert:
        context.load_cert_chain(options.client_cert, options.client_key)
    return context


def wrap_tls(
    sock: socket.socket, target: Target, options: SessionOptions
) -> tuple[ssl.SSLSocket, dict[str, Any], float]:
    """Do the TLS handshake; return the TLS socket, what it negotiated and its milliseconds."""
    started = time.perf_counter()
    tls = tls_context(options).wrap_socket(sock, server_hostname=target.host)
    info: dict[str, Any] = {"version": tls.version(), "cipher": (tls.cipher() or ("",))[0]}
    cert = tls.getpeercert()
    if cert:
        subject: Any = cert.get("subject", ())
        info["subject"] = {str(k): str(v) for rdn in subject for k, v in rdn}
        alt_names: Any = cert.get("subjectAltName", ())
        info["names"] = [str(value) for kind, value in alt_names if kind in ("DNS", "IP Address")]
        not_after = cert.get("notAfter")
        if isinstance(not_after, str):
            expires = ssl.cert_time_to_seconds(not_after)
            info["not_after"] = not_after
            info["days_left"] = round((expires - time.time()) / 86400, 1)
    return tls, info, ms_since(started)


@dataclass
class Answer:
    """The server's answer to the upgrade request."""

    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes  # what followed the head (the first frames after a 101)
    upgrade_ms: float
    key: str
    offered: tuple[str, ...] = field(default_factory=tuple)

    def accept_ok(self) -> bool:
        expected = base64.b64encode(hashlib.sha1(self.key.encode() + _GUID).digest()).decode()
        return self.headers.get("sec-websocket-accept", "").strip() == expected


def request_lines(target: Target, options: SessionOptions, *, origin: str | None, key: str) -> list[str]:
    """Return the upgrade request a load test sends (``origin``: None for the default, "" for none)."""
    resource = target.resource
    headers = dict(options.headers)
    if options.token and options.token_mode == "query":
        resource = with_query(f"ws://h{resource}", token=options.token)[len("ws://h") :]
    elif options.token and options.token_mode == "header":
        headers["Authorization"] = f"Bearer {options.token}"
    lines = [
        f"GET {resource} HTTP/1.1",
        f"Host: {target.hostport}",
        "Upgrade: websocket",
        "Connection: Upgrade",
    ]
    lines += [f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if origin is None:
        origin = options.origin or f"{'https' if target.secure else 'http'}://{target.hostport}"
    if origin:
        lines.append(f"Origin: {origin}")
    if options.subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(options.subprotocols)}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if options.cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in options.cookies.items()))
    return lines


def upgrade(
    sock: socket.socket, target: Target, options: SessionOptions, *, origin: str | None, timeout_s: float
) -> Answer:
    """Send the upgrade request and read the whole answer head (buffered reads, bounded).

    Raises:
        HandshakeFailure: ``protocol`` when the answer is not HTTP (with what it looks like).
        OSError: the connection failed.
    """
    key = base64.b64encode(os.urandom(16)).decode()
    started = time.perf_counter()
    sock.settimeout(timeout_s)
    sock.sendall(("\r\n".join(request_lines(target, options, origin=origin, key=key)) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_HEAD:
            raise HandshakeFailure("protocol", "the answer's head is over 64 KiB: not a WebSocket server")
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if not data:
        raise HandshakeFailure("reset", "the server closed the connection without answering the upgrade")
    if data[:1] == b"\x15" or data[:3] == b"\x16\x03\x01":
        raise HandshakeFailure("protocol", "the answer is a TLS record: the port speaks TLS, use wss://")
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise HandshakeFailure("protocol", f"the answer is not HTTP (it starts with {data[:16]!r})")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    return Answer(
        int(parts[1]),
        parts[2] if len(parts) > 2 else "",
        headers,
        body,
        ms_since(started),
        key,
        options.subprotocols,
    )


class Channel:
    """Frames both ways over an upgraded connection (blocking, with a timeout per read)."""

    def __init__(self, sock: socket.socket, first_bytes: bytes, max_message_bytes: int) -> None:
        self.sock = sock
        self.parser = FrameParser(max_size=max_message_bytes)
        if first_bytes:
            self.parser.feed(first_bytes)

    def send(self, opcode: int, payload: bytes) -> None:
        """Send one frame (masked, as a client must)."""
        try:
            self.sock.sendall(encode_frame(opcode, payload))
        except OSError as exc:
            raise ConnectionEnded("reset") from exc

    def recv(self, timeout_s: float) -> Message | None:
        """Return the next message or control frame, or None after ``timeout_s``.

        Raises:
            ConnectionEnded: EOF (``eof``) or reset (``reset``).
            ProtocolViolation: the server broke RFC 6455.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            message = self.parser.next_message()
            if message is not None:
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            except OSError as exc:
                raise ConnectionEnded("reset") from exc
            if not data:
                raise ConnectionEnded("eof")
            self.parser.feed(data)

    def close(self) -> None:
        """Hang up (no close frame)."""
        try:
            self.sock.close()
        except OSError:
            return


__all__ = [
    "NO_ORIGIN",
    "Answer",
    "Channel",
    "ProtocolViolation",
    "Target",
    "connect_tcp",
    "ms_since",
    "resolve",
    "upgrade",
    "wrap_tls",
]
