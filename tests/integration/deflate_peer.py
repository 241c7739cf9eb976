"""A second permessage-deflate server: the ``websockets`` library's own, with its compression settings.

Not the embedded target: a plain ``websockets.asyncio.server.serve`` echo with
``ServerPerMessageDeflateFactory`` and nothing of ours, started in a subprocess by
``tests/integration/test_compression.py``. It counts what it saw (sessions, messages, their bytes
before and after its codec) and serves the counts at ``GET /stats``::

    python -m tests.integration.deflate_peer --server-no-context-takeover --server-max-window-bits 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.frames import CTRL_OPCODES, Frame

COUNTS: dict[str, int] = dict.fromkeys(
    (
        "sessions",
        "negotiated",
        "messages_received",
        "bytes_received",
        "messages_sent",
        "bytes_sent",
        "wire_received",
        "wire_sent",
    ),
    0,
)


class Counting(PerMessageDeflate):
    """The library's codec; only the data frames' compressed sizes are noted."""

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode not in CTRL_OPCODES:
            COUNTS["wire_received"] += len(frame.data)
        return super().decode(frame, max_size=max_size)

    def encode(self, frame: Frame) -> Frame:
        encoded = super().encode(frame)
        if frame.opcode not in CTRL_OPCODES:
            COUNTS["wire_sent"] += len(encoded.data)
        return encoded


class Factory(ServerPerMessageDeflateFactory):
    def process_request_params(self, params: Any, accepted: Any) -> Any:
        response, ext = super().process_request_params(params, accepted)
        ext.__class__ = Counting  # the same state, with the counting methods
        return response, ext


async def echo(conn: ServerConnection) -> None:
    COUNTS["sessions"] += 1
    COUNTS["negotiated"] += bool(conn.protocol.extensions)
    async for message in conn:
        size = len(message.encode() if isinstance(message, str) else message)
        COUNTS["messages_received"] += 1
        COUNTS["bytes_received"] += size
        await conn.send(message)
        COUNTS["messages_sent"] += 1
        COUNTS["bytes_sent"] += size


def stats(conn: ServerConnection, request: Any) -> Any:
    if request.path == "/stats":
        return conn.respond(HTTPStatus.OK, json.dumps(COUNTS) + "\n")
    return None


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-no-context-takeover", action="store_true")
    parser.add_argument("--client-no-context-takeover", action="store_true")
    parser.add_argument("--server-max-window-bits", type=int)
    parser.add_argument("--client-max-window-bits", type=int)
    args = parser.parse_args()
    factory = Factory(
        server_no_context_takeover=args.server_no_context_takeover,
        client_no_context_takeover=args.client_no_context_takeover,
        server_max_window_bits=args.server_max_window_bits,
        client_max_window_bits=args.client_max_window_bits,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(
        echo, "127.0.0.1", 0, extensions=[factory], compression=None, process_request=stats
    ) as server:
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()
    sys.exit(0)


if __name__ == "__main__":
    asyncio.run(main())
