"""Request/reply over a session: correlation ids, pipelined bursts, typed replies, pings.

A mixin of :class:`loadtest.session.Session` (kept apart so each module reads in one sitting).
Replies are matched by the ``id`` of a JSON message (or of each element of a JSON array, for
batched messages), by an 8-byte id after a magic prefix in binary messages, and pongs by their
payload. Every round trip is recorded twice where a schedule is given: from the actual send
(raw RTT) and from the scheduled send time (so a stalled sender cannot hide its own delay).

Every request ends exactly once, in one of four ways (docs/core.md, "Requests and Locust's rows"):
its reply is matched (a Locust success, and one RTT in ``rtt_ms`` or ``ping_rtt_ms``); no reply
within the timeout (a Locust failure, ``reply_timeouts``/``ping_timeouts``); its session ended
first (a Locust failure); or its session ended while its requester, stopped with its user, no
longer waited (``errors.outstanding_at_end``, no Locust row). A reply that comes after its
requester was stopped but before the session ended is still a round trip: the reader reports it.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from gevent import get_hub
from greenlet import getcurrent

from loadtest.engine import in_hub, wheel
from loadtest.errors import LoadtestError
from loadtest.frames import OP_BINARY, OP_PING, OP_TEXT, ProtocolViolation

if TYPE_CHECKING:
    from loadtest.correlation import Correlator
    from loadtest.metrics.recorder import Recorder
    from loadtest.transport import Connection

#: Binary requests start with this, then an 8-byte big-endian id (echo servers send it back).
BINARY_MAGIC = b"\xffLT"
_BINARY_ID = struct.Struct("!Q")


class ReplyTimeout(LoadtestError):
    """No reply arrived within the reply timeout."""


class SessionEnded(LoadtestError):
    """The session ended while a request awaited its reply."""


_UNSET: Any = object()
#: What a :class:`Reply` holds until it is answered (or its deadline passed).
UNSET: Any = _UNSET


class Reply:
    """One awaited answer: the requester parks in the hub; the session's read callback wakes it.

    No ``Waiter`` and no libev timer per request: the requester switches to the hub and is
    switched back to directly, by the read callback with the answer or by the process's
    :class:`~loadtest.engine.Wheel` when its deadline passed (a set entry, not a timer).
    """

    __slots__ = ("value", "ping", "scheduled_ns", "_greenlet", "_key")

    def __init__(self, *, ping: bool = False, scheduled_ns: int = 0) -> None:
        self.value: Any = _UNSET
        self.ping = ping  # its RTT goes to the ping histogram
        self.scheduled_ns = scheduled_ns  # when the schedule wanted it sent (0: no schedule)
        self._greenlet: Any = None  # the requester while it waits
        self._key = 0  # its bucket in the wheel while it waits

    def set(self, value: Any, *, defer: bool = False) -> None:
        """Store the answer (or the exception that ended the wait) and wake the requester.

        From the read callback (the hub) the requester is switched to once the callback has
        dispatched every frame it read (:func:`wake_answered`): a close frame that came in the
        same read as a reply is the server's close before the requester can act on the reply.
        From another greenlet (a session ended by a task), or with ``defer`` (the end of a
        session, which wakes many), it is woken by a loop callback: only the hub may switch to it.
        """
        if self.value is _UNSET:
            self.value = value
            if self._greenlet is not None:
                if not defer and in_hub():
                    _ANSWERED.append(self)
                else:
                    get_hub().loop.run_callback(self._wake)

    def expire(self) -> None:
        """The deadline passed (called by the wheel, from the hub): wake the requester empty-handed."""
        self._key = 0
        self._wake()

    def _wake(self) -> None:
        glet = self._greenlet
        if glet is not None:  # still parked here (not woken already, not killed)
            self._greenlet = None
            glet.switch()

    def wait(self, deadline_ns: int) -> Any:
        """Return the answer, an exception instance, or ``_UNSET`` once ``deadline_ns`` passed."""
        if self.value is _UNSET:
            deadlines = wheel()  # a deadline already past expires at the next tick
            self._key = deadlines.add(deadline_ns, self)
            self._greenlet = getcurrent()
            try:
                get_hub().switch()
            finally:
                self._greenlet = None
                if self._key:
                    deadlines.discard(self._key, self)
                    self._key = 0
        return self.value


#: Replies answered by the read callback running now, woken when it has dispatched everything.
_ANSWERED: list[Reply] = []


def wake_answered() -> None:
    """Switch to every requester the running read callback answered (called by it, from the hub)."""
    if _ANSWERED:
        answered = _ANSWERED[:]
        _ANSWERED.clear()
        for reply in answered:
            reply._wake()


class Exchanges:
    """Request/reply methods of a session (see the module docstring)."""

    __slots__ = ()
    if TYPE_CHECKING:
        recorder: Recorder
        options: Any
        on_request: Callable[[str, float, int, BaseException | None], None]
        on_message: Callable[[Any], None] | None
        _replies: Correlator[Reply]
        _typed: dict[str, Reply] | None
        _orphans: dict[Reply, tuple[str, int]] | None
        _conn: Connection | None
        _interrupted: bytes | None

        @property
        def is_open(self) -> bool: ...
        def _send(self, payload: bytes, opcode: int) -> bool: ...
        def _write(self, payload: bytes, opcode: int, fin: int = 1) -> tuple[int, int, int] | None: ...
        def _write_encoded(self, data: bytes, messages: int = 1) -> tuple[int, int] | None: ...
        def _encode(self, opcode: int, payload: bytes, fragment_bytes: int = 0) -> bytes: ...
        def _violated(self, violation: ProtocolViolation) -> None: ...
        def _adopt(self, waiter: Reply, name: str, size: int) -> None: ...
        def _typed_table(self) -> dict[str, Reply]: ...

    def request(
        self,
        message: dict[str, Any],
        *,
        name: str = "echo",
        timeout_s: float | None = None,
        ping: bool = False,
    ) -> Any:
        """Send a JSON request with a fresh ``id`` and wait for the reply carrying that id.

        Returns the reply, or None after a recorded failure (timeout, session ended, not open).
        ``ping=True`` records the round trip as a ping RTT (an application-level heartbeat).
        The one-message case of :meth:`request_burst`, kept apart because it is the hot path.
        """
        started = self._begin_request(message, name, ping=ping)
        if started is None:
            return None
        item, sent_ns = started
        deadline_ns = sent_ns + int((timeout_s or self.options.reply_timeout_s) * 1e9)
        return self._await(name, item, sent_ns, deadline_ns, "reply_timeouts")

    def request_burst(
        self,
        messages: list[dict[str, Any]] | list[bytes],
        *,
        name: str = "echo",
        timeout_s: float | None = None,
        ping: bool = False,
        scheduled_ns: int = 0,
        fragment_bytes: int = 0,
        batch: int = 0,
    ) -> list[Any]:
        """Pipeline requests: write them all with one ``send``, then wait for every reply.

        Args:
            messages: JSON objects (text; each gets an ``id``) or byte strings (binary; each is
                prefixed with :data:`BINARY_MAGIC` and an 8-byte id).
            scheduled_ns: when the schedule wanted this burst sent (``perf_counter_ns``); each
                reply's delay from it is recorded in ``rtt_scheduled_ms`` beside the raw RTT.
            fragment_bytes: split every message into frames of at most this many bytes.
            batch: send the JSON objects as JSON array messages of at most this many (the
                guide's batcher); 0 sends each on its own.

        Returns the replies in order (None for each failure). Each is one Locust request.
        """
        if not self.is_open:
            self.recorder.count("send_on_closed", len(messages))
            return [None] * len(messages)
        sent_ns = time.perf_counter_ns()
        pending: list[tuple[int, Reply, int]] = []
        payloads: list[tuple[bytes, int]] = []
        for message in messages:
            waiter = Reply(ping=ping, scheduled_ns=scheduled_ns)
            request_id = self._replies.register(sent_ns, waiter)
            if isinstance(message, bytes):
                payload, opcode = BINARY_MAGIC + _BINARY_ID.pack(request_id) + message, OP_BINARY
            else:
                message["id"] = request_id
                payload, opcode = orjson.dumps(message), OP_TEXT
            pending.append((request_id, waiter, len(payload)))
            payloads.append((payload, opcode))
        if batch > 1 and len(payloads) > 1 and all(op == OP_TEXT for _, op in payloads):
            payloads = [
                (orjson.dumps(messages[i : i + batch]), OP_TEXT) for i in range(0, len(messages), batch)
            ]
        data = b"".join(self._encode(op, payload, fragment_bytes) for payload, op in payloads)
        try:
            written = self._write_encoded(data, len(payloads))
        except BaseException:  # the requester was stopped mid-send
            self._abandon_sending(name, pending, sent_ns)
            raise
        if written is not None:
            self.recorder.on_send_batch(len(payloads), sum(len(p) for p, _ in payloads), *written)
        deadline_ns = sent_ns + int((timeout_s or self.options.reply_timeout_s) * 1e9)
        replies: list[Any] = []
        try:
            for item in pending:
                replies.append(self._await(name, item, sent_ns, deadline_ns, "reply_timeouts"))
        except BaseException:  # the requester was stopped: _await settled its own, then the rest
            for item in pending[len(replies) + 1 :]:
                self._abandon(name, item, sent_ns)
            raise
        return replies

    def _await(
        self, name: str, item: tuple[int, Reply, int], sent_ns: int, deadline_ns: int, counter: str
    ) -> Any:
        request_id, waiter, size = item
        try:
            answer = waiter.wait(deadline_ns)
        except BaseException:  # the requester was stopped while waiting
            self._abandon(name, item, sent_ns)
            raise
        if answer is _UNSET:
            self._replies.forget(request_id)
            self.recorder.count(counter)
            what = "pong" if counter == "ping_timeouts" else "reply"
            self._fail(name, sent_ns, ReplyTimeout(f"no {what} within the timeout"))
            return None
        if isinstance(answer, BaseException):
            self._fail(name, sent_ns, answer)
            return None
        rtt_us, reply = answer
        self.on_request(name, rtt_us / 1000.0, size, None)
        return reply if reply is not None else rtt_us / 1000.0

    def _abandon_sending(self, name: str, items: list[tuple[int, Reply, int]], sent_ns: int) -> None:
        """Settle requests whose write was interrupted (their requester was stopped).

        A write cut half-way is finished or aborted later, so its requests are abandoned like
        waiting ones; a write that never started sent nothing: its requests are forgotten.
        """
        for item in items:
            if self._interrupted is None:
                self._replies.forget(item[0])
            else:
                self._abandon(name, item, sent_ns)

    def _abandon(self, name: str, item: tuple[int, Reply, int], sent_ns: int) -> None:
        """Hand a request whose requester stopped waiting (its user was stopped) to the reader.

        A reply that already came is reported as :meth:`_await` would have; otherwise the request
        becomes an orphan: the reader reports its reply if it comes before the session ends, and
        the end counts it in ``outstanding_at_end`` if not.
        """
        _, waiter, size = item
        answer = waiter.value
        if answer is _UNSET:
            self._adopt(waiter, name, size)
        elif isinstance(answer, BaseException):
            self._fail(name, sent_ns, answer)
        else:
            self.on_request(name, answer[0] / 1000.0, size, None)

    def request_typed(
        self,
        message: dict[str, Any],
        *,
        reply_type: str,
        name: str,
        accept: Callable[[dict[str, Any]], bool] = lambda reply: True,
        refused: BaseException | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Send a JSON message and wait for the next message whose ``type`` is ``reply_type``.

        For protocols whose replies carry no correlation id (``auth`` -> ``auth_result``). A
        reply that ``accept`` rejects is a failure with the ``refused`` exception.
        """
        if not self.is_open:
            self.recorder.count("send_on_closed")
            return None
        waiter = Reply()
        typed = self._typed_table()
        typed[reply_type] = waiter
        sent_ns = time.perf_counter_ns()
        payload = orjson.dumps(message)
        try:
            if not self._send(payload, OP_TEXT):
                self._fail(name, sent_ns, SessionEnded("the session ended before the request was sent"))
                return None
            reply = waiter.wait(sent_ns + int((timeout_s or self.options.reply_timeout_s) * 1e9))
        except BaseException:  # the requester was stopped: report a reply that came, else outstanding
            if waiter.value is _UNSET:
                self.recorder.count("outstanding_at_end")
            else:
                self._typed_result(name, waiter.value, sent_ns, len(payload), accept, refused, reply_type)
            raise
        finally:
            typed.pop(reply_type, None)
        return self._typed_result(name, reply, sent_ns, len(payload), accept, refused, reply_type)

    def _typed_result(
        self,
        name: str,
        reply: Any,
        sent_ns: int,
        size: int,
        accept: Callable[[dict[str, Any]], bool],
        refused: BaseException | None,
        reply_type: str,
    ) -> Any:
        if reply is _UNSET:
            self.recorder.count("reply_timeouts")
            self._fail(name, sent_ns, ReplyTimeout(f"no {reply_type} within the reply timeout"))
            return None
        if isinstance(reply, BaseException):
            self._fail(name, sent_ns, reply)
            return None
        if not accept(reply):
            self._fail(name, sent_ns, refused or ReplyTimeout(f"{reply_type} refused"))
            return None
        self.on_request(name, (time.perf_counter_ns() - sent_ns) / 1e6, size, None)
        return reply

    def ping(self, *, name: str = "ping", timeout_s: float | None = None) -> float | None:
        """Send a protocol ping and wait for its pong; return the RTT in ms or None on failure."""
        started = self._begin_ping(name)
        if started is None:
            return None
        item, sent_ns = started
        deadline_ns = sent_ns + int((timeout_s or self.options.reply_timeout_s) * 1e9)
        rtt_ms: float | None = self._await(name, item, sent_ns, deadline_ns, "ping_timeouts")
        return rtt_ms

    def _begin_ping(self, name: str) -> tuple[tuple[int, Reply, int], int] | None:
        """Write a protocol ping; return its pending item and send time, or None (recorded)."""
        if not self.is_open:
            self.recorder.count("send_on_closed")
            return None
        waiter = Reply(ping=True)
        sent_ns = time.perf_counter_ns()
        ping_id = self._replies.register(sent_ns, waiter)
        try:
            written = self._write(b"p" + _BINARY_ID.pack(ping_id), OP_PING)
        except BaseException:  # the requester was stopped mid-send
            self._abandon_sending(name, [(ping_id, waiter, 0)], sent_ns)
            raise
        if written is None:
            self._replies.forget(ping_id)
            self._fail(name, sent_ns, SessionEnded("the session ended before the ping was sent"))
            return None
        return (ping_id, waiter, 0), sent_ns

    def _begin_request(
        self, message: dict[str, Any], name: str, *, ping: bool = True
    ) -> tuple[tuple[int, Reply, int], int] | None:
        """Write a JSON request (``ping``: a ping RTT); return its pending item and send time, or None."""
        if not self.is_open:
            self.recorder.count("send_on_closed")
            return None
        waiter = Reply(ping=ping)
        sent_ns = time.perf_counter_ns()
        request_id = self._replies.register(sent_ns, waiter)
        message["id"] = request_id
        payload = orjson.dumps(message)
        item = (request_id, waiter, len(payload))
        try:
            written = self._write_encoded(self._encode(OP_TEXT, payload))
        except BaseException:  # the requester was stopped mid-send
            self._abandon_sending(name, [item], sent_ns)
            raise
        if written is None:
            self._replies.forget(request_id)
            self._fail(name, sent_ns, SessionEnded("the session ended before the request was sent"))
            return None
        self.recorder.on_send(len(payload), *written)
        return item, sent_ns

    def _fail(self, name: str, started_ns: int, exc: BaseException) -> None:
        self.on_request(name, (time.perf_counter_ns() - started_ns) / 1e6, 0, exc)

    # -- matching, called by the reader ------------------------------------------------------
    def _match(self, request_id: object, message: Any, now_ns: int) -> bool:
        matched = self._replies.match(request_id, now_ns)
        if matched is None:
            return False
        rtt_ns, waiter = matched
        rtt_us = rtt_ns // 1000
        if waiter.ping:
            self.recorder.on_ping_rtt(rtt_us)
        else:
            self.recorder.on_rtt(rtt_us)
        if waiter.scheduled_ns:
            self.recorder.on_rtt_scheduled((now_ns - waiter.scheduled_ns) // 1000)
        waiter.set((rtt_us, message))
        if self._orphans is not None and waiter in self._orphans:  # its requester was stopped
            name, size = self._orphans.pop(waiter)
            self.on_request(name, rtt_us / 1000.0, size, None)
        return True

    def _on_data(self, data: bytes, is_text: bool, now_ns: int) -> None:
        recorder = self.recorder
        recorder.on_receive(len(data))
        if not is_text:
            if data[:3] == BINARY_MAGIC and len(data) >= 11:
                if self._match(_BINARY_ID.unpack_from(data, 3)[0], data[11:], now_ns):
                    return
                recorder.count("uncorrelated")
            if self.on_message is not None:
                self.on_message(data)
            return
        first = data[:1]
        if first != b"{" and first != b"[":
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                self._violated(ProtocolViolation("a text message is not valid UTF-8", 1007))
                return
            if self.on_message is not None:
                self.on_message(text)
            return
        try:
            message = orjson.loads(data)  # also rejects bad UTF-8
        except orjson.JSONDecodeError:
            try:
                data.decode("utf-8")  # only on this cold path: was it the JSON or the UTF-8?
            except UnicodeDecodeError:
                self._violated(ProtocolViolation("a text message is not valid UTF-8", 1007))
                return
            recorder.count("bad_json")
            return
        for item in message if type(message) is list else (message,):
            self._on_json(item, now_ns)

    def _on_json(self, message: Any, now_ns: int) -> None:
        request_id = message.get("id") if type(message) is dict else None
        if request_id is not None:
            if self._match(request_id, message, now_ns):
                return
            self.recorder.count("uncorrelated")
        typed = self._typed
        if typed and type(message) is dict:
            reply_type = message.get("type")
            waiter = typed.pop(reply_type, None) if type(reply_type) is str else None
            if waiter is not None:
                waiter.set(message)
                return
        if self.on_message is not None:
            self.on_message(message)

    def _on_pong(self, data: bytes, now_ns: int) -> None:
        if len(data) != 9 or data[:1] != b"p":
            return  # an unsolicited pong: a heartbeat the server may send (RFC 6455 §5.5.3)
        if not self._match(_BINARY_ID.unpack_from(data, 1)[0], None, now_ns):
            self.recorder.count("uncorrelated")  # the pong of a ping that timed out


def heartbeat_each(
    sessions: list[Any], *, name: str = "heartbeat", timeout_s: float, kind: str = "protocol"
) -> list[bool]:
    """Send a heartbeat on every session at once, then wait for every answer; say which came.

    ``kind``: ``protocol`` (a ping frame, its pong matched; ``ping_timeouts``) or ``app``
    (``{"type": "ping"}`` matched by its id; ``reply_timeouts``); either way the RTT goes to
    ``ping_rtt_ms`` and each is one Locust request under ``name``, as :meth:`Exchanges.ping` and
    ``request(..., ping=True)`` record them. Each answer has its own deadline, ``timeout_s`` after
    its own send. A requester stopped meanwhile hands every heartbeat still awaited to its
    session's reader (see :meth:`Exchanges._abandon`), so each ends exactly once.
    """
    counter = "ping_timeouts" if kind == "protocol" else "reply_timeouts"
    started: list[tuple[Any, tuple[int, Reply, int], int] | None] = []
    try:
        for session in sessions:
            begun = (
                session._begin_ping(name)
                if kind == "protocol"
                else session._begin_request({"type": "ping"}, name)
            )
            started.append(None if begun is None else (session, *begun))
    except BaseException:  # stopped while writing: those written whole are awaited by their readers
        for entry in started:
            if entry is not None:
                entry[0]._abandon(name, entry[1], entry[2])
        raise
    timeout_ns = int(timeout_s * 1e9)
    answered: list[bool] = []
    try:
        for entry in started:
            if entry is None:
                answered.append(False)
                continue
            session, item, sent_ns = entry
            answer = session._await(name, item, sent_ns, sent_ns + timeout_ns, counter)
            answered.append(answer is not None)
    except BaseException:  # stopped while waiting: _await settled its own, then the rest
        for entry in started[len(answered) + 1 :]:
            if entry is not None:
                entry[0]._abandon(name, entry[1], entry[2])
        raise
    return answered
