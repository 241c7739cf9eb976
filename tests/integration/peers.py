"""Deliberately broken peers on 127.0.0.1: real sockets that answer a handshake wrongly."""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import gevent

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
Answer = Callable[[bytes], bytes | None]


def accept_value(request: bytes) -> str:
    """Return the correct Sec-WebSocket-Accept for a raw upgrade request."""
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            key = line.split(b":", 1)[1].strip()
            return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    raise AssertionError("no Sec-WebSocket-Key in the request")


def upgrade(request: bytes, *, accept: str | None = None, upgrade_header: bool = True) -> bytes:
    """Return a 101 answer (optionally with a wrong accept or no Upgrade header)."""
    lines = ["HTTP/1.1 101 Switching Protocols", "Connection: Upgrade"]
    if upgrade_header:
        lines.append("Upgrade: websocket")
    lines.append(f"Sec-WebSocket-Accept: {accept or accept_value(request)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextmanager
def raw_peer(answer: Answer, *, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve ``answer(request) -> bytes`` (None: say nothing, hold the socket) on a free port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    held: list[socket.socket] = []

    def handle(conn: socket.socket) -> None:
        try:
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            reply = answer(request)
            if reply is None:
                held.append(conn)
                return
            conn.sendall(reply)
            gevent.sleep(0.5)
        except (ssl.SSLError, OSError):
            return  # the client gave up first: that is what these peers are for
        finally:
            if conn not in held:
                conn.close()

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            gevent.spawn(handle, conn)

    server = gevent.spawn(serve)
    try:
        yield port
    finally:
        server.kill()
        listener.close()
        for conn in held:
            conn.close()


def make_cert(folder: Path, name: str, *, san: str) -> tuple[str, str]:
    """Create a self-signed certificate and key with ``openssl``; return their paths."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName={san}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return str(cert), str(key)


def server_tls(cert: str, key: str) -> ssl.SSLContext:
    """Return a server-side TLS context."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
