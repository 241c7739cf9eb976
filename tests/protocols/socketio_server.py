"""python-socketio's ASGI server under uvicorn, answering like the embedded target's socketio dialect.

    python -m tests.protocols.socketio_server [--ping-interval S] [--namespace NS ...]

Every namespace is served (``namespaces="*"``) unless some are named. On connect the client gets
a ``welcome`` event; an ``echo`` (or any event) with an ack is acked with its arguments; one
without an ack is emitted back. Its own handlers count the events they handled; the wire
counts come from :mod:`tests.protocols.asgi_counts`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections import Counter
from typing import Any

import socketio
import uvicorn

from tests.protocols.asgi_counts import Counted

handled: Counter[str] = Counter()  # by event name, counted by python-socketio's handlers


def classify(text: str) -> str:
    """Name an Engine.IO / Socket.IO text message by its type (``42`` event, ``3`` pong...)."""
    names = {"0": "open", "1": "close", "2": "ping", "3": "pong", "6": "noop"}
    if text[:1] != "4":
        return names.get(text[:1], "other")
    kinds = ("connect", "disconnect", "event", "ack", "connect_error", "binary_event", "binary_ack")
    return kinds[int(text[1])] if text[1:2].isdigit() and int(text[1]) < len(kinds) else "other"


def build(ping_interval: float, namespaces: list[str]) -> Counted:
    sio = socketio.AsyncServer(
        async_mode="asgi",
        namespaces=namespaces or "*",
        ping_interval=ping_interval,
        ping_timeout=20,
        always_connect=True,  # emits from the connect handler follow the CONNECT answer
    )

    @sio.on("connect", namespace="*")
    async def connect(namespace: str, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.emit("welcome", {"sid": sid}, to=sid, namespace=namespace)

    @sio.on("*", namespace="*")
    async def any_event(event: str, namespace: str, sid: str, *args: Any) -> Any:
        handled[event] += 1
        return args  # acked with its arguments when the client asked for an ack ...

    # ... and python-socketio sends nothing back for an event without one: push it back ourselves.
    original = sio._handle_event_internal

    async def echo_without_ack(
        server: Any, sid: str, eio_sid: str, data: Any, namespace: str, id: Any
    ) -> None:
        await original(server, sid, eio_sid, data, namespace, id)
        if id is None:
            await sio.emit(data[0], data[1] if len(data) > 1 else None, to=sid, namespace=namespace)

    sio._handle_event_internal = echo_without_ack  # type: ignore[method-assign]
    return Counted(socketio.ASGIApp(sio), classify, lambda: {"handled": dict(handled)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ping-interval", type=float, default=25.0)
    parser.add_argument("--namespace", action="append", default=[])
    args = parser.parse_args()
    serve(build(args.ping_interval, args.namespace))


def serve(app: Counted) -> None:
    """Serve ``app`` with uvicorn on a free loopback port, announced once it accepts connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", ws="websockets-sansio", lifespan="off")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
