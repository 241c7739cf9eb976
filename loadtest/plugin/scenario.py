"""The behaviours behind the scenarios: heartbeats with half-open detection, scheduled bursts.

Scenario files stay a screen long: a User subclass and tasks calling these. Knobs are Locust
options (``--ws-heartbeat-*``, ``--ws-burst-*`` ...), read per call so the web UI can change them.
"""

from __future__ import annotations

import time
from typing import Any

import gevent

from loadtest.exchange import heartbeat_each
from loadtest.plugin.user import WebSocketUser
from loadtest.traffic import Bursts

BATCH_MAX = 10  # the guide's batcher: flush at 10 messages...
BATCH_WINDOW_S = 0.1  # ...or 100 ms


def option(user: WebSocketUser, name: str, default: Any) -> Any:
    """Return a ``--ws-*`` option's value (``default`` when Locust parsed no options)."""
    value = getattr(user.environment.parsed_options, name, None)
    return default if value is None else value


def heartbeat_wait(user: WebSocketUser) -> float:
    """Return the heartbeat interval (an hour when heartbeats are off: the session just idles)."""
    interval = float(option(user, "ws_heartbeat_interval", 30.0))
    return interval if interval > 0 else 3600.0


def heartbeat(user: WebSocketUser) -> float | None:
    """Send one heartbeat; a missing pong declares the session dead (half-open) and it reconnects.

    A user holding several sessions beats on every open one at once and waits for all the
    answers together (:func:`loadtest.exchange.heartbeat_each`); it returns None then.
    """
    if float(option(user, "ws_heartbeat_interval", 30.0)) <= 0:
        return None
    timeout_s = float(option(user, "ws_pong_timeout", 10.0))
    if len(user.seats) > 1:
        beating = user.sessions
        kind = str(option(user, "ws_heartbeat_kind", "protocol"))
        answered = heartbeat_each(beating, name="heartbeat", timeout_s=timeout_s, kind=kind)
        for one, came in zip(beating, answered, strict=True):
            if not came and one.is_open:
                one.declare_dead("dead")
        return None
    session = user.wait_open()
    if session is None:
        return None
    if option(user, "ws_heartbeat_kind", "protocol") == "app":
        rtt_ms = session.request({"type": "ping"}, name="heartbeat", timeout_s=timeout_s, ping=True)
    else:
        rtt_ms = session.ping(name="heartbeat", timeout_s=timeout_s)
    if rtt_ms is None and session.is_open:
        session.declare_dead("dead")
    return rtt_ms if isinstance(rtt_ms, float) else None


class Schedule:
    """When each burst should go out: a fixed interval from the first, never from the last send.

    A sender that falls behind keeps its original schedule, so the delay it causes shows in the
    RTT measured from the scheduled time (wrk2's answer to coordinated omission).
    """

    __slots__ = ("interval_ns", "next_ns")

    def __init__(self, interval_s: float) -> None:
        self.interval_ns = max(1, int(interval_s * 1e9))
        self.next_ns = 0

    def take(self, now_ns: int) -> int:
        """Return the scheduled time of the next burst and advance the schedule."""
        if not self.next_ns:
            self.next_ns = now_ns
        scheduled = self.next_ns
        self.next_ns += self.interval_ns
        return scheduled


def _burst_shape(user: WebSocketUser) -> tuple[int, float, bool]:
    """Return the bursts' size, interval and batching from the ``--ws-burst-*`` options."""
    size = max(1, int(option(user, "ws_burst_size", 10)))
    interval_s = float(option(user, "ws_burst_interval", 1.0))
    rate = float(option(user, "ws_rate", 0.0))
    batch = bool(option(user, "ws_batch", False))
    if rate > 0:  # a steady rate: one message per slot, or the batcher's groups of <=10 within 100 ms
        size = max(1, min(BATCH_MAX, int(rate * BATCH_WINDOW_S))) if batch else 1
        interval_s = size / rate
    return size, interval_s, batch


def burst_traffic(user: WebSocketUser) -> Bursts:
    """Return burst_send's traffic from the ``--ws-burst-*`` options (read at each session's open).

    The same messages, sizes, schedule and batching as :func:`burst`, sent by the engine.
    """
    size, interval_s, batch = _burst_shape(user)
    message_bytes = max(1, int(option(user, "ws_message_size", 64)))
    message: dict[str, Any] | bytes
    if option(user, "ws_binary", False):
        message = b"x" * message_bytes
    else:
        message = {"type": "echo", "p": "x" * max(0, message_bytes - 30)}  # ~30 bytes of JSON around it
    return Bursts(
        size=size,
        interval_s=interval_s,
        batch=BATCH_MAX if batch else 0,
        message=message,
        name="burst",
        fragment_bytes=int(option(user, "ws_fragment_size", 0)),
    )


def burst(user: WebSocketUser, schedule: Schedule | None) -> Schedule:
    """Send one burst at its scheduled time and wait for its replies; return the schedule.

    The task-loop form of :func:`burst_traffic` (burst_send uses the engine-driven one).
    """
    size, interval_s, batch = _burst_shape(user)
    if schedule is None or schedule.interval_ns != int(interval_s * 1e9):
        schedule = Schedule(interval_s)
    session = user.wait_open()
    if session is None:
        return schedule
    scheduled_ns = schedule.take(time.perf_counter_ns())
    early_s = (scheduled_ns - time.perf_counter_ns()) / 1e9
    if early_s > 0:
        gevent.sleep(early_s)
    message_bytes = max(1, int(option(user, "ws_message_size", 64)))
    messages: list[Any]
    if option(user, "ws_binary", False):
        messages = [b"x" * message_bytes for _ in range(size)]
    else:
        filler = "x" * max(0, message_bytes - 30)  # ~30 bytes of JSON around it, id included
        messages = [{"type": "echo", "p": filler} for _ in range(size)]
    session.request_burst(
        messages,
        name="burst",
        scheduled_ns=scheduled_ns,
        fragment_bytes=int(option(user, "ws_fragment_size", 0)),
        batch=BATCH_MAX if batch else 0,
    )
    return schedule
