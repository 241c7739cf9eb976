"""What the three protocol users share: replies awaited by key, Locust rows, counters, keepalives.

A protocol layer uses only the public session API: it writes with ``send_text``/``send_binary``
and reads everything in ``on_message`` (which the session's reader calls). A request registers
a key (an ack id, a receipt id, ``"connect"``...), sends, and parks on a gevent event until the
reader answers that key, the session ends or the reply timeout passes; every request ends
exactly once, as the engine's do (docs/core.md, "Requests and Locust's rows"):

- answered: a Locust success whose response time is the round trip, measured when the reader
  saw the reply (and, for requests with an RTT, one value in ``rtt_ms``);
- answered with the protocol's error (a STOMP ``ERROR``, a Socket.IO connect error): a failure
  whose message is the server's (:class:`ProtocolError`);
- no answer in time (``ReplyTimeout``, ``errors.reply_timeouts``) or the session ended first
  (``SessionEnded``): a failure;
- its user was stopped while it waited: the key stays, so a reply that still comes while the
  session closes is reported by the reader; those left when the session has ended count in
  ``errors.outstanding_at_end``, as the engine's own requests do (and so does a request of
  ``on_session_open`` whose session the stop closed).

Counters go to the recorder as ``<protocol>_<name>`` (the summary's ``protocols`` section).
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import gevent
from gevent.event import Event

from loadtest.errors import LoadtestError
from loadtest.plugin.user import WebSocketUser
from loadtest.session import ReplyTimeout, Session, SessionEnded

__all__ = ["ProtocolError", "ProtocolUser"]

logger = logging.getLogger(__name__)

#: More replies awaited at once than this is a locustfile bug (a loop without waits).
MAX_WAITS = 10_000


class ProtocolError(LoadtestError):
    """The server answered with an error of its protocol; the text is the server's message."""


class _Wait:
    """One awaited reply: its row name, when it was sent, and what the reader found."""

    __slots__ = (
        "name",
        "sent_ns",
        "started_ns",
        "size",
        "rtt",
        "event",
        "answered_ns",
        "reply",
        "error",
        "orphan",
    )

    def __init__(self, name: str, size: int, rtt: bool) -> None:
        self.name = name
        self.sent_ns = self.started_ns = time.perf_counter_ns()  # the row may start earlier
        self.size = size
        self.rtt = rtt  # its round trip goes to rtt_ms
        self.event = Event()
        self.answered_ns = 0
        self.reply: Any = None
        self.error: str | None = None
        self.orphan = False  # its requester was stopped: the reader reports it


class ProtocolUser(WebSocketUser):
    """A WebSocket user speaking a protocol over its session (see the module docstring).

    Class attributes:
        protocol: the prefix of its Locust rows and counters (``socketio``, ``graphql``, ``stomp``).
        embedded_dialect: what the embedded target must speak for this class (``--dialect``).
    """

    abstract = True
    protocol: ClassVar[str] = ""
    embedded_dialect: ClassVar[str] = ""
    sessions_per_user: ClassVar[int | None] = 1  # its protocol state is one session's

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._waits: dict[object, _Wait] = {}
        self._state_of: Session | None = None  # the session the per-session state belongs to
        self._keepalive: gevent.Greenlet | None = None
        #: set when the user is being stopped: a session that ends from now on was ended by us
        self.stopping = False

    # -- per-session state: messages can arrive before on_session_open runs ----------------------
    def session_state(self) -> Session | None:
        """Return the current session, starting fresh protocol state when it is a new one."""
        session = self.ws
        if session is not None and session is not self._state_of:
            self._state_of = session
            self.new_session(session)
        return session

    def new_session(self, session: Session) -> None:
        """Reset the protocol's per-session state (subclasses extend it)."""

    # -- rows and counters -----------------------------------------------------------------------
    def fire(
        self, op: str, response_time_ms: float, length: int = 0, exc: BaseException | None = None
    ) -> None:
        """Report a Locust row named ``<protocol> <op>``."""
        self.record_request(f"{self.protocol} {op}", response_time_ms, length, exc)

    def count(self, name: str, n: int = 1) -> None:
        """Add to the counter ``<protocol>_<name>`` (the summary's ``protocols.<protocol>.<name>``)."""
        self.recorder.count(f"{self.protocol}_{name}", n)

    @staticmethod
    def opened_ns(session: Session) -> int:
        """Return when ``session`` opened, on the ``perf_counter_ns`` clock (from its documented lifetime)."""
        return time.perf_counter_ns() - int(session.lifetime_s * 1e9)

    def fail_since(self, op: str, started_ns: int, exc: BaseException) -> None:
        """Report a failed row whose response time runs from ``started_ns`` until now."""
        self.fire(op, (time.perf_counter_ns() - started_ns) / 1e6, 0, exc)

    # -- request and reply -----------------------------------------------------------------------
    def exchange(
        self,
        session: Session,
        key: object,
        message: str | bytes,
        op: str,
        *,
        rtt: bool = True,
        timeout_s: float | None = None,
        counter: str = "",
        since_ns: int = 0,
        end_answers: bool = False,
    ) -> Any:
        """Send ``message`` and wait for the reply the reader files under ``key`` (see the module docstring).

        Args:
            rtt: record the round trip in ``rtt_ms`` (requests); False for the protocol's opening.
            counter: a counter to add one to once the message is sent.
            since_ns: the row's response time starts here instead of at the send (``perf_counter_ns``).
            end_answers: the server's normal close (1000, 1001) answers it too (a goodbye).

        Returns the reply, or None after a recorded failure.
        """
        if len(self._waits) >= MAX_WAITS:
            raise OverflowError(f"more than {MAX_WAITS} {self.protocol} replies awaited at once")
        if not session.is_open:  # as the engine's requests: counted, not a row (a stop, usually)
            self.recorder.count("send_on_closed")
            return None
        wait = self._waits[key] = _Wait(op, len(message), rtt)
        wait.started_ns = since_ns or wait.sent_ns
        sent = session.send_text(message) if isinstance(message, str) else session.send_binary(message)
        if not sent:
            self._waits.pop(key, None)
            self.fail_since(
                op, wait.started_ns, SessionEnded("the session ended before the request was sent")
            )
            return None
        if counter:
            self.count(counter)
        try:
            gevent.wait(
                [wait.event, session.ended], timeout=timeout_s or self.options.reply_timeout_s, count=1
            )
        except BaseException:  # stopped while waiting: the reader reports a reply that still comes
            if wait.event.is_set():
                self._report(wait)
            else:
                wait.orphan = True
            raise
        return self._settle(key, wait, session, end_answers)

    def _settle(self, key: object, wait: _Wait, session: Session, end_answers: bool = False) -> Any:
        if wait.event.is_set():
            return self._report(wait)
        self._waits.pop(key, None)
        if (
            end_answers
            and session.end is not None
            and session.end[:2] in (("server", 1000), ("server", 1001))
        ):
            self.fire(wait.name, (time.perf_counter_ns() - wait.started_ns) / 1e6, 0)
            return None
        if session.end is not None and self.stopping:  # ended by our stop: neither success nor failure
            self.recorder.count("outstanding_at_end")
            return None
        if session.end is not None:
            who, code, reason = session.end
            detail = f"{who} {code}{' ' + reason if reason else ''}"
            self.fail_since(
                wait.name, wait.started_ns, SessionEnded(f"the session ended ({detail}) before the reply")
            )
        else:
            self.recorder.count("reply_timeouts")
            self.fail_since(wait.name, wait.started_ns, ReplyTimeout("no reply within the timeout"))
        return None

    def _report(self, wait: _Wait) -> Any:
        elapsed_ms = (wait.answered_ns - wait.started_ns) / 1e6
        if wait.error is not None:
            self.fire(wait.name, elapsed_ms, 0, ProtocolError(wait.error))
            return None
        self.fire(wait.name, elapsed_ms, wait.size)
        return wait.reply

    def answer(self, key: object, reply: Any = True, *, error: str | None = None) -> bool:
        """File the reply (or the server's error) for ``key``; return False if nobody awaits it.

        Called by the reader (``on_message``): the round trip ends now.
        """
        wait = self._waits.pop(key, None)
        if wait is None:
            return False
        wait.answered_ns = now_ns = time.perf_counter_ns()
        wait.reply, wait.error = reply, error
        if wait.rtt and error is None:
            self.recorder.on_rtt((now_ns - wait.sent_ns) // 1000)
        wait.event.set()
        if wait.orphan:
            self._report(wait)
        return True

    def fail_waiting(self, error: str) -> int:
        """Answer every awaited reply with the server's ``error`` (its protocol is over); return how many."""
        keys = [key for key, wait in self._waits.items() if not wait.orphan]
        for key in keys:
            self.answer(key, error=error)
        return len(keys)

    def awaits(self, key: object) -> bool:
        """Return True while a reply is awaited under ``key``."""
        return key in self._waits

    # -- keepalive, goodbye and the stop -----------------------------------------------------------
    def keep_alive(self, session: Session, interval_s: float) -> None:
        """Call :meth:`tick` every ``interval_s`` until the session ends (protocol heartbeats)."""

        def beat() -> None:
            while not session.ended.wait(interval_s):
                self.tick(session)

        if self._keepalive is not None:
            self._keepalive.kill(block=False)
        self._keepalive = gevent.spawn(beat)

    def tick(self, session: Session) -> None:
        """Send a heartbeat or check the peer's (subclasses)."""

    def goodbye(self, session: Session, timeout_s: float) -> None:
        """End the protocol politely before the WebSocket closes (subclasses; bounded by ``timeout_s``)."""

    def on_stop(self) -> None:
        """Say goodbye within half the close timeout, close the session, count what is left unanswered."""
        self.stopping = True
        if self._keepalive is not None:  # first: no heartbeat may follow the goodbye
            self._keepalive.kill(block=True, timeout=self.options.close_timeout_s / 4)
        session = self.ws
        if session is not None and session.is_open:
            self.goodbye(session, self.options.close_timeout_s / 2)
        super().on_stop()
        left = self.unanswered()
        if left:
            self.recorder.count("outstanding_at_end", left)
        self._waits.clear()

    def unanswered(self) -> int:
        """Return the requests unanswered once the stopped user's session ended (subclasses add theirs)."""
        return sum(1 for wait in self._waits.values() if wait.orphan)
