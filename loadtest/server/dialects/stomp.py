"""STOMP 1.2 over WebSocket: a small in-memory broker with topic semantics.

CONNECT (or STOMP) must come first and ask for version 1.2, with ``host`` equal to
``--stomp-vhost`` (``/``) and, when ``--stomp-login`` / ``--stomp-passcode`` are given, those
credentials; otherwise an ERROR (RabbitMQ's wording) and the session is closed. CONNECTED
offers heart-beats every ``--heartbeat`` seconds (10 by default) both ways and sends an EOL
at the agreed interval. A SEND reaches every subscription to its destination, the sender's
included, as a MESSAGE (with an ``ack`` header for ``client`` acknowledgement modes), then its
RECEIPT goes to the sender, so a sender subscribed to its own destination reads its MESSAGE
before its RECEIPT. SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN, COMMIT and ABORT are answered
with their receipt when asked (transactions are not applied). DISCONNECT is answered with its
receipt and ends the protocol; the client then closes the WebSocket.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from loadtest.protocols import stomp_frames as stomp
from loadtest.server.dialects import Dialect, SendText, bump

if TYPE_CHECKING:
    from loadtest.server.app import TargetConnection
    from loadtest.server.options import ServerOptions

#: Headers of a SEND that its MESSAGEs carry on.
_HEADERS_ECHOED = ("content-type",)


class StompError(Exception):
    """A frame the broker refuses: sent as ERROR (``message`` header, body), then the session closes."""

    def __init__(self, message: str, body: str = "") -> None:
        super().__init__(message)
        self.message, self.body = message, body


class StompDialect(Dialect):
    """Serve STOMP 1.2 (see the module docstring)."""

    name = "stomp"
    path = "/ws"
    subprotocols = ("v12.stomp", "v11.stomp", "v10.stomp")

    def __init__(self, options: ServerOptions, send: SendText) -> None:
        """Start with no subscriptions."""
        #: destination -> {(connection, subscription id): ack mode}
        self.subscriptions: dict[str, dict[tuple[TargetConnection, str], str]] = {}
        self._message_ids = itertools.count(1)
        super().__init__(options, send)

    def reset(self) -> None:
        """Zero the counters (subscriptions stay: their sessions are still open)."""
        self.frames_received: Counter[str] = Counter()
        self.frames_sent: Counter[str] = Counter()
        self.sends: Counter[str] = Counter()  # SEND frames by destination
        self.heartbeats_received = 0
        self.heartbeats_sent = 0
        self.invalid = 0

    def snapshot(self) -> dict[str, Any]:
        """Return the counters for ``/stats``."""
        return {
            "frames_received": dict(self.frames_received),
            "frames_sent": dict(self.frames_sent),
            "sends": dict(self.sends),
            "heartbeats_received": self.heartbeats_received,
            "heartbeats_sent": self.heartbeats_sent,
            "invalid": self.invalid,
        }

    async def _send(
        self, connection: TargetConnection, command: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> None:
        await self.send(connection, stomp.encode(command, headers, body).decode())
        self.frames_sent[command] += 1

    async def serve(self, connection: TargetConnection) -> None:
        """Serve the session's frames until DISCONNECT, an error or the close."""
        parser = stomp.Parser()
        connected = False
        beat: asyncio.Task[None] | None = None
        try:
            while True:
                raw = await connection.recv()
                try:
                    items = parser.feed(raw if isinstance(raw, bytes) else raw.encode())
                except stomp.FrameError as exc:
                    self.invalid += 1
                    await self._refuse(connection, StompError("Invalid frame", str(exc)))
                    return
                for frame in items:
                    if frame is None:
                        self.heartbeats_received += 1
                        continue
                    self.frames_received[frame.command] += 1
                    try:
                        if not connected:
                            beat = await self._connect(connection, frame)
                            connected = True
                        elif not await self._frame(connection, frame):
                            self._unsubscribe(connection)
                            await connection.wait_closed()  # DISCONNECT: the client closes
                            return
                    except StompError as error:
                        await self._refuse(connection, error, frame.header("receipt"))
                        return
                    except ConnectionClosed:
                        continue  # the client is gone: count what it sent before, answer nothing more
        finally:
            if beat is not None:
                beat.cancel()
            self._unsubscribe(connection)

    def _unsubscribe(self, connection: TargetConnection) -> None:
        """Drop every subscription of a session (DISCONNECT, or its end)."""
        for subscribers in self.subscriptions.values():
            for key in [key for key in subscribers if key[0] is connection]:
                del subscribers[key]

    async def _refuse(self, connection: TargetConnection, error: StompError, receipt: str = "") -> None:
        headers = [("message", error.message), ("content-type", "text/plain"), ("version", "1.2")]
        if receipt:
            headers.append(("receipt-id", receipt))
        await self._send(connection, "ERROR", headers, error.body.encode())
        await connection.close(1000, "STOMP error")

    async def _connect(self, connection: TargetConnection, frame: stomp.Frame) -> asyncio.Task[None] | None:
        if frame.command not in ("CONNECT", "STOMP"):
            raise StompError("Illegal command", "You must log in using CONNECT first")
        if "1.2" not in frame.header("accept-version").split(","):
            raise StompError("Version mismatch", "Supported versions are 1.2")
        options = self.options
        if frame.header("host", "/") != options.stomp_vhost:
            raise StompError("Bad CONNECT", f"Virtual host '{frame.header('host')}' access denied")
        login = options.stomp_login is not None and frame.header("login") != options.stomp_login
        if login or options.stomp_passcode is not None and frame.header("passcode") != options.stomp_passcode:
            raise StompError("Bad CONNECT", f"Access refused for user '{frame.header('login')}'")
        every_ms = int((options.heartbeat if options.heartbeat is not None else 10.0) * 1000)
        send_ms, _ = stomp.negotiate((every_ms, every_ms), stomp.parse_heart_beat(frame.header("heart-beat")))
        headers = [("version", "1.2"), ("heart-beat", f"{every_ms},{every_ms}"), ("server", "loadtest/1")]
        await self._send(connection, "CONNECTED", headers)
        return asyncio.create_task(self._beat(connection, send_ms / 1000)) if send_ms else None

    async def _beat(self, connection: TargetConnection, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.send(connection, "\n")
            except ConnectionClosed:
                return
            self.heartbeats_sent += 1

    async def _frame(self, connection: TargetConnection, frame: stomp.Frame) -> bool:
        """Handle one frame after CONNECT; return False after DISCONNECT."""
        command = frame.command
        if command == "SEND":
            await self._publish(frame)
        elif command == "SUBSCRIBE":
            destination, sub_id = frame.header("destination"), frame.header("id")
            if not destination or not sub_id:
                raise StompError("Missing header", "SUBSCRIBE needs destination and id headers")
            ack = frame.header("ack", "auto")
            self.subscriptions.setdefault(destination, {})[(connection, sub_id)] = ack
        elif command == "UNSUBSCRIBE":
            for subscribers in self.subscriptions.values():
                subscribers.pop((connection, frame.header("id")), None)
        elif command in ("CONNECT", "STOMP"):
            raise StompError("Already connected", "A second CONNECT on one connection")
        if frame.header("receipt"):
            await self._send(connection, "RECEIPT", [("receipt-id", frame.header("receipt"))])
        return command != "DISCONNECT"

    async def _publish(self, frame: stomp.Frame) -> None:
        destination = frame.header("destination")
        if not destination:
            raise StompError("Missing header", "SEND needs a destination header")
        bump(self.sends, destination)
        for (subscriber, sub_id), ack in list(self.subscriptions.get(destination, {}).items()):
            message_id = f"m-{next(self._message_ids)}"
            headers = [("subscription", sub_id), ("message-id", message_id), ("destination", destination)]
            headers += [(name, frame.header(name)) for name in _HEADERS_ECHOED if frame.header(name)]
            if ack != "auto":
                headers.append(("ack", message_id))
            try:
                await self._send(subscriber, "MESSAGE", headers, frame.body)
            except ConnectionClosed:
                continue  # that subscriber is gone; the others still get theirs
