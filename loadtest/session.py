"""One WebSocket session: open, read, send, correlate, ping, close; every outcome a sample.

This is the gevent I/O layer over the sans-I/O parts (:mod:`loadtest.frames`,
:mod:`loadtest.correlation`, :mod:`loadtest.metrics`). A session is opened once and ends once;
reconnecting makes a new session (see :class:`loadtest.plugin.user.WebSocketUser`). No greenlet
reads a session: once :meth:`Session.start_reading` handed it to the engine, the hub calls
:meth:`Session._on_readable` whenever its socket is readable (:mod:`loadtest.engine`). That
callback answers pings, matches replies and pongs, counts messages and records who ended the
session, with which code; it never blocks: what may (a pong the kernel would not take at once,
the echo of a close behind a write under way, the close that answers a protocol violation) is
handed to a short-lived greenlet.

How it ends (the closing handshake, stops, protocol violations) is in :mod:`loadtest.closing`.
One rule belongs to writing: a write that fails because the server has gone does not end the
session by itself, since the server's last frames (its close frame among them) may still be
waiting to be read; the reader decides how the session ended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import orjson
from gevent import get_hub
from gevent.event import Event

from loadtest.closing import Closing
from loadtest.config import SessionOptions
from loadtest.correlation import Correlator
from loadtest.deflate import Deflate
from loadtest.errors import ConnectionEnded, HandshakeFailure
from loadtest.exchange import Exchanges, Reply, ReplyTimeout, SessionEnded, wake_answered
from loadtest.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PONG,
    OP_TEXT,
    ProtocolViolation,
    encode_frame,
    encode_message,
    sent_messages,
)
from loadtest.metrics import close_codes
from loadtest.metrics.handshake import hint as handshake_hint
from loadtest.metrics.recorder import Recorder
from loadtest.transport import ALL, STARTED, Connection, open_connection

#: ``(name, response_time_ms, response_length, exception or None)``, fed to Locust's request event.
RequestHook = Callable[[str, float, int, BaseException | None], None]

__all__ = ["ReplyTimeout", "Session", "SessionEnded"]

logger = logging.getLogger(__name__)


def _no_hook(name: str, response_time_ms: float, length: int, exc: BaseException | None) -> None:
    return None


class Session(Closing, Exchanges):
    """A single WebSocket session.

    Args:
        url: the ``ws://`` or ``wss://`` URL (already validated, token already in the query if so).
        options: connection and measurement options.
        recorder: where samples go.
        on_request: called for Locust-visible operations (``connect``, ``echo``, ``ping`` ...).
        headers, cookies: handshake headers and this user's cookie jar (updated in place).
        on_message: called with every data message that is not a reply to a request, from the
            hub (the read callback): it must not block (``WebSocketUser`` hands its hook to a
            greenlet).
        on_end: called once with the session when it ended (from the hub or the greenlet that
            ended it); must not block.

    Attributes:
        end: ``(who, code, reason)`` once the session ended (see :mod:`loadtest.metrics.close_codes`).
        violation: what the server did when we closed because it broke the protocol.
    """

    # Slots: an idle session's memory is the budget of a soak with tens of thousands of them.
    __slots__ = (
        "url",
        "options",
        "recorder",
        "on_request",
        "on_message",
        "on_end",
        "headers",
        "cookies",
        "source_ip",
        "subprotocol",
        "failure_class",
        "_ended",
        "_over",
        "opened_ns",
        "last_received_ns",
        "last_sent_ns",
        "_conn",
        "_reading",
        "_replies",
        "_typed",
        "_interrupted",
        "_deflated",
    )

    def __init__(
        self,
        url: str,
        options: SessionOptions,
        recorder: Recorder,
        *,
        on_request: RequestHook = _no_hook,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        on_message: Callable[[Any], None] | None = None,
        source_ip: str = "",
        on_end: Callable[[Session], None] | None = None,
    ) -> None:
        self.url = url
        self.options = options
        self.recorder = recorder
        self.on_request = on_request
        self.on_message = on_message
        self.on_end = on_end
        self.headers = headers if headers is not None else options.headers
        self.cookies = cookies if cookies is not None else dict(options.cookies)
        self.source_ip = source_ip
        self.subprotocol: str | None = None
        self.failure_class: str | None = None  # the class of a failed handshake
        self._ended: Event | None = None  # created when someone waits for the end (most never do)
        self._over = False  # ended, or the handshake failed
        self.end: tuple[str, int, str] | None = None  # (who, code, reason)
        self.violation: ProtocolViolation | None = None
        self.opened_ns = 0
        self.ended_ns = 0
        self.last_received_ns = 0
        self.last_sent_ns = 0
        self._conn: Connection | None = None
        self._reading = False
        self._replies: Correlator[Reply] = Correlator()
        self._typed: dict[str, Reply] | None = None  # created by the first typed request
        self._orphans: dict[Reply, tuple[str, int]] | None = None  # requests whose requester was stopped
        self._sendable = False  # open, not closing, not ended, writes not failed
        self._closing: int | None = None  # the code of our close frame, once we started sending it
        self._close_sent = False  # ... and once it was written whole
        self._interrupted: bytes | None = None  # an encoded write cut short (see _write_encoded)
        self._deflated: list[tuple[int, int]] | None = None  # compressed messages not yet written

    # -- opening ---------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """Return True while the session can send."""
        return self._sendable

    def connect(self) -> bool:
        """Open the session; record success or the classified failure; never raise for network faults."""
        started = time.perf_counter_ns()
        try:
            self._conn, handshake = open_connection(
                self.url, self.options, headers=self.headers, cookies=self.cookies, source_ip=self.source_ip
            )
        except HandshakeFailure as failure:
            self.failure_class = failure.failure_class
            self.recorder.on_handshake_failure(failure.failure_class)
            elapsed_ms = (time.perf_counter_ns() - started) / 1e6
            hint = failure.hint or handshake_hint(failure.failure_class)
            hinted = HandshakeFailure(failure.failure_class, f"{failure.detail} ({hint})")
            self.on_request("connect", elapsed_ms, 0, hinted)
            self._set_over()
            return False
        if handshake.set_cookies:
            self.cookies.update(handshake.set_cookies)
        self.subprotocol = handshake.subprotocol
        self.opened_ns = self.last_received_ns = time.perf_counter_ns()
        self._sendable = True
        self.recorder.on_open(handshake.phases_us)
        if self.options.compression != "off":
            self.recorder.count("deflate_offered")
            if self._conn.deflate is not None:
                self.recorder.count("deflate_negotiated")  # the sessions the summary's ratios cover
        self.on_request("connect", handshake.phases_us["connect"] / 1000.0, 0, None)
        return True

    @property
    def ended(self) -> Event:
        """Return an ``Event`` set once the session ended (or its handshake failed)."""
        event = self._ended
        if event is None:
            event = self._ended = Event()
            if self._over:
                event.set()
        return event

    def _set_over(self) -> None:
        self._over = True
        if self._ended is not None:
            self._ended.set()

    def _typed_table(self) -> dict[str, Reply]:
        """Return the typed requests awaiting a reply (the table is created on first use)."""
        if self._typed is None:
            self._typed = {}
        return self._typed

    # -- sending ---------------------------------------------------------------------------
    @property
    def compressed(self) -> bool:
        """Return True if the session negotiated permessage-deflate."""
        return self._conn is not None and self._conn.deflate is not None

    def _encode(self, opcode: int, payload: bytes, fragment_bytes: int = 0) -> bytes:
        """Return one data message's frames, compressed when permessage-deflate was negotiated.

        Nothing is compressed for a session that cannot send: with context takeover, a message
        compressed but never sent would leave our compressor ahead of the server's decompressor.
        A compressed message's sizes wait in ``_deflated`` until its write is done: the
        compression counts are those of the messages counted as sent.
        """
        conn = self._conn
        codec = conn.deflate if conn is not None and self._sendable else None
        if codec is None:  # the hot path: straight to the frame when it is one
            return (
                encode_frame(opcode, payload)
                if fragment_bytes <= 0
                else encode_message(opcode, payload, fragment_bytes)
            )
        wire = codec.compress(payload)
        if self._deflated is None:
            self._deflated = []
        self._deflated.append((len(payload), len(wire)))
        return encode_message(opcode, wire, fragment_bytes, rsv1=True)

    def _count_deflated(self, messages: int) -> int:
        """Count the first ``messages`` compressed messages waiting as sent; return their payload bytes."""
        deflated = self._deflated
        if not deflated:
            return 0
        done, self._deflated = deflated[:messages], deflated[messages:] or None
        payload = sum(size for size, _ in done)
        self.recorder.count("deflate_payload_sent", payload)
        self.recorder.count("deflate_wire_sent", sum(wire for _, wire in done))
        return payload

    def _count_inflated(self, codec: Deflate) -> None:
        """Hand the received compression byte counts since the last call to the recorder."""
        if codec.wire_received:
            self.recorder.count("deflate_payload_received", codec.payload_received)
            self.recorder.count("deflate_wire_received", codec.wire_received)
            codec.payload_received = codec.wire_received = 0

    def _write(self, payload: bytes, opcode: int, fin: int = 1) -> tuple[int, int, int] | None:
        """Write one frame; return ``(payload bytes, µs blocked, queue bytes)``, or None if it failed.

        A data message (``fin``) is compressed when the session negotiated permessage-deflate.
        """
        if opcode <= OP_BINARY and fin:
            frame = self._encode(opcode, payload)
        else:
            frame = encode_frame(opcode, payload, fin=bool(fin))
        written = self._write_encoded(frame)
        return None if written is None else (len(payload), *written)

    def _write_encoded(self, data: bytes, messages: int = 1) -> tuple[int, int] | None:
        """Write encoded frames with one send; return ``(µs blocked, queue bytes)``, or None.

        The one place a data write can fail: a session that is not open counts ``messages``
        sends on a closed session; a failed write is handled by :meth:`_write_failed`. A write
        that something interrupts (the greenlet of a stopping user killed inside ``send``, a
        user's own ``gevent.Timeout``) may leave a frame half-written: it is kept, finished before
        any other frame (or the connection aborted), and its messages are counted then.
        """
        conn = self._conn
        if not self._sendable or conn is None:
            self.recorder.count("send_on_closed", messages)
            return None
        if self._interrupted is not None and not self._finish_interrupted(
            self.options.send_timeout_s, "send_timeout"
        ):
            return None
        try:
            written = conn.send_encoded(data)
        except ConnectionEnded as ended:
            self._deflated = None  # not counted as sent, as the messages are not
            self._write_failed(ended)
            return None
        except BaseException:
            if conn.unsent is not None:
                self._interrupted = data  # its compressed messages wait in _deflated
            else:
                self._deflated = None
            raise
        self.last_sent_ns = time.perf_counter_ns()
        if self._deflated is not None:
            self._count_deflated(len(self._deflated))
        return written

    def _write_failed(self, ended: ConnectionEnded) -> None:
        """Handle a failed write: a timed-out one ends the session, a reset one stops the writes.

        A write that timed out may have left half a frame on the wire: the stream is unusable and
        the session ends (abnormal, ``send_timeout``). A reset means the server has gone, but what
        it sent last (its close frame, maybe) may still be waiting to be read: nothing more is
        written and the reader decides how the session ended.
        """
        if ended.stall_us:
            self.recorder.on_send_stall(ended.stall_us, ended.queue_bytes)
        self._sendable = False
        if ended.reason != "reset":
            self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, ended.reason)

    def _finish_interrupted(self, timeout_s: float, abort_reason: str) -> bool:
        """Finish writing an interrupted write and count its messages; False if the session ended.

        When the rest cannot be written within ``timeout_s``, the connection is aborted (abnormal,
        ``abort_reason``), never followed by another frame, and the messages written whole count.
        """
        conn, data = self._conn, self._interrupted
        assert conn is not None and data is not None
        try:
            stall_us, queue_bytes = conn.send_encoded(b"", timeout_s)
        except ConnectionEnded as ended:
            reason = abort_reason if ended.reason == "send_timeout" else ended.reason
            self._sendable = False
            self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, reason)
            return False
        self._interrupted = None
        messages, size = sent_messages(data, len(data))
        if self._deflated is not None:  # the sizes on the wire were compressed ones
            size = self._count_deflated(messages)
        if messages:
            self.recorder.on_send_batch(messages, size, stall_us, queue_bytes)
        self.last_sent_ns = time.perf_counter_ns()
        return True

    def _count_interrupted(self, conn: Connection) -> None:
        """Count the messages an interrupted write got out whole before the session ended."""
        data, self._interrupted = self._interrupted, None
        if data is None:
            return
        unsent = conn.unsent
        written = len(data) - (len(unsent) if unsent is not None and unsent.obj is data else 0)
        messages, size = sent_messages(data, written)
        if self._deflated is not None:
            size = self._count_deflated(messages)
            self._deflated = None
        self.recorder.count("messages_sent", messages)
        self.recorder.count("bytes_sent", size)

    def _send(self, payload: bytes, opcode: int) -> bool:
        """Send one data message in one frame and record it."""
        written = self._write(payload, opcode)
        if written is None:
            return False
        self.recorder.on_send(*written)
        return True

    def send_text(self, text: str) -> bool:
        """Send a text message; return False (and count it) if the session is not open."""
        return self._send(text.encode("utf-8"), OP_TEXT)

    def send_binary(self, data: bytes) -> bool:
        """Send a binary message; return False (and count it) if the session is not open."""
        return self._send(data, OP_BINARY)

    def send_json(self, obj: Any) -> bool:
        """Send ``obj`` as a JSON text message (orjson)."""
        return self._send(orjson.dumps(obj), OP_TEXT)

    def send_fragmented(self, data: bytes, *, fragment_bytes: int, binary: bool = False) -> bool:
        """Send one message split into frames of at most ``fragment_bytes`` (one write)."""
        written = self._write_encoded(self._encode(OP_BINARY if binary else OP_TEXT, data, fragment_bytes))
        if written is None:
            return False
        self.recorder.on_send(len(data), *written)
        return True

    # -- reading (the engine) --------------------------------------------------------------
    def start_reading(self) -> None:
        """Hand the open session to the engine: from now on the hub reads it (idempotent)."""
        conn = self._conn
        if conn is None or self._reading or self.end is not None:
            return
        self._reading = True
        conn.start_reading(self._on_readable)
        if conn.parser.buffered_bytes():  # frames that came with the upgrade's answer
            get_hub().loop.run_callback(self._drain, conn)

    def read_until_end(self) -> tuple[str, int, str]:
        """Start reading (if not yet) and wait until the session ends; return ``(who, code, reason)``."""
        assert self._conn is not None, "read_until_end() before a successful connect()"
        self.start_reading()
        self.ended.wait()
        assert self.end is not None
        return self.end

    def _on_readable(self) -> None:
        """The socket is readable (called by the hub): read what arrived and dispatch it."""
        conn = self._conn
        if conn is None or self.end is not None:
            return
        try:
            data = conn.read()
        except ConnectionEnded as ended:
            self._transport_ended(ended.reason)
            return
        if data is None:
            return
        if not data:
            self._transport_ended("eof")
            return
        conn.parser.feed(data)
        self._drain(conn)

    def _transport_ended(self, reason: str) -> None:
        if self._close_sent:  # we closed first; the peer just hung up
            self._finish(close_codes.CLIENT, self._closing or 1000, "")
        else:
            self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, reason)

    def _drain(self, conn: Connection) -> None:
        """Dispatch every whole message the parser holds (a woken requester may end the session)."""
        parser = conn.parser
        try:
            while self.end is None:
                try:
                    message = parser.next_message()
                except ProtocolViolation as violation:
                    conn.stop_reading()  # the stream is beyond parsing: read nothing more
                    gevent.spawn(self._violated, violation)  # it writes a close frame: may wait
                    return
                if message is None:
                    return
                opcode, data = message
                now_ns = time.perf_counter_ns()
                if opcode <= OP_BINARY:  # text or binary: the parser never returns a continuation
                    self.last_received_ns = now_ns
                    self._on_data(data, opcode == OP_TEXT, now_ns)
                elif opcode == OP_CLOSE:  # not activity: the idle age is until the closing handshake
                    self._on_close_frame(data)
                else:
                    self.last_received_ns = now_ns
                    if opcode == OP_PONG:
                        self._on_pong(data, now_ns)
                    elif self._sendable and self._interrupted is None:  # never after our close frame
                        self._pong(data)
        except Exception:  # a bug in a callback or in our dispatch: end the session visibly
            logger.exception("reading a session failed; it is ended as abnormal")
            self.declare_dead("error")
        finally:
            if conn.deflate is not None:
                self._count_inflated(conn.deflate)
            wake_answered()  # only now: every frame this read brought has been dispatched

    def _pong(self, payload: bytes) -> None:
        """Answer a ping from the hub at once when the socket takes it, else from a greenlet."""
        conn = self._conn
        assert conn is not None
        frame = encode_frame(OP_PONG, payload)
        if conn.writable_now():
            try:
                done = conn.try_send(frame)
            except ConnectionEnded as ended:
                self._write_failed(ended)
                return
            if done == ALL:
                return
            if done == STARTED:  # half a pong on the wire: a greenlet finishes it first
                gevent.spawn(self._write_later, b"")
                return
        gevent.spawn(self._write_later, frame)

    def _write_later(self, frame: bytes) -> None:
        """Write a control frame the hub could not (``b""``: finish the one it started)."""
        conn = self._conn
        if conn is None or (frame and not (self._sendable and self._interrupted is None)):
            return
        try:
            conn.send_encoded(frame)
        except ConnectionEnded as ended:
            self._write_failed(ended)

    @property
    def idle_age_s(self) -> float:
        """Return how long the session has been (or was, at its end) without a frame either way."""
        if not self.opened_ns:
            return 0.0
        last = max(self.last_sent_ns, self.last_received_ns, self.opened_ns)
        return ((self.ended_ns or time.perf_counter_ns()) - last) / 1e9

    @property
    def lifetime_s(self) -> float:
        """Return how long the session has been (or was) open."""
        if not self.opened_ns:
            return 0.0
        return ((self.ended_ns or time.perf_counter_ns()) - self.opened_ns) / 1e9
