"""One WebSocket session: open, read, send, correlate, ping, close; every outcome a sample.

This is the gevent I/O layer over the sans-I/O parts (:mod:`loadtest.correlation`,
:mod:`loadtest.metrics`). A session is opened once and ends once; reconnecting makes a new
session (see :class:`loadtest.plugin.user.WebSocketUser`). Exactly one greenlet reads a session:
the one that calls :meth:`Session.read_until_end`. It answers pings, matches replies and pongs,
counts messages and records who ended the session, with which code.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

import orjson
from gevent import get_hub
from gevent.event import Event

from loadtest.config import SessionOptions
from loadtest.correlation import Correlator
from loadtest.errors import ConnectionEnded, HandshakeFailure
from loadtest.exchange import Exchanges, Reply, ReplyTimeout, SessionEnded
from loadtest.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    ProtocolViolation,
    encode_frame,
    encode_message,
)
from loadtest.metrics import close_codes
from loadtest.metrics.handshake import hint as handshake_hint
from loadtest.metrics.recorder import Recorder
from loadtest.transport import Connection, open_connection

#: ``(name, response_time_ms, response_length, exception or None)``, fed to Locust's request event.
RequestHook = Callable[[str, float, int, BaseException | None], None]


_NO_FRAGMENTS: list[bytes] = []  # shared and never mutated: a fragment sequence starts a new list

__all__ = ["ReplyTimeout", "Session", "SessionEnded"]


def _no_hook(name: str, response_time_ms: float, length: int, exc: BaseException | None) -> None:
    return None


class Session(Exchanges):
    """A single WebSocket session.

    Args:
        url: the ``ws://`` or ``wss://`` URL (already validated, token already in the query if so).
        options: connection and measurement options.
        recorder: where samples go.
        on_request: called for Locust-visible operations (``connect``, ``echo``, ``ping`` ...).
        headers, cookies: handshake headers and this user's cookie jar (updated in place).
        on_message: called with every data message that is not a reply to a request.
    """

    # Slots: an idle session's memory is the budget of a soak with tens of thousands of them.
    __slots__ = (
        "url",
        "options",
        "recorder",
        "on_request",
        "on_message",
        "headers",
        "cookies",
        "source_ip",
        "subprotocol",
        "failure_class",
        "ended",
        "end",
        "opened_ns",
        "ended_ns",
        "last_received_ns",
        "last_sent_ns",
        "_conn",
        "_hub",
        "_replies",
        "_typed",
        "_close_sent_code",
        "_fragments",
        "_fragment_opcode",
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
    ) -> None:
        self.url = url
        self.options = options
        self.recorder = recorder
        self.on_request = on_request
        self.on_message = on_message
        self.headers = headers if headers is not None else options.headers
        self.cookies = cookies if cookies is not None else dict(options.cookies)
        self.source_ip = source_ip
        self.subprotocol: str | None = None
        self.failure_class: str | None = None  # the class of a failed handshake
        self.ended = Event()
        self.end: tuple[str, int, str] | None = None  # (who, code, reason)
        self.opened_ns = 0
        self.ended_ns = 0
        self.last_received_ns = 0
        self.last_sent_ns = 0
        self._conn: Connection | None = None
        self._hub = get_hub()
        self._replies: Correlator[Reply] = Correlator()
        self._typed: dict[str, Reply] = {}
        self._close_sent_code: int | None = None
        self._fragments: list[bytes] = _NO_FRAGMENTS
        self._fragment_opcode = 0

    # -- opening ---------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """Return True while the session can send."""
        return self._conn is not None and self.end is None and self._close_sent_code is None

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
            hinted = HandshakeFailure(
                failure.failure_class, f"{failure.detail} ({handshake_hint(failure.failure_class)})"
            )
            self.on_request("connect", elapsed_ms, 0, hinted)
            self.ended.set()
            return False
        if handshake.set_cookies:
            self.cookies.update(handshake.set_cookies)
        self.subprotocol = handshake.subprotocol
        self.opened_ns = self.last_received_ns = time.perf_counter_ns()
        self.recorder.on_open(handshake.phases_us)
        self.on_request("connect", handshake.phases_us["connect"] / 1000.0, 0, None)
        return True

    # -- sending ---------------------------------------------------------------------------
    def _write(self, payload: bytes, opcode: int, fin: int = 1) -> tuple[int, int, int] | None:
        """Write one frame; return ``(payload bytes, µs blocked, queue bytes)``, or None if it failed."""
        written = self._write_encoded(encode_frame(opcode, payload, fin=bool(fin)))
        return None if written is None else (len(payload), *written)

    def _write_encoded(self, data: bytes, messages: int = 1) -> tuple[int, int] | None:
        """Write encoded frames with one send; return ``(µs blocked, queue bytes)``, or None.

        The one place a data write can fail: a session that is not open counts ``messages``
        sends on a closed session; a failed or timed-out send ends the session as abnormal.
        """
        conn = self._conn
        if conn is None or not self.is_open:
            self.recorder.count("send_on_closed", messages)
            return None
        try:
            written = conn.send_encoded(data)
        except ConnectionEnded as ended:
            if ended.stall_us:
                self.recorder.on_send_stall(ended.stall_us, ended.queue_bytes)
            self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, ended.reason)
            return None
        self.last_sent_ns = time.perf_counter_ns()
        return written

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
        written = self._write_encoded(encode_message(OP_BINARY if binary else OP_TEXT, data, fragment_bytes))
        if written is None:
            return False
        self.recorder.on_send(len(data), *written)
        return True

    def read_until_end(self) -> tuple[str, int, str]:
        """Read frames until the session ends; return ``(who, code, reason)``."""
        conn = self._conn
        assert conn is not None, "read_until_end() before a successful connect()"
        recorder = self.recorder
        while self.end is None:
            try:
                frame = conn.recv_frame()
            except ConnectionEnded as ended:
                if self._close_sent_code is not None:  # we closed first; the peer just hung up
                    self._finish(close_codes.CLIENT, self._close_sent_code, "")
                else:
                    self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, ended.reason)
                break
            except ProtocolViolation:
                recorder.count("bad_frames")
                self.close(1002, "protocol error", wait=False)
                break
            now_ns = time.perf_counter_ns()
            fin, opcode, data = frame
            if opcode != OP_CLOSE:  # the closing handshake is not activity: idle age is until it
                self.last_received_ns = now_ns
            if opcode in (OP_TEXT, OP_BINARY) or opcode == OP_CONT:
                if (opcode == OP_CONT) == (self._fragments is _NO_FRAGMENTS):
                    # a continuation with nothing to continue, or a new message inside one
                    recorder.count("bad_frames")
                    self.close(1002, "bad fragmentation", wait=False)
                    break
                if opcode != OP_CONT and fin:
                    self._on_data(data, opcode == OP_TEXT, now_ns)
                elif opcode != OP_CONT:
                    self._fragments, self._fragment_opcode = [data], opcode
                else:
                    self._fragments.append(data)
                    if fin:
                        message, self._fragments = b"".join(self._fragments), _NO_FRAGMENTS
                        self._on_data(message, self._fragment_opcode == OP_TEXT, now_ns)
            elif opcode == OP_PING:
                self._send_control(data, OP_PONG)
            elif opcode == OP_PONG:
                self._on_pong(data, now_ns)
            elif opcode == OP_CLOSE:
                self._on_close_frame(data)
        assert self.end is not None
        return self.end

    def _on_close_frame(self, data: bytes) -> None:
        code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else close_codes.NO_STATUS
        reason = data[2:].decode("utf-8", "replace")
        if self._close_sent_code is not None:  # the answer to our close
            self._finish(close_codes.CLIENT, self._close_sent_code, "")
            return
        # The server closed first: echo its code, as RFC 6455 asks, then hang up.
        self._send_control(data[:2] if code != close_codes.NO_STATUS else b"", OP_CLOSE)
        self._finish(close_codes.SERVER, code, reason)

    def _send_control(self, payload: bytes, opcode: int) -> None:
        if self._conn is None or self.end is not None:
            return
        try:
            self._conn.send(payload, opcode)
        except ConnectionEnded as ended:
            self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, ended.reason)

    # -- ending ----------------------------------------------------------------------------
    def close(self, code: int = 1000, reason: str = "", *, wait: bool = True) -> None:
        """Send a close frame (once) and wait up to the close timeout for the server's answer."""
        if self.end is not None or self._conn is None:
            return
        if self._close_sent_code is None:
            payload = struct.pack("!H", code) + reason.encode("utf-8")[:123]
            self._close_sent_code = code
            try:
                self._conn.send(payload, OP_CLOSE)
            except ConnectionEnded:
                self._finish(close_codes.CLIENT, code, "")
                return
        if wait and not self.ended.wait(self.options.close_timeout_s):
            self._finish(close_codes.CLIENT, code, "")  # we closed first; the server never answered
        elif not wait:
            self._finish(close_codes.CLIENT, code, "")

    def declare_dead(self, reason: str = "dead") -> None:
        """End the session as abnormal (1006) without a close frame: it is half-open or unusable."""
        self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, reason)

    def _finish(self, who: str, code: int, reason: str) -> None:
        if self.end is not None:
            return
        self.end = (who, code, reason)
        self.ended_ns = time.perf_counter_ns()
        self.recorder.on_close(
            who, code, reason, lifetime_us=int(self.lifetime_s * 1e6), idle_us=int(self.idle_age_s * 1e6)
        )
        if self._conn is not None:
            self._conn.close()
        ended = SessionEnded("the session ended before the reply")
        self._replies.fail_all(lambda waiter: waiter.set(ended))
        for waiter in self._typed.values():
            waiter.set(ended)
        self._typed.clear()
        self.ended.set()

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
