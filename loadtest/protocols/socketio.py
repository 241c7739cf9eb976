"""Socket.IO v4 (Engine.IO 4 over WebSocket) on a measured session.

The user connects to ``--ws-socketio-path`` (``/socket.io/``) with ``?EIO=4&transport=websocket``
under ``--host``, waits for the Engine.IO open packet, connects its namespace
(``--ws-socketio-namespace``) and only then lets tasks run: the Locust row ``socketio connect``
is the time from the upgrade to the namespace's answer, a refusal (``CONNECT_ERROR``) a failure
with the server's message. Then :meth:`SocketIOUser.emit` sends events; one sent with an ack
waits for it, and the ack's round trip is the RTT (the row ``socketio <event>``). Events the
server pushes are counted (``protocols.socketio.events_received``) and acked when the server
asks for an ack. Engine.IO pings are answered with pongs by the layer; a server silent for
longer than ``pingInterval + pingTimeout`` (its own open packet says how long) is declared
dead (``closes.abnormal_reasons.dead``), as a Socket.IO client does.

Binary attachments are received and skipped; events sent are JSON only.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

import gevent
from gevent.event import Event

from loadtest.plugin.scenario import option
from loadtest.protocols import socketio_packets as sio
from loadtest.protocols.user import ProtocolError, ProtocolUser
from loadtest.session import Session

__all__ = ["SocketIOUser"]


@dataclasses.dataclass(slots=True)
class _State:
    """One session's Engine.IO / Socket.IO state."""

    opened: Event = dataclasses.field(default_factory=Event)  # the Engine.IO open packet came
    timeout_s: float = 45.0  # pingInterval + pingTimeout from the open packet
    last_ping_ns: int = 0
    next_ack: int = 0
    attachments_left: int = 0  # binary messages still to skip


class SocketIOUser(ProtocolUser):
    """A user holding one Socket.IO connection (see the module docstring).

    Class attributes (the options win when given):
        socketio_path: the Engine.IO endpoint, ``/socket.io/``.
        namespace: the namespace to connect, ``/``.
    """

    abstract = True
    protocol = "socketio"
    embedded_dialect = "socketio"
    scenario_options: ClassVar[tuple[str, ...]] = ("socketio",)
    socketio_path: ClassVar[str] = "/socket.io/"
    namespace: ClassVar[str] = "/"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        endpoint = str(option(self, "ws_socketio_path", "") or self.socketio_path)
        # WebSocketUser joins self.path to --host at every connect (a ClassVar set per instance).
        setattr(self, "path", "/" + endpoint.strip("/") + "/?EIO=4&transport=websocket")  # noqa: B010
        self.ns = str(option(self, "ws_socketio_namespace", "") or self.namespace)
        if not self.ns.startswith("/"):
            self.ns = "/" + self.ns
        self._sio = _State()

    def new_session(self, session: Session) -> None:
        """Start a session's Engine.IO state afresh."""
        self._sio = _State()

    # -- opening ---------------------------------------------------------------------------------
    def on_session_open(self, session: Session) -> None:
        """Wait for the Engine.IO open packet, connect the namespace, start the liveness check."""
        opened_ns = self.opened_ns(session)
        self.session_state()
        state = self._sio
        timeout_s = self.options.reply_timeout_s
        gevent.wait([state.opened, session.ended], timeout=timeout_s, count=1)
        if not state.opened.is_set():
            if self.stopping and session.end is not None:  # our stop ended it: no row, as for requests
                self.recorder.count("outstanding_at_end")
                return
            self.count("connect_errors")
            why = "the session ended" if session.end else f"none within {timeout_s:g} s"
            self.fail_since("connect", opened_ns, ProtocolError(f"no Engine.IO open packet: {why}"))
            if session.is_open:
                session.close(1002, "no Engine.IO open packet")
            return
        self.keep_alive(session, max(0.5, state.timeout_s / 4))
        connect = sio.encode(sio.Packet(sio.CONNECT, self.ns))
        # The row runs from the upgrade: Engine.IO's open packet and the namespace's answer.
        if self.exchange(session, "connect", connect, "connect", rtt=False, since_ns=opened_ns) is None:
            if session.is_open:
                session.close(1000, "namespace refused")
            return
        self.count("connects")

    # -- events ----------------------------------------------------------------------------------
    def emit(self, event: str, *args: Any, ack: bool = True, timeout_s: float | None = None) -> Any:
        """Emit ``event`` with ``args``; with ``ack``, wait for the ack (row ``socketio <event>``).

        Returns the ack's arguments (a list), True for an event sent without ack, or None after
        a recorded failure (or when no session is open).
        """
        session = self.wait_open()
        if session is None:
            return None
        if not ack:
            sent = session.send_text(sio.encode(sio.Packet(sio.EVENT, self.ns, [event, *args])))
            if sent:
                self.count("events_sent")
            return sent or None
        state = self._sio
        ack_id, state.next_ack = state.next_ack, state.next_ack + 1
        packet = sio.encode(sio.Packet(sio.EVENT, self.ns, [event, *args], ack_id))
        return self.exchange(
            session, ("ack", ack_id), packet, event, timeout_s=timeout_s, counter="events_sent"
        )

    # -- everything that arrives -----------------------------------------------------------------
    def on_message(self, message: Any) -> None:
        """Handle one Engine.IO packet (pings, the open packet, Socket.IO packets)."""
        session = self.session_state()
        if session is None:
            return
        state = self._sio
        if isinstance(message, bytes):  # an attachment of a binary event or ack
            if state.attachments_left:
                state.attachments_left -= 1
            return
        try:
            kind, payload = sio.engine_packet(message if isinstance(message, str) else "")
            if kind == sio.EIO_PING:
                state.last_ping_ns = time.perf_counter_ns()
                if session.send_text(sio.EIO_PONG + payload):
                    self.count("pings_answered")
            elif kind == sio.EIO_MESSAGE:
                self._on_packet(session, sio.decode(payload))
            elif kind == sio.EIO_OPEN:
                handshake = sio.open_payload(payload)
                state.timeout_s = (handshake["pingInterval"] + handshake["pingTimeout"]) / 1000
                state.last_ping_ns = time.perf_counter_ns()
                state.opened.set()
        except sio.PacketError as exc:
            self._invalid(session, str(exc))

    def _on_packet(self, session: Session, packet: sio.Packet) -> None:
        state = self._sio
        state.attachments_left += packet.attachments
        if packet.namespace != self.ns:
            return  # another namespace's: not this user's
        if packet.type in (sio.EVENT, sio.BINARY_EVENT):
            self.count("events_received")
            # The server wants an ack: answer as a client library does (with no arguments).
            wants_ack = packet.id is not None
            if wants_ack and session.send_text(sio.encode(sio.Packet(sio.ACK, self.ns, [], packet.id))):
                self.count("acks_sent")
        elif packet.type in (sio.ACK, sio.BINARY_ACK):
            if self.answer(("ack", packet.id), packet.data):
                self.count("acks_received")
        elif packet.type == sio.CONNECT:
            sid = packet.data.get("sid") if isinstance(packet.data, dict) else None
            self.answer("connect", sid or "")
        elif packet.type == sio.CONNECT_ERROR:
            # counted where it is filed: a refusal a stopped user still receives is a row too
            if self.answer("connect", error=f"namespace {self.ns} refused: {sio.error_message(packet)}"):
                self.count("connect_errors")
        elif packet.type == sio.DISCONNECT:
            self.count("disconnects")
            session.close(1000, "the server disconnected the namespace", wait=False)

    def _invalid(self, session: Session, detail: str) -> None:
        """A packet that breaks the protocol: a failure, and the session is closed (1002)."""
        self.count("invalid")
        self.fire("invalid", session.lifetime_s * 1000.0, 0, ProtocolError(detail))
        if session.is_open:
            session.close(1002, "invalid Socket.IO packet", wait=False)

    def tick(self, session: Session) -> None:
        """Declare the session dead when the server's pings stopped (pingInterval + pingTimeout)."""
        state = self._sio
        silent_s = (time.perf_counter_ns() - state.last_ping_ns) / 1e9
        if session.is_open and silent_s > state.timeout_s:
            session.declare_dead("dead")

    def goodbye(self, session: Session, timeout_s: float) -> None:
        """Disconnect the namespace (Socket.IO has no answer to wait for)."""
        if self._sio.opened.is_set():
            session.send_text(sio.encode(sio.Packet(sio.DISCONNECT, self.ns)))
