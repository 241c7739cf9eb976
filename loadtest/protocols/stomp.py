"""STOMP 1.2 over WebSocket on a measured session.

The user offers the ``v12.stomp`` subprotocol (unless ``--ws-subprotocol`` names others),
connects to ``--ws-stomp-path`` (``/ws``) under ``--host`` and sends CONNECT with
``accept-version:1.2``, ``host`` (``--ws-stomp-vhost``, ``/``), ``login``/``passcode`` when given
and ``heart-beat`` (``--ws-stomp-heartbeat``); CONNECTED opens it to the tasks (the row
``stomp connect``, from the upgrade), an ERROR is a failure with the server's message. Then it
subscribes to ``--ws-stomp-destination`` with a receipt (``stomp subscribe``).

- :meth:`StompUser.send` sends a SEND; with a receipt (the default) it waits for the RECEIPT,
  whose round trip is the RTT (``stomp send``); an ERROR naming that receipt is its failure.
- Every MESSAGE is a delivery (``protocols.stomp.messages``); subscriptions with
  ``ack:client-individual`` are acknowledged.
- Heart-beats are negotiated as the specification says: we send an EOL when we have sent
  nothing for the agreed interval, and a server silent for twice its agreed interval is declared
  dead (``closes.abnormal_reasons.dead``).
- An ERROR fails the request it answers (by ``receipt-id``, else whatever was awaited) with the
  server's message; one that answers nothing is a failure row ``stomp error``, whose response
  time is the session's age. The session is then closed: STOMP ends with an ERROR.
- :meth:`StompUser.disconnect` ends the STOMP session politely: DISCONNECT with a receipt
  (``stomp disconnect``), then the WebSocket close. It is not sent when the user stops: the
  engine has no hook inside its stop, and a server that closes at once after DISCONNECT
  (RabbitMQ) would then look like a server dropping every session (a storm). The WebSocket
  close alone ends the STOMP session, and RabbitMQ and the embedded target write what they
  were sending before answering it, so deliveries are still counted to the last one.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any, ClassVar

from loadtest.plugin.scenario import option
from loadtest.protocols import stomp_frames as stomp
from loadtest.protocols.user import ProtocolError, ProtocolUser
from loadtest.session import Session

__all__ = ["StompUser"]


@dataclasses.dataclass(slots=True)
class _State:
    """One session's STOMP state."""

    parser: stomp.Parser
    send_every_s: float = 0.0  # 0: no heart-beats either way
    expect_every_s: float = 0.0
    last_received_ns: int = 0
    last_sent_ns: int = 0
    acks: dict[str, str] = dataclasses.field(default_factory=dict)  # subscription id -> ack mode


class StompUser(ProtocolUser):
    """A user holding one STOMP connection (see the module docstring).

    Class attributes (the options win when given): ``stomp_path`` (``/ws``), ``destination``
    (``/topic/loadtest``), ``vhost`` (``/``), ``heart_beat`` (``"10000,10000"``),
    ``subprotocols`` (``("v12.stomp",)``).
    """

    abstract = True
    protocol = "stomp"
    embedded_dialect = "stomp"
    scenario_options: ClassVar[tuple[str, ...]] = ("stomp",)
    stomp_path: ClassVar[str] = "/ws"
    destination: ClassVar[str] = "/topic/loadtest"
    vhost: ClassVar[str] = "/"
    heart_beat: ClassVar[str] = "10000,10000"
    #: offered unless --ws-subprotocol is given; the engine then needs the server to pick one,
    #: so a subclass sets () for a STOMP server that does not negotiate subprotocols
    subprotocols: ClassVar[tuple[str, ...]] = ("v12.stomp",)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        setattr(self, "path", str(option(self, "ws_stomp_path", "") or self.stomp_path))  # noqa: B010
        if not self.options.subprotocols and self.subprotocols:
            self.options = dataclasses.replace(self.options, subprotocols=self.subprotocols)
        self.topic = str(option(self, "ws_stomp_destination", "") or self.destination)
        self.heart_beats = stomp.parse_heart_beat(
            str(option(self, "ws_stomp_heartbeat", "") or self.heart_beat)
        )
        self._receipts = itertools.count(1)
        self._subscriptions = itertools.count(0)
        self._stomp = _State(stomp.Parser(self.options.max_message_bytes))

    def new_session(self, session: Session) -> None:
        """Start a session's STOMP state afresh (its parser first: a frame never spans sessions)."""
        self._stomp = _State(stomp.Parser(self.options.max_message_bytes))

    def _connect_frame(self) -> bytes:
        headers = [("accept-version", "1.2"), ("host", str(option(self, "ws_stomp_vhost", "") or self.vhost))]
        login, passcode = str(option(self, "ws_stomp_login", "")), str(option(self, "ws_stomp_passcode", ""))
        if login:
            headers.append(("login", login))
        if passcode:
            headers.append(("passcode", passcode))
        headers.append(("heart-beat", f"{self.heart_beats[0]},{self.heart_beats[1]}"))
        return stomp.encode("CONNECT", headers)

    def on_session_open(self, session: Session) -> None:
        """CONNECT, negotiate heart-beats, subscribe to the destination with a receipt."""
        opened_ns = self.opened_ns(session)
        self.session_state()
        connected = self.exchange(
            session, "connected", self._connect_frame().decode(), "connect", rtt=False, since_ns=opened_ns
        )
        if connected is None:
            if session.is_open:
                session.close(1000, "STOMP CONNECT refused")
            return
        self.count("connects")
        state = self._stomp
        send_ms, expect_ms = stomp.negotiate(
            self.heart_beats, stomp.parse_heart_beat(connected.header("heart-beat"))
        )
        state.send_every_s, state.expect_every_s = send_ms / 1000, expect_ms / 1000
        state.last_sent_ns = state.last_received_ns = time.perf_counter_ns()
        intervals = [s for s in (state.send_every_s, state.expect_every_s) if s > 0]
        if intervals:
            self.keep_alive(session, min(intervals) / 2)
        if self._subscribe(session, self.topic, "auto") is None and session.is_open:
            session.close(1000, "SUBSCRIBE refused")

    # -- client frames ---------------------------------------------------------------------------
    def _request(
        self, session: Session, op: str, frame: tuple[str, list[tuple[str, str]], bytes], counter: str = ""
    ) -> Any:
        """Send a frame with a receipt and wait for it; the receipt id says which operation it was."""
        receipt = f"{op}-{next(self._receipts)}"
        command, headers, body = frame
        data = stomp.encode(command, [*headers, ("receipt", receipt)], body).decode()
        self._stomp.last_sent_ns = time.perf_counter_ns()
        rtt = op == "send"  # the opening and closing receipts are not requests of the test
        return self.exchange(session, ("receipt", receipt), data, op, rtt=rtt, counter=counter)

    def _subscribe(self, session: Session, destination: str, ack: str) -> str | None:
        sub_id = f"sub-{next(self._subscriptions)}"
        self._stomp.acks[sub_id] = ack
        headers = [("id", sub_id), ("destination", destination), ("ack", ack)]
        if self._request(session, "subscribe", ("SUBSCRIBE", headers, b""), "subscriptions") is None:
            return None
        return sub_id

    def subscribe(self, destination: str, ack: str = "auto") -> str | None:
        """Subscribe with a receipt (row ``stomp subscribe``); return the subscription id, or None.

        ``ack`` is ``auto``, ``client`` or ``client-individual`` (each MESSAGE is then acknowledged).
        """
        session = self.wait_open()
        return None if session is None else self._subscribe(session, destination, ack)

    def send(
        self, body: str, destination: str = "", *, receipt: bool = True, content_type: str = "text/plain"
    ) -> bool:
        """Send ``body`` to ``destination`` (the subscribed one by default); with a receipt, wait for it.

        Returns True once sent (and, with a receipt, its receipt received); False after a
        recorded failure or when no session is open.
        """
        session = self.wait_open()
        if session is None:
            return False
        headers = [("destination", destination or self.topic), ("content-type", content_type)]
        if receipt:
            return self._request(session, "send", ("SEND", headers, body.encode()), "sends") is not None
        self._stomp.last_sent_ns = time.perf_counter_ns()
        sent = session.send_text(stomp.encode("SEND", headers, body.encode()).decode())
        if sent:
            self.count("sends")
        return sent

    # -- everything that arrives -----------------------------------------------------------------
    def on_message(self, message: Any) -> None:
        """Parse frames out of one WebSocket message and handle each."""
        session = self.session_state()
        if session is None:
            return
        state = self._stomp
        state.last_received_ns = time.perf_counter_ns()
        data = message if isinstance(message, bytes) else str(message).encode()
        try:
            frames = state.parser.feed(data)
        except stomp.FrameError as exc:
            self.count("invalid")
            self.fire("invalid", session.lifetime_s * 1000.0, 0, ProtocolError(str(exc)))
            if session.is_open:
                session.close(1002, "invalid STOMP frame", wait=False)
            return
        for frame in frames:
            if frame is None:
                self.count("heartbeats_received")
            else:
                self._on_frame(session, frame)

    def _on_frame(self, session: Session, frame: stomp.Frame) -> None:
        command = frame.command
        if command == "MESSAGE":
            self.count("messages")
            subscription = frame.header("subscription")
            if self._stomp.acks.get(subscription, "auto") != "auto" and frame.header("ack"):
                session.send_text(stomp.encode("ACK", [("id", frame.header("ack"))]).decode())
        elif command == "RECEIPT":
            receipt = frame.header("receipt-id")
            if self.answer(("receipt", receipt), frame) and receipt.startswith("send-"):
                self.count("receipts")  # here, not in send(): a receipt read during the stop counts too
        elif command == "CONNECTED":
            self.answer("connected", frame)
        elif command == "ERROR":
            self._on_error(session, frame)

    def _on_error(self, session: Session, frame: stomp.Frame) -> None:
        """An ERROR ends the STOMP session: it fails what it answers (or what was awaited), and we close.

        It answers the frame its ``receipt-id`` names; without one (RabbitMQ's refused SUBSCRIBE,
        a refused CONNECT) it is the answer to whatever was awaited. One that answers nothing is
        a failure row of its own, ``stomp error``. The server should close the connection after
        it; not all do, so we close it (1000) and the user reconnects after its backoff.
        """
        self.count("errors")
        body = frame.body.decode("utf-8", "replace").strip()
        text = frame.header("message") + (f": {body}" if body else "")
        receipt = frame.header("receipt-id")
        answered = bool(receipt) and self.answer(("receipt", receipt), error=text)
        if not answered and not self.fail_waiting(text):
            self.fire("error", session.lifetime_s * 1000.0, 0, ProtocolError(text))
        if session.is_open:
            session.close(1000, "STOMP ERROR", wait=False)

    def tick(self, session: Session) -> None:
        """Send a heart-beat when we have been silent; declare a silent server dead."""
        state, now_ns = self._stomp, time.perf_counter_ns()
        if state.expect_every_s and (now_ns - state.last_received_ns) / 1e9 > 2 * state.expect_every_s:
            session.declare_dead("dead")
            return
        if state.send_every_s and (now_ns - state.last_sent_ns) / 1e9 >= state.send_every_s:
            state.last_sent_ns = now_ns
            if session.send_text("\n"):
                self.count("heartbeats_sent")

    def disconnect(self) -> bool:
        """DISCONNECT with a receipt (row ``stomp disconnect``), then close the WebSocket (1000).

        Everything the server sent before the receipt is read and counted. A server may close
        the connection instead of answering (RabbitMQ closes with 1000 at once): a normal close
        answers it too. The user then reconnects after its backoff, as after any close.
        """
        session = self.wait_open()
        if session is None:
            return False
        receipt = f"disconnect-{next(self._receipts)}"
        frame = stomp.encode("DISCONNECT", [("receipt", receipt)]).decode()
        self._stomp.last_sent_ns = time.perf_counter_ns()
        key = ("receipt", receipt)
        self.exchange(session, key, frame, "disconnect", rtt=False, end_answers=True)
        if session.is_open:
            session.close(1000, "STOMP DISCONNECT")
        return True
