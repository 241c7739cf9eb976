"""GraphQL over WebSocket (``graphql-transport-ws``) serving :mod:`graphql_schema`.

The rules of the protocol as its specification states them, with its close codes: no
``connection_init`` within 10 s is 4408, a second one 4429, ``subscribe`` before the ack 4401,
a duplicate id 4409, a malformed message or a document that does not parse 4400. A document
that parses but cannot run is answered with an ``error`` message. A ``complete`` from the
client ends its operation, and no ``complete`` is sent for it. ``--heartbeat S`` sends a
``ping`` every S seconds (none by default); pings are answered with pongs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from websockets.exceptions import ConnectionClosed

from loadtest.protocols import graphql_messages as gql
from loadtest.server.dialects import Dialect
from loadtest.server.dialects import graphql_schema as schema

if TYPE_CHECKING:
    from loadtest.server.app import TargetConnection

INIT_TIMEOUT_S = 10.0


@dataclass
class _Session:
    """One session's protocol state."""

    acked: asyncio.Event = field(default_factory=asyncio.Event)
    inits: int = 0
    ops: dict[str, asyncio.Task[None]] = field(default_factory=dict)


class GraphQLDialect(Dialect):
    """Serve graphql-transport-ws (see the module docstring)."""

    name = "graphql"
    path = "/graphql"
    subprotocols = (gql.SUBPROTOCOL,)

    def reset(self) -> None:
        """Zero the counters."""
        self.received: Counter[str] = Counter()  # client messages by type
        self.sent: Counter[str] = Counter()  # server messages by type
        self.operations: Counter[str] = Counter()  # subscribes by operation type (those that ran)
        self.closes: Counter[str] = Counter()  # our 44xx closes, by code

    def snapshot(self) -> dict[str, Any]:
        """Return the counters for ``/stats``."""
        return {
            "received": dict(self.received),
            "sent": dict(self.sent),
            "operations": dict(self.operations),
            "closes": dict(self.closes),
        }

    async def _send(self, connection: TargetConnection, message: dict[str, Any]) -> None:
        await self.send(connection, orjson.dumps(message).decode())
        self.sent[message["type"]] += 1

    async def _close(self, connection: TargetConnection, code: int, reason: str) -> None:
        self.closes[str(code)] += 1
        await connection.close(code, reason[:120])

    async def serve(self, connection: TargetConnection) -> None:
        """Answer the protocol until the session closes or breaks the rules."""
        state = _Session()
        background = [asyncio.create_task(self._init_timeout(connection, state.acked))]
        if self.options.heartbeat:
            background.append(asyncio.create_task(self._ping(connection, self.options.heartbeat)))
        try:
            while True:
                raw = await connection.recv()
                try:
                    if isinstance(raw, bytes):
                        raise gql.MessageError("WebSocket message type must be text")
                    try:
                        obj = orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        raise gql.MessageError("WebSocket message must be valid JSON") from exc
                    message = gql.parse(obj, from_server=False)
                except gql.MessageError as exc:
                    await self._close(connection, 4400, str(exc))
                    return
                self.received[message.type] += 1
                try:
                    if not await self._handle(connection, message, state):
                        return
                except ConnectionClosed:
                    continue  # the client is gone: count what it sent before, answer nothing more
        finally:
            for task in [*background, *state.ops.values()]:
                task.cancel()

    async def _handle(self, connection: TargetConnection, message: gql.Message, state: _Session) -> bool:
        """Answer one client message; return False once the session was closed."""
        kind, ops = message.type, state.ops
        if kind == "connection_init":
            state.inits += 1
            if state.inits > 1:
                await self._close(connection, 4429, "Too many initialisation requests")
                return False
            state.acked.set()
            await self._send(connection, {"type": "connection_ack"})
        elif kind == "ping":
            await self._send(connection, {"type": "pong"})
        elif kind == "subscribe":
            if not state.acked.is_set():
                await self._close(connection, 4401, "Unauthorized")
                return False
            if message.id in ops:
                await self._close(connection, 4409, f"Subscriber for {message.id} already exists")
                return False
            payload = message.payload
            try:
                op_kind, fields = schema.parse(payload["query"], payload.get("variables"))
            except schema.GraphQLSyntaxError as exc:
                await self._close(connection, 4400, str(exc))
                return False
            except schema.GraphQLError as exc:
                await self._send(
                    connection, {"id": message.id, "type": "error", "payload": [{"message": str(exc)}]}
                )
                return True
            self.operations[op_kind] += 1
            ops[message.id] = asyncio.create_task(self._run(connection, message.id, op_kind, fields, ops))
        elif kind == "complete":
            task = ops.pop(message.id, None)
            if task is not None:
                task.cancel()
        return True

    async def _run(
        self,
        connection: TargetConnection,
        op_id: str,
        kind: str,
        fields: list[schema.Field],
        ops: dict[str, Any],
    ) -> None:
        try:
            try:
                if kind == "subscription":
                    async for result in schema.ticks(*schema.ticks_arguments(fields)):
                        await self._send(connection, {"id": op_id, "type": "next", "payload": result})
                else:
                    result = schema.run_query(fields)
                    await self._send(connection, {"id": op_id, "type": "next", "payload": result})
            except schema.GraphQLError as exc:
                if ops.pop(op_id, None) is not None:
                    await self._send(
                        connection, {"id": op_id, "type": "error", "payload": [{"message": str(exc)}]}
                    )
                return
            if ops.pop(op_id, None) is not None:
                await self._send(connection, {"id": op_id, "type": "complete"})
        except ConnectionClosed:
            return

    async def _init_timeout(self, connection: TargetConnection, acked: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(acked.wait(), INIT_TIMEOUT_S)
        except TimeoutError:
            await self._close(connection, 4408, "Connection initialisation timeout")

    async def _ping(self, connection: TargetConnection, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self._send(connection, {"type": "ping"})
            except ConnectionClosed:
                return
