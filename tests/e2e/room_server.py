"""A pub/sub server of another dialect, for the fan-out test of a locustfile's own protocol.

``{"action":"join","room":R}`` joins a room, unacknowledged; ``{"action":"say","room":R,"body":B}``
sends ``{"room":R,"msg":{"body":B}}`` to every member. ``--drop-every N`` drops every Nth delivery.
``GET /stats`` answers its counts. Run: ``python tests/e2e/room_server.py [--drop-every N]``; it
prints its port, then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import http
import json
import signal
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

ROOMS: dict[str, set[ServerConnection]] = {}
STATS = {"fanned_out": 0, "dropped": 0, "delivered": 0}


async def handler(ws: ServerConnection, drop_every: int) -> None:
    try:
        async for raw in ws:
            message: dict[str, Any] = json.loads(raw)
            room = str(message.get("room"))
            if message.get("action") == "join":
                ROOMS.setdefault(room, set()).add(ws)
            elif message.get("action") == "say":
                out = json.dumps({"room": room, "msg": {"body": message.get("body")}})
                for member in list(ROOMS.get(room, ())):
                    STATS["fanned_out"] += 1
                    if drop_every and STATS["fanned_out"] % drop_every == 0:
                        STATS["dropped"] += 1
                        continue
                    try:
                        await member.send(out)
                    except ConnectionClosed:
                        continue
                    STATS["delivered"] += 1
    finally:
        for members in ROOMS.values():
            members.discard(ws)


def stats(connection: ServerConnection, request: Request) -> Response | None:
    if request.path == "/stats":
        return connection.respond(http.HTTPStatus.OK, json.dumps(STATS) + "\n")
    return None


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drop-every", type=int, default=0)
    drop_every = parser.parse_args().drop_every
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(lambda ws: handler(ws, drop_every), "127.0.0.1", 0, process_request=stats) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
