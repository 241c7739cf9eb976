"""The event loop under the sessions: one timer wheel per process, and the rules for hub code.

Sessions are driven by the gevent hub, not by a greenlet each (docs/core.md, "The engine"):

* a session's socket has a read watcher on the hub's loop; when it is readable, a callback reads
  what arrived, parses it and dispatches each message: a reply wakes only the greenlet waiting
  for it, a ping is answered and a pong matched in the callback itself, without a switch;
* deadlines (a reply, a pong) are not a libev timer each: they are entries of one
  :class:`Wheel` per process, whose single timer ticks every :data:`TICK_S` while anything is
  pending, so an idle session owns no greenlet and no timer.

Callbacks run in the hub greenlet: they must never block nor switch to the hub. They wake a
greenlet by switching to it (as gevent's own watchers do) only when it is parked waiting for
exactly that; anything that may block (a write the kernel would not take at once, a user hook)
is handed to a greenlet. :func:`in_hub` tells the two contexts apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from gevent import get_hub
from greenlet import getcurrent

#: The wheel's resolution: a deadline fires at most this late (plus the loop's own lag).
TICK_S = 0.01
_TICK_NS = int(TICK_S * 1e9)


class Expiring(Protocol):
    """What the wheel holds: something that knows what to do when its deadline passed."""

    def expire(self) -> None:
        """Called once, from the hub, when the deadline has passed."""


def in_hub() -> bool:
    """Return True when running in the hub greenlet (a watcher or timer callback)."""
    return getcurrent() is get_hub()


class Wheel:
    """Deadlines of one process in buckets of :data:`TICK_S`, checked by one hub timer.

    Adding and discarding are a set operation each (cheaper than a libev timer per request, which
    was a start, a stop and a close per round trip). The timer runs only while a deadline is
    pending. Deadlines are ``time.perf_counter_ns()`` values (CLOCK_MONOTONIC on Linux).
    """

    __slots__ = ("_buckets", "_next", "_timer", "_loop")

    def __init__(self) -> None:
        self._loop = get_hub().loop
        self._buckets: dict[int, set[Expiring]] = {}
        self._next = 0  # the first tick not yet expired
        self._timer = self._loop.timer(TICK_S, TICK_S)
        self._timer.ref = False  # pending deadlines alone do not keep the process alive

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())

    def add(self, deadline_ns: int, item: Expiring) -> int:
        """Register ``item`` to expire at ``deadline_ns``; return its bucket key (for :meth:`discard`)."""
        key = -(-deadline_ns // _TICK_NS)  # the first tick at or after the deadline
        if not self._buckets:
            # (never backwards: an item expiring in _tick may add, and the tick has moved on)
            self._next = max(self._next, time.perf_counter_ns() // _TICK_NS)
            self._timer.start(self._tick)
        if key < self._next:  # already past (the rest of a burst whose first reply timed out):
            key = self._next  # the next tick expires it; a bucket before _next is never visited
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = set()
        bucket.add(item)
        return key

    def discard(self, key: int, item: Expiring) -> None:
        """Forget ``item`` (its reply came); a no-op if it already expired."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.discard(item)
            if not bucket:
                del self._buckets[key]

    def _tick(self) -> None:
        now = time.perf_counter_ns() // _TICK_NS
        buckets = self._buckets
        key = self._next
        while key <= now and buckets:
            bucket = buckets.pop(key, None)
            key += 1
            # An expiring item wakes its requester, which may add a deadline (already past, the
            # next request of a burst) before this loop goes on: it must land at key or later.
            self._next = key
            if bucket:
                for item in bucket:
                    item.expire()
        self._next = key
        if not buckets:
            self._timer.stop()


#: How often the event loop's lag is measured.
LAG_INTERVAL_S = 0.1


class LoopLag:
    """The event loop's lag: how late a timer fires, measured every :data:`LAG_INTERVAL_S`.

    When the generator is saturated, every callback waits its turn: a reply read late makes an
    RTT look slow that the server answered fast. The lag says how much of a latency is ours.
    A one-shot timer, re-armed from a fresh clock after each measurement, so one late tick is
    not carried into the next.
    """

    __slots__ = ("_timer", "_interval_ns", "_expected_ns", "_record")

    def __init__(self, record: Callable[[int], None], interval_s: float = LAG_INTERVAL_S) -> None:
        self._record = record  # called with the lag in µs, from the hub
        self._interval_ns = int(interval_s * 1e9)
        self._timer: Any = get_hub().loop.timer(interval_s, interval_s)
        self._timer.ref = False
        self._timer.again(self._tick)  # (again: the loop's clock is updated first)
        self._expected_ns = time.perf_counter_ns() + self._interval_ns

    def _tick(self) -> None:
        self._record(max(0, time.perf_counter_ns() - self._expected_ns) // 1000)
        self._timer.again(self._tick)  # the next one an interval from now, not from the schedule
        self._expected_ns = time.perf_counter_ns() + self._interval_ns

    def stop(self) -> None:
        """Stop measuring."""
        self._timer.stop()


_WHEEL: Wheel | None = None


def wheel() -> Wheel:
    """Return the wheel of this process's hub (created on first use; sessions live in one thread)."""
    global _WHEEL
    found = _WHEEL
    if found is None or found._loop is not get_hub().loop:
        found = _WHEEL = Wheel()
    return found


__all__ = ["LAG_INTERVAL_S", "TICK_S", "Expiring", "LoopLag", "Wheel", "in_hub", "wheel"]
