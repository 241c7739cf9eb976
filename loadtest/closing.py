"""The end of a session: the closing handshake, stops and protocol violations.

A mixin of :class:`loadtest.session.Session` (kept apart so each module reads in one sitting).
Every session that opened ends exactly once, through :meth:`Closing._finish`, as ``server``,
``client`` or ``abnormal`` (see :mod:`loadtest.metrics.close_codes`). The rules (RFC 6455 §5.5.1,
§7; docs/core.md):

* once the server's close frame is read, the session ended as the server's close with that
  code, whatever happens to our echo of it (recorded first, echoed after);
* after our own close frame nothing is sent (no data, no pong) except what finishes it;
* a server that breaks the protocol gets our close with 1002 (1007 for invalid UTF-8, 1009 for a
  message over the limit) without waiting, and :attr:`violation` says what it did;
* a stop has one budget, the close timeout: a frame the stop cut in half is finished or the
  connection aborted (``stopped_mid_send``), never followed by another frame, and a close under
  way keeps waiting for its answer until the deadline.
"""

from __future__ import annotations

import contextlib
import struct
import time
from typing import TYPE_CHECKING

import gevent

from loadtest.engine import in_hub
from loadtest.errors import ConnectionEnded
from loadtest.exchange import Reply, SessionEnded
from loadtest.frames import OP_CLOSE, ProtocolViolation, encode_frame, parse_close, valid_close_code
from loadtest.metrics import close_codes
from loadtest.transport import ALL, NOTHING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from gevent.event import Event

    from loadtest.config import SessionOptions
    from loadtest.correlation import Correlator
    from loadtest.metrics.recorder import Recorder
    from loadtest.transport import Connection

#: The error counter a violation adds to, by the close code it is answered with.
_VIOLATION_COUNTERS = {1002: "bad_frames", 1007: "bad_utf8"}


def _close_payload(code: int, reason: str) -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class Closing:
    """Closing, stopping and ending methods of a session (see the module docstring)."""

    # The state this part writes lives here (set up by Session.__init__); slots keep an idle
    # session small.
    __slots__ = ("end", "violation", "ended_ns", "_orphans", "_sendable", "_closing", "_close_sent")
    end: tuple[str, int, str] | None  # (who, code, reason)
    violation: ProtocolViolation | None
    ended_ns: int
    _orphans: dict[Reply, tuple[str, int]] | None  # requests whose requester was stopped
    _sendable: bool  # open, not closing, not ended, writes not failed
    _closing: int | None  # the code of our close frame, once we started sending it
    _close_sent: bool  # ... and once it was written whole

    if TYPE_CHECKING:
        options: SessionOptions
        recorder: Recorder

        @property
        def ended(self) -> Event: ...
        def _set_over(self) -> None: ...

        on_end: Callable[[Any], None] | None
        _conn: Connection | None
        _replies: Correlator[Reply]
        _typed: dict[str, Reply] | None
        _interrupted: bytes | None

        @property
        def lifetime_s(self) -> float: ...
        @property
        def idle_age_s(self) -> float: ...
        def _finish_interrupted(self, timeout_s: float, abort_reason: str) -> bool: ...
        def _count_interrupted(self, conn: Connection) -> None: ...

    def _on_close_frame(self, data: bytes) -> None:
        code, reason = parse_close(data)  # the parser has checked it: no violation here
        if self._close_sent:  # the answer to our close
            self._finish(close_codes.CLIENT, self._closing or 1000, "")
            return
        # The server closed first: that is how the session ended, whatever happens to the echo
        # of its code (RFC 6455 §5.5.1), which is not sent if our own close is under way.
        self._finish(close_codes.SERVER, code, reason, echo=data[:2] if self._closing is None else None)

    def _violated(self, violation: ProtocolViolation) -> None:
        """Fail the connection (RFC 6455 §7.1.7): close with the violation's code, without waiting.

        From the hub (the read callback, where violations are found) reading stops at once and the
        close is claimed there, so that nothing else (a stop, a task's close) can close with
        another code meanwhile; the frame is written at once when the socket takes it whole, else
        by a greenlet.
        """
        conn = self._conn
        if conn is None or self.end is not None or self._closing is not None:
            return  # already ending another way (our close, a stop): that is how it ends
        self.violation = violation
        counter = _VIOLATION_COUNTERS.get(violation.code)
        if counter:
            self.recorder.count(counter)
        code, reason = violation.code, close_codes.meaning(violation.code)
        deadline = time.monotonic() + self.options.close_timeout_s
        if not in_hub():
            self._close(code, reason, False, deadline, "send_timeout")
            return
        conn.stop_reading()  # the stream is beyond parsing: read nothing more
        self._closing, self._sendable = code, False
        started = False
        if self._interrupted is None and conn.writable_now():
            try:
                done = conn.try_send(encode_frame(OP_CLOSE, _close_payload(code, reason)))
            except ConnectionEnded as ended:
                self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, ended.reason)
                return
            if done == ALL:
                self._close_sent = True
                self._finish(close_codes.CLIENT, code, "")
                self.recorder.on_close_handshake(0)  # nothing to wait for
                return
            started = done != NOTHING
        gevent.spawn(self._closing_handshake, code, reason, False, deadline, "send_timeout", started)

    def close(
        self, code: int = 1000, reason: str = "", *, wait: bool = True, timeout_s: float | None = None
    ) -> None:
        """Send a close frame (once) and wait for the server's answer.

        Args:
            code, reason: what the close frame says (the reason is cut to 123 bytes).
            wait: wait for the answer; else the connection is closed right after our frame.
            timeout_s: the budget for finishing an interrupted frame, writing ours and waiting for
                the answer (default: the close timeout). Unanswered in time, the session still
                ends as ``client`` with our code: we closed first.

        Raises:
            ValueError: ``code`` may not be sent (1004-1006, 1015, or outside 1000-1014 and 3000-4999).
        """
        if not valid_close_code(code):
            raise ValueError(
                f"close code {code} may not be sent (RFC 6455 §7.4): use 1000-1003, 1007-1014 or 3000-4999"
            )
        budget = self.options.close_timeout_s if timeout_s is None else timeout_s
        self._close(code, reason, wait, time.monotonic() + budget, "send_timeout")

    def stop(self, timeout_s: float) -> None:
        """End the session within ``timeout_s`` because its user stops; it always ends counted.

        A frame the stop cut in half is finished, then the session closes with 1000; when it
        cannot be finished in time, the connection is aborted (abnormal, ``stopped_mid_send``)
        and the messages written whole are counted. A close already under way keeps waiting for
        its answer until the deadline.
        """
        if self._conn is None or self.end is not None:
            return
        self._close(1000, "", True, time.monotonic() + timeout_s, "stopped_mid_send")
        if self.end is None:  # another greenlet is still writing our close frame
            self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, "stopped")

    def _close(self, code: int, reason: str, wait: bool, deadline: float, abort_reason: str) -> None:
        conn = self._conn
        if conn is None or self.end is not None:
            return
        if self._closing is None:
            self._closing = code
            self._sendable = False
            self._closing_handshake(code, reason, wait, deadline, abort_reason)
        else:  # a close under way (ours): wait for it to end, within this call's deadline
            self._await_close(code, wait, deadline, abort_reason, 0)

    def _closing_handshake(
        self, code: int, reason: str, wait: bool, deadline: float, abort_reason: str, started: bool = False
    ) -> None:
        """Write our close frame (the close is claimed: ``_closing`` is set), then await the answer.

        ``started``: the hub already wrote the first part of the frame; only its tail is left.
        """
        conn = self._conn
        assert conn is not None
        if self.end is not None:
            return
        fallback = abort_reason  # how the session ends if our close frame never got out whole
        sent_ns = 0
        if self._interrupted is not None and not self._finish_interrupted(_left(deadline), abort_reason):
            return
        try:
            if started:
                conn.send_encoded(b"", timeout_s=_left(deadline))
            else:
                conn.send(_close_payload(code, reason), OP_CLOSE, timeout_s=_left(deadline))
        except ConnectionEnded as ended:
            # reset: the server has gone; the reader may still find its close frame or the EOF
            fallback = abort_reason if ended.reason == "send_timeout" else ended.reason
            if ended.reason != "reset":
                wait = False
        else:
            self._close_sent = True
            sent_ns = time.perf_counter_ns()
        self._await_close(code, wait, deadline, fallback, sent_ns)

    def _await_close(self, code: int, wait: bool, deadline: float, fallback: str, sent_ns: int) -> None:
        if wait:
            self.ended.wait(_left(deadline))
        if self.end is None and self._close_sent:  # unanswered in time: we still closed first
            self._finish(close_codes.CLIENT, self._closing or code, "")
        elif self.end is None:
            self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, fallback)
        if sent_ns and self.ended_ns:  # the closing handshake this call started, answered or not
            self.recorder.on_close_handshake(max(0, self.ended_ns - sent_ns) // 1000)

    def declare_dead(self, reason: str = "dead") -> None:
        """End the session as abnormal (1006) without a close frame: it is half-open or unusable."""
        self._finish(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, reason)

    def _finish(self, who: str, code: int, reason: str, *, echo: bytes | None = None) -> None:
        if self.end is not None:
            return
        self.end = (who, code, reason)
        self._sendable = False
        self.ended_ns = time.perf_counter_ns()
        conn = self._conn
        cut = False
        if conn is not None and self._interrupted is not None:
            cut = True
            self._count_interrupted(conn)  # what got out whole; the cut frame is never finished now
        self.recorder.on_close(
            who, code, reason, lifetime_us=int(self.lifetime_s * 1e6), idle_us=int(self.idle_age_s * 1e6)
        )
        if conn is not None:
            if echo is not None and not cut:
                self._echo_close(conn, echo)
            else:
                conn.close()
        ended = SessionEnded("the session ended before the reply")
        self._replies.fail_all(lambda waiter: self._fail_waiter(waiter, ended))
        typed = list(self._typed.values()) if self._typed else []  # a woken requester pops its own
        if self._typed:
            self._typed.clear()
        for waiter in typed:
            waiter.set(ended, defer=True)
        self._set_over()
        if self.on_end is not None:
            self.on_end(self)

    def _echo_close(self, conn: Connection, echo: bytes) -> None:
        """Echo the server's close code, then close the socket.

        The server's close is recorded already: an echo that cannot be written changes nothing
        (RFC 6455 §7.1.1 lets us just close the connection). From the hub (the read callback, where
        a server's close frame is read) it is written at once when the socket takes it whole,
        else by a greenlet that may wait up to the close timeout.
        """
        frame = encode_frame(OP_CLOSE, echo)
        if in_hub():
            conn.stop_reading()
            if conn.writable_now():
                try:
                    done = conn.try_send(frame)
                except ConnectionEnded:
                    done = ALL  # the server has gone: nothing more to write
                if done == ALL:
                    conn.close()
                    return
                frame = b""  # STARTED: the greenlet finishes it; NOTHING: it writes it all
                if done == NOTHING:
                    frame = encode_frame(OP_CLOSE, echo)
            gevent.spawn(self._echo_then_close, conn, frame)
            return
        self._echo_then_close(conn, frame)

    def _echo_then_close(self, conn: Connection, frame: bytes) -> None:
        with contextlib.suppress(ConnectionEnded):
            conn.send_encoded(frame, timeout_s=self.options.close_timeout_s)
        conn.close()

    def _adopt(self, waiter: Reply, name: str, size: int) -> None:
        """Make a request whose requester was stopped an orphan the reader reports (see exchange)."""
        if self._orphans is None:
            self._orphans = {}  # created on first use: most sessions never need it
        self._orphans[waiter] = (name, size)

    def _fail_waiter(self, waiter: Reply, ended: SessionEnded) -> None:
        if self._orphans is not None and self._orphans.pop(waiter, None) is not None:
            self.recorder.count("outstanding_at_end")  # no one waits for it: the stop ended it
        else:
            waiter.set(ended, defer=True)
