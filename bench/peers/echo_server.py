"""The independent echo target of ``python -m bench.peers``: one process, one core, no loadtest code.

    python bench/peers/echo_server.py [--impl picows|websockets] [--port 0]

``picows`` (the default; the ``bench`` extra): a Cython WebSocket protocol on uvloop. Chosen
because it is an implementation independent of ours (neither the embedded target nor
websocket-client), it echoes text and binary frame by frame, answers protocol pings, keeps a
few KiB per idle connection, and on one core it echoes several times faster than any client
measured here, so the target is not what paces a run. ``websockets``: the same target on the
websockets library (a core dependency), several times slower; for machines without the extra
and the smoke test.

Prints ``ready PORT`` once listening. Each line ``stats`` on stdin is answered with one JSON line
on stdout: ``opened``, ``closed``, ``current`` connections, data ``messages`` echoed and
``pings`` answered (counts since start). The bench counts round trips, handshakes and pings
here, the same way for every client, rather than trusting each client's own statistics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

BACKLOG = 4096  # 2,000 sessions may connect at once (k6 opens all its VUs together)


class Counts:
    """What the bench reads: connections and frames, counted since start."""

    __slots__ = ("opened", "closed", "messages", "pings")

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.messages = 0
        self.pings = 0

    def line(self) -> bytes:
        """Return the counts as one JSON line."""
        current = self.opened - self.closed
        snapshot = {"opened": self.opened, "closed": self.closed, "current": current}
        snapshot.update(messages=self.messages, pings=self.pings)
        return json.dumps(snapshot).encode() + b"\n"


async def serve_picows(counts: Counts, port: int) -> asyncio.Server:
    """Listen with picows; echo every data frame as it is (fragments too), answer pings."""
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

    text, binary, cont = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION
    ping, close = WSMsgType.PING, WSMsgType.CLOSE

    class Echo(WSListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            counts.opened += 1

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind is text or kind is binary or kind is cont:
                if frame.fin:
                    counts.messages += 1
                transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)
            elif kind is ping:
                counts.pings += 1
                transport.send_pong(frame.get_payload_as_bytes())
            elif kind is close:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            counts.closed += 1

    def listener(request: WSUpgradeRequest) -> Echo:
        return Echo()

    server: asyncio.Server = await ws_create_server(
        listener, "127.0.0.1", port, enable_auto_pong=False, backlog=BACKLOG
    )
    return server


async def serve_websockets(counts: Counts, port: int) -> asyncio.Server:
    """Listen with the websockets library; echo every message, answer (and count) pings."""
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed
    from websockets.frames import Frame, Opcode

    class Counted(ServerConnection):
        def process_event(self, event: Any) -> None:
            if isinstance(event, Frame) and event.opcode is Opcode.PING:
                counts.pings += 1  # the protocol answers it
            super().process_event(event)

    async def echo(connection: ServerConnection) -> None:
        counts.opened += 1
        try:
            async for message in connection:
                counts.messages += 1
                await connection.send(message)
        except ConnectionClosed:
            pass  # the client closed with an echo still to send: nothing to answer
        finally:
            counts.closed += 1

    server = await serve(
        echo,
        "127.0.0.1",
        port,
        compression=None,  # no client here offers it; never let one negotiate it
        ping_interval=None,  # the clients ping, the target does not
        max_queue=None,
        create_connection=Counted,
        backlog=BACKLOG,
    )
    return server  # type: ignore[return-value]


async def main_async(impl: str, port: int) -> None:
    """Serve until SIGTERM, SIGINT or the end of stdin; answer ``stats`` lines."""
    counts = Counts()
    server = await (serve_picows if impl == "picows" else serve_websockets)(counts, port)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.buffer.write(f"ready {bound}\n".encode())
    sys.stdout.buffer.flush()
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def stop() -> None:
        if not done.done():
            done.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    stdin = sys.stdin.buffer.fileno()
    os.set_blocking(stdin, False)
    pending = bytearray()

    def on_stdin() -> None:
        chunk = os.read(stdin, 4096)
        if not chunk:
            loop.remove_reader(stdin)
            stop()  # the bench went away: so do we
            return
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip() == b"stats":
                sys.stdout.buffer.write(counts.line())
                sys.stdout.buffer.flush()

    try:
        loop.add_reader(stdin, on_stdin)
    except PermissionError:  # stdin is a file (/dev/null): no stats, serve until a signal
        print("stdin cannot be polled: no stats", file=sys.stderr)
    await done
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impl", choices=("picows", "websockets"), default="picows")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.impl == "picows":
        import uvloop

        uvloop.run(main_async(args.impl, args.port))
    else:
        asyncio.run(main_async(args.impl, args.port))


if __name__ == "__main__":
    main()
