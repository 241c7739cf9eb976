"""Socket.IO v4 over WebSocket only (Engine.IO 4), answering as python-socketio's server does.

On a session: the Engine.IO open packet (``pingInterval`` = ``--heartbeat``, 25 s by default;
``pingTimeout`` 20 s), then a ping every interval. A namespace CONNECT is answered with its
sid, followed by a ``welcome`` event, unless ``--namespace`` lists the namespaces served and
this one is not among them (``CONNECT_ERROR`` ``{"message":"Invalid namespace"}``, as the
reference Node server says it; python-socketio sends the older plain string). An event with
an ack id is acked with its own arguments; an event without one is emitted back to its sender
(a push). Packets that break the protocol are counted and ignored; pongs are counted but a
missing one is not enforced. Once the client has gone, what it sent before is still read and
counted, and nothing more is answered, so the counts equal what the client sent and received.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson
from websockets.exceptions import ConnectionClosed

from loadtest.protocols import socketio_packets as sio
from loadtest.server.dialects import Dialect, bump

if TYPE_CHECKING:
    from loadtest.server.app import TargetConnection

PING_TIMEOUT_S = 20.0


class SocketIODialect(Dialect):
    """Serve Socket.IO (see the module docstring)."""

    name = "socketio"
    path = "/socket.io/"

    def reset(self) -> None:
        """Zero the counters."""
        self.connects: Counter[str] = Counter()  # by namespace
        self.connect_errors = 0
        self.events_received: Counter[str] = Counter()  # by event name
        self.acks_sent = 0
        self.events_pushed = 0
        self.acks_received = 0
        self.disconnects = 0
        self.pings_sent = 0
        self.pongs_received = 0
        self.invalid = 0

    def snapshot(self) -> dict[str, Any]:
        """Return the counters for ``/stats``."""
        return {
            "connects": dict(self.connects),
            "connect_errors": self.connect_errors,
            "events_received": dict(self.events_received),
            "acks_sent": self.acks_sent,
            "events_pushed": self.events_pushed,
            "acks_received": self.acks_received,
            "disconnects": self.disconnects,
            "pings_sent": self.pings_sent,
            "pongs_received": self.pongs_received,
            "invalid": self.invalid,
        }

    async def serve(self, connection: TargetConnection) -> None:
        """Open the Engine.IO session, ping it, and answer its packets until it closes."""
        interval_s = self.options.heartbeat if self.options.heartbeat is not None else 25.0
        sid = secrets.token_urlsafe(12)
        handshake = {
            "sid": sid,
            "upgrades": [],
            "pingInterval": int(interval_s * 1000),
            "pingTimeout": int(PING_TIMEOUT_S * 1000),
            "maxPayload": 1_000_000,
        }
        await self.send(connection, sio.EIO_OPEN + orjson.dumps(handshake).decode())
        pinger = asyncio.create_task(self._ping(connection, interval_s))
        connected: set[str] = set()
        try:
            while True:
                message = await connection.recv()
                if isinstance(message, bytes):
                    self.invalid += 1  # we announce no binary events
                    continue
                try:
                    kind, payload = sio.engine_packet(message)
                    if kind == sio.EIO_PONG:
                        self.pongs_received += 1
                    elif kind == sio.EIO_MESSAGE:
                        await self._packet(connection, sid, connected, sio.decode(payload))
                    elif kind == sio.EIO_CLOSE:
                        await connection.close(1000)
                        return
                except sio.PacketError:
                    self.invalid += 1
                except ConnectionClosed:
                    continue  # the client is gone: count what it sent before, answer nothing more
        finally:
            pinger.cancel()

    async def _ping(self, connection: TargetConnection, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.send(connection, sio.EIO_PING)
            except ConnectionClosed:
                return
            self.pings_sent += 1

    async def _packet(
        self, connection: TargetConnection, sid: str, connected: set[str], packet: sio.Packet
    ) -> None:
        ns = packet.namespace
        if packet.type == sio.CONNECT:
            served = self.options.namespaces
            if served and ns not in served:
                self.connect_errors += 1
                refusal = sio.Packet(sio.CONNECT_ERROR, ns, {"message": "Invalid namespace"})
                await self.send(connection, sio.encode(refusal))
                return
            connected.add(ns)
            bump(self.connects, ns)
            socket_id = secrets.token_urlsafe(12)
            await self.send(connection, sio.encode(sio.Packet(sio.CONNECT, ns, {"sid": socket_id})))
            await self.send(connection, sio.encode(sio.Packet(sio.EVENT, ns, ["welcome", {"sid": sid}])))
            self.events_pushed += 1
        elif ns not in connected:
            return  # python-socketio ignores packets of a namespace that is not connected
        elif packet.type == sio.EVENT:
            assert packet.event is not None
            bump(self.events_received, packet.event)
            if packet.id is not None:
                await self.send(connection, sio.encode(sio.Packet(sio.ACK, ns, packet.data[1:], packet.id)))
                self.acks_sent += 1
            else:
                await self.send(connection, sio.encode(sio.Packet(sio.EVENT, ns, packet.data)))
                self.events_pushed += 1
        elif packet.type == sio.ACK:
            self.acks_received += 1
        elif packet.type == sio.DISCONNECT:
            connected.discard(ns)
            self.disconnects += 1
        else:
            self.invalid += 1  # binary packets: we announce none
