"""Run by tests/server/test_server.py: messages a client wrote just before the target aborts it.

The target's event loop is kept from polling the socket (this script runs the client in the
loop's own thread): three messages reach the kernel's receive queue, then the session is
aborted as ``--drop-every`` does. Prints the target's message counts as JSON.

``abort_race.py CERT KEY`` runs the same over TLS (the kernel then holds TLS records).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import ssl
import sys
import time

from websockets.protocol import OPEN

from loadtest.server.app import TargetServer
from loadtest.server.options import ServerOptions


def masked_text(payload: bytes) -> bytes:
    """Return one masked, final text frame (a client's) carrying ``payload`` (< 126 bytes)."""
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def upgrade(port: int, tls: bool) -> socket.socket:
    """Open a session by hand and return its socket once the 101 was read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # our own test certificate
        sock = context.wrap_socket(sock)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


async def main() -> None:
    certfile, keyfile = sys.argv[1:3] if len(sys.argv) == 3 else (None, None)
    target = TargetServer(ServerOptions(port=0, certfile=certfile, keyfile=keyfile))
    running = asyncio.create_task(target.run())
    while target.server is None:
        await asyncio.sleep(0.01)
    port = target.server.sockets[0].getsockname()[1]
    sock = await asyncio.to_thread(upgrade, port, certfile is not None)
    for _ in range(200):
        if any(c.protocol.state is OPEN for c in target.server.connections):
            break
        await asyncio.sleep(0.01)
    (conn,) = target.server.connections
    # From here on the loop does not run until the abort: what the client writes stays in the kernel.
    sock.sendall(b"".join(masked_text(b'{"n":%d}' % n) for n in range(3)))
    time.sleep(0.2)
    conn.abort_by_server()  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)
    print(json.dumps(target.stats.snapshot()["messages"]))
    sock.close()
    running.cancel()


if __name__ == "__main__":
    asyncio.run(main())
