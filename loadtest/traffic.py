"""Traffic the engine sends by itself: a closed loop, bursts on a schedule, a rate per session.

A scenario declares its traffic as a class attribute (``traffic = ClosedLoop(in_flight=1)``) and
the engine keeps it going on every session of the user: the next message is written from the
read callback that matched a reply, or from the process's timer wheel when a pause or a schedule
says it is not due yet. No task loop, no greenlet switch and no libev timer per message: a
round trip is one read callback and one ``send``. ``@task`` code keeps working beside it.

Every request ends exactly once, as a request made by a task does (docs/core.md, "Requests and
Locust's rows"): matched (a Locust success, one RTT in ``rtt_ms``), timed out (``ReplyTimeout``,
``errors.reply_timeouts``), ended with its session (``SessionEnded``), or, once the user is
stopped, reported by the reader if its reply comes before the session ends and counted in
``errors.outstanding_at_end`` if not. Messages are counted as sent once written whole.

Hub rules (:mod:`loadtest.engine`): the write is tried without waiting; a socket that would not
take it at once (or a write under way in a task) hands it to a short-lived greenlet.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gevent
import orjson

from loadtest.engine import wheel
from loadtest.errors import ConnectionEnded
from loadtest.exchange import BINARY_MAGIC, UNSET, Reply, ReplyTimeout
from loadtest.frames import OP_BINARY, OP_TEXT, encode_frame
from loadtest.transport import ALL, NOTHING

if TYPE_CHECKING:
    from loadtest.session import Session

_BINARY_ID = struct.Struct("!Q")
Message = dict[str, Any] | bytes


def _echo() -> dict[str, Any]:
    return {"type": "echo", "payload": "hello"}


@dataclass(frozen=True, kw_only=True)
class Traffic:
    """What every message of a loop is, whatever its pace.

    Attributes:
        message: a JSON object (text; each request gets its own ``id``) or bytes (binary; prefixed
            with :data:`~loadtest.exchange.BINARY_MAGIC` and an 8-byte id), as ``request_burst``
            sends them.
        name: the Locust row of its requests.
        timeout_s: the reply timeout (None: ``--ws-reply-timeout``).
        fragment_bytes: split each message into frames of at most this many bytes (0: one frame).
        variants: JSON objects sent in turn instead of ``message`` (one per request, then again
            from the first), for traffic whose content must vary (a compression ratio measured
            on one message repeated would be far better than on real traffic).
    """

    message: Message = field(default_factory=_echo)
    variants: tuple[dict[str, Any], ...] = ()
    name: str = "echo"
    timeout_s: float | None = None
    fragment_bytes: int = 0


@dataclass(frozen=True, kw_only=True)
class ClosedLoop(Traffic):
    """Keep ``in_flight`` requests outstanding: each reply (or timeout) sends the next.

    ``pause_s``: wait this long after a reply before sending the next (a think time).
    """

    in_flight: int = 1
    pause_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Bursts(Traffic):
    """A burst of ``size`` requests (one write) every ``interval_s``, on a fixed schedule.

    As ``burst_send`` does it: the next burst goes at its scheduled time, and not before every
    reply of the previous one is in; a burst that is late keeps its scheduled time, from which
    ``rtt_scheduled_ms`` is measured (a stalled sender cannot hide its own delay). ``batch``: send
    the JSON objects as JSON arrays of at most this many (the guide's batcher).
    """

    size: int = 1
    interval_s: float = 1.0
    batch: int = 0


def rate(per_s: float, **kwargs: Any) -> Bursts:
    """Return one request every ``1 / per_s`` seconds per session (bursts of one)."""
    return Bursts(size=1, interval_s=1.0 / per_s, **kwargs)


class Driven(Reply):
    """A request of a loop: its answer goes to the loop, no greenlet waits for it."""

    __slots__ = ("loop", "request_id", "size", "sent_ns")

    def __init__(self, loop: Loop, sent_ns: int, scheduled_ns: int) -> None:
        super().__init__(scheduled_ns=scheduled_ns)
        self.loop = loop
        self.request_id = 0
        self.size = 0
        self.sent_ns = sent_ns

    def set(self, value: Any, *, defer: bool = False) -> None:
        """Take the answer (a matched reply, or the end of the session) and tell the loop."""
        if self.value is not UNSET:
            return
        self.value = value
        self.loop._settled(self, value)

    def expire(self) -> None:
        """The reply timeout passed (called by the wheel, from the hub)."""
        self._key = 0
        if self.value is UNSET:
            self.loop._timed_out(self)


class _Due:
    """A pause or a schedule in the wheel: when it is over, the loop sends what is due."""

    __slots__ = ("loop",)

    def __init__(self, loop: Loop) -> None:
        self.loop = loop

    def expire(self) -> None:
        """Called by the wheel, from the hub."""
        self.loop._due()


class Loop:
    """One session's traffic: sends, settles requests and sends the next (see the module docstring).

    Created when the session is open and working (after ``on_session_open``); :meth:`stop` when
    its user stops hands what is in flight to the session's reader.
    """

    __slots__ = (
        "session",
        "traffic",
        "_pending",
        "_stopped",
        "_next_ns",
        "_interval_ns",
        "_timeout_ns",
        "_prefixes",
        "_opcode",
        "_turn",
    )

    def __init__(self, session: Session, traffic: Traffic) -> None:
        self.session = session
        self.traffic = traffic
        self._pending: set[Driven] = set()
        self._stopped = False
        self._next_ns = 0  # the next burst's scheduled time (Bursts)
        self._interval_ns = int(traffic.interval_s * 1e9) if isinstance(traffic, Bursts) else 0
        self._timeout_ns = int((traffic.timeout_s or session.options.reply_timeout_s) * 1e9)
        template = traffic.message
        self._opcode = OP_BINARY if isinstance(template, bytes) else OP_TEXT
        # A JSON request is the template's JSON with the id spliced in before its closing brace
        # (the bytes orjson.dumps({**template, "id": n}) gives, without a dict and a dump each);
        # with variants, each one's in turn.
        prefixes = tuple(map(_prefix_of, traffic.variants))
        if not prefixes and isinstance(template, dict) and "id" not in template:
            prefixes = (_prefix_of(template),)
        self._prefixes = prefixes
        self._turn = 0

    # -- starting and stopping ---------------------------------------------------------------
    def start(self) -> None:
        """Send the first requests (from any greenlet: nothing here waits)."""
        traffic = self.traffic
        if isinstance(traffic, ClosedLoop):
            self._send(max(1, traffic.in_flight), 0)
        else:
            self._next_ns = time.perf_counter_ns()
            self._burst()

    def stop(self) -> None:
        """Send nothing more; requests in flight become the reader's (reply or outstanding)."""
        if self._stopped:
            return
        self._stopped = True  # a pause or a schedule still in the wheel then does nothing
        session = self.session
        for reply in self._pending:
            if reply._key:
                wheel().discard(reply._key, reply)
                reply._key = 0
            session._adopt(reply, self.traffic.name, reply.size)
        self._pending.clear()

    # -- the hub's side ------------------------------------------------------------------------
    def _due(self) -> None:
        """A pause or a schedule is over (from the wheel): send what is due."""
        if self._stopped or not self.session.is_open:
            return
        if isinstance(self.traffic, ClosedLoop):
            self._send(1, 0)
        else:
            self._burst()

    def _settled(self, reply: Driven, value: Any) -> None:
        if self._stopped:
            return  # the reader reports it (an orphan), or counts it outstanding at the end
        self._pending.discard(reply)
        if reply._key:
            wheel().discard(reply._key, reply)
            reply._key = 0
        session = self.session
        name = self.traffic.name
        if isinstance(value, BaseException):  # its session ended first
            session.on_request(name, (time.perf_counter_ns() - reply.sent_ns) / 1e6, 0, value)
            return
        session.on_request(name, value[0] / 1000.0, reply.size, None)
        self._next()

    def _timed_out(self, reply: Driven) -> None:
        if self._stopped:
            return
        self._pending.discard(reply)
        session = self.session
        session._replies.forget(reply.request_id)
        session.recorder.count("reply_timeouts")
        elapsed_ms = (time.perf_counter_ns() - reply.sent_ns) / 1e6
        session.on_request(self.traffic.name, elapsed_ms, 0, ReplyTimeout("no reply within the timeout"))
        reply.value = ReplyTimeout("no reply within the timeout")  # a late reply is uncorrelated
        self._next()

    def _next(self) -> None:
        """A request is settled: send the next one if it is due (else the wheel will)."""
        if not self.session.is_open:
            return
        traffic = self.traffic
        if isinstance(traffic, ClosedLoop):
            if traffic.pause_s > 0:
                wheel().add(time.perf_counter_ns() + int(traffic.pause_s * 1e9), _Due(self))
            else:
                self._send(1, 0)
        elif not self._pending:  # the whole burst is in: the next one, now or at its time
            if self._next_ns <= time.perf_counter_ns():
                self._burst()
            else:
                wheel().add(self._next_ns, _Due(self))

    def _burst(self) -> None:
        traffic = self.traffic
        assert isinstance(traffic, Bursts)
        scheduled_ns = self._next_ns
        self._next_ns += self._interval_ns
        self._send(max(1, traffic.size), scheduled_ns, traffic.batch)

    # -- writing -------------------------------------------------------------------------------
    def _send(self, count: int, scheduled_ns: int, batch: int = 0) -> None:
        """Register ``count`` requests and write them with one ``send`` (never waits)."""
        session = self.session
        conn = session._conn
        if conn is None or not session.is_open:
            return
        traffic = self.traffic
        template = traffic.message
        timeout_ns = self._timeout_ns
        prefixes = self._prefixes
        sent_ns = time.perf_counter_ns()
        deadlines = wheel()
        replies = session._replies
        payloads: list[bytes] = []
        ids: list[int] = []
        for _ in range(count):
            reply = Driven(self, sent_ns, scheduled_ns)
            request_id = reply.request_id = replies.register(sent_ns, reply)
            ids.append(request_id)
            if prefixes:
                payload = prefixes[self._turn] + b"%d}" % request_id
                if len(prefixes) > 1:
                    self._turn = (self._turn + 1) % len(prefixes)
            elif isinstance(template, bytes):
                payload = BINARY_MAGIC + _BINARY_ID.pack(request_id) + template
            else:
                payload = orjson.dumps({**template, "id": request_id})
            reply.size = len(payload)
            reply._key = deadlines.add(sent_ns + timeout_ns, reply)
            self._pending.add(reply)
            payloads.append(payload)
        opcode = self._opcode
        if batch > 1 and isinstance(template, dict) and count > 1:
            messages = [{**template, "id": request_id} for request_id in ids]
            payloads = [orjson.dumps(messages[i : i + batch]) for i in range(0, len(messages), batch)]
        writable = conn.writable_now() and session._interrupted is None
        if conn.deflate is not None and not writable:
            # Compressed only when written: with context takeover, the order of compression must
            # be the order on the wire, and another writer may go first while this one waits.
            gevent.spawn(self._write_compressed_later, payloads, opcode)
            return
        if count == 1 and conn.deflate is None and not traffic.fragment_bytes:  # the closed loop's case
            data, size = encode_frame(opcode, payloads[0]), len(payloads[0])
        else:  # the session's encoding: fragments, and compression (sizes counted when written)
            data = b"".join(session._encode(opcode, p, traffic.fragment_bytes) for p in payloads)
            size = sum(len(p) for p in payloads)
        done = NOTHING
        if writable:
            try:
                done = conn.try_send(data)
            except ConnectionEnded as ended:  # the server has gone: the reader sees how it ended
                session._deflated = None  # not counted as sent, as the messages are not
                session._write_failed(ended)
                return
            if done == ALL:
                session.last_sent_ns = time.perf_counter_ns()
                if session._deflated is not None:
                    session._count_deflated(len(payloads))
                session.recorder.on_send_batch(len(payloads), size)
                return
        gevent.spawn(self._write_later, data if done == NOTHING else b"", len(payloads), size)

    def _write_compressed_later(self, payloads: list[bytes], opcode: int) -> None:
        """Compress and write in one go, in a greenlet (the socket would not take it at once)."""
        session = self.session
        data = b"".join(session._encode(opcode, p, self.traffic.fragment_bytes) for p in payloads)
        written = session._write_encoded(data, len(payloads))
        if written is not None:
            session.recorder.on_send_batch(len(payloads), sum(len(p) for p in payloads), *written)

    def _write_later(self, data: bytes, messages: int, size: int) -> None:
        """Write (or finish writing) what the socket would not take at once, in a greenlet."""
        session = self.session
        conn = session._conn
        if conn is None:
            return
        if data:
            written = session._write_encoded(data, messages)
            if written is not None:
                session.recorder.on_send_batch(messages, size, *written)
            return
        try:
            stall_us, queue_bytes = conn.send_encoded(b"", session.options.send_timeout_s)
        except ConnectionEnded as ended:  # a timed-out write ends the session
            session._deflated = None
            session._write_failed(ended)
            return
        session.last_sent_ns = time.perf_counter_ns()
        if session._deflated is not None:
            session._count_deflated(messages)
        session.recorder.on_send_batch(messages, size, stall_us, queue_bytes)


def _prefix_of(template: dict[str, Any]) -> bytes:
    """Return a JSON object's bytes up to where a request's id is spliced in (``,"id":``)."""
    body = orjson.dumps(template)
    return body[:-1] + (b',"id":' if template else b'"id":')


#: What a user class may declare: one of these, or a function of the user returning one.
TrafficSource = Traffic | Callable[[Any], Traffic]

__all__ = ["Bursts", "ClosedLoop", "Loop", "Traffic", "TrafficSource", "rate"]
