"""Locust's request rows, fed in batches: one flush per second per name, not one event per request.

Firing Locust's ``request`` event for every round trip (its listener logs the sample twice, in
the row and in "Aggregated") was ~9% of the generator's CPU on small echoes. :class:`Rows` keeps
the samples of the current second and applies them to Locust's ``RequestStats`` the way
``StatsEntry.log`` would have, sample by sample in the same order (the same float sums, minima,
maxima, rounded response-time buckets, requests per second, last-request time, and the copy of
the response times Locust caches when a new second starts), so its tables, charts, CSV files,
percentiles and fail ratio come out identical (``tests/unit/test_rows.py`` proves it). A
failure is a sequence point: the pending samples are flushed, then the failure is logged
through Locust's own ``log_request``/``log_error`` at once (its error row, its second).

Flushes: when the second changes, before a failure, every second (a hub timer), before every
worker report (our listener runs before Locust's own, which serializes the rows), when a user
stops, and at the run's stop. A stats reset drops what is pending: it was recorded before it.

Batches are used only when nothing else listens: a user whose environment has a ``request``
listener besides Locust's own statistics (a locustfile's, ``run_single_user``'s, a CSV request
logger's) fires one event per request, as does every user with ``--ws-request-events`` (for a
listener added after the users started). Locust's rows are the same either way.
"""

from __future__ import annotations

import time
from typing import Any

import locust.stats
from gevent import get_hub

#: Locust's ``request_type`` of every row of ours.
METHOD = "WS"
#: Locust's rounding of response times, as shipped (a user may replace it: then it is called).
_LOCUST_BUCKETS = locust.stats.bucket_response_time
#: Pending samples are applied at least this often.
FLUSH_INTERVAL_S = 1.0


def other_listeners(environment: Any) -> bool:
    """Return True if a ``request`` listener other than Locust's statistics would miss our events."""
    handlers = getattr(environment.events.request, "_handlers", [])  # EventHook has no public view
    return any(getattr(handler, "__module__", "") != "locust.runners" for handler in handlers)


class _Batch:
    """The samples of one row (or of "Aggregated") within the current second, in arrival order."""

    __slots__ = ("times_ms", "length", "last")

    def __init__(self) -> None:
        self.times_ms: list[float] = []
        self.length = 0
        self.last = 0.0  # time.time() of the last sample


def _apply(entry: Any, batch: _Batch, second: int) -> None:
    """Do to ``entry`` (a ``StatsEntry``) what ``entry.log`` did for each sample of ``batch``."""
    times = batch.times_ms
    last = entry.last_request_timestamp
    if entry.use_response_times_cache and last and second > int(last):
        entry._cache_response_times(second - 1)  # what the first log() of a new second does
    entry.num_requests += len(times)
    entry.num_reqs_per_sec[second] += len(times)
    entry.last_request_timestamp = batch.last
    total, low, high = entry.total_response_time, entry.min_response_time, entry.max_response_time
    buckets, bucket = entry.response_times, locust.stats.bucket_response_time  # replaceable by users
    default = bucket is _LOCUST_BUCKETS
    for value in times:
        total += value
        low = value if low is None else min(low, value)
        high = max(high, value)
        # Locust's own rounding, inlined (a call per sample was most of a flush's cost)
        if not default:
            key = bucket(value)
        elif value < 100:
            key = round(value)
        elif value < 1000:
            key = int(round(value, -1))
        elif value < 10000:
            key = int(round(value, -2))
        else:
            key = int(round(value, -3))
        buckets[key] += 1
    entry.total_response_time, entry.min_response_time, entry.max_response_time = total, low, high
    entry.total_content_length += batch.length
    times.clear()
    batch.length = 0


class Rows:
    """The pending samples of one environment's WebSocket rows (see the module docstring)."""

    __slots__ = ("_environment", "_batches", "_total", "_second", "_timer")

    def __init__(self, environment: Any, *, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._environment = environment
        self._batches: dict[str, _Batch] = {}
        self._total = _Batch()
        self._second = 0
        self._timer: Any = None
        if interval_s > 0:
            self._timer = get_hub().loop.timer(interval_s, interval_s)
            self._timer.ref = False  # never what keeps the process alive
            self._timer.start(self.flush)

    def record(self, name: str, response_time_ms: float, length: int, exc: BaseException | None) -> None:
        """Add one request's outcome (what Locust's ``request`` event would have carried)."""
        if exc is not None:
            self.flush()  # a sequence point: everything before it is in the rows first
            stats = self._environment.stats
            stats.log_request(METHOD, name, response_time_ms, length)
            stats.log_error(METHOD, name, exc)
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self.flush()
            self._second = second
        batch = self._batches.get(name)
        if batch is None:
            batch = self._batches[name] = _Batch()
        if not batch.times_ms:
            # Locust creates a row at its first sample (its start_time, its first cached second):
            # so do we, not at the flush.
            entries = self._environment.stats.entries
            if (name, METHOD) not in entries:
                entries[(name, METHOD)]  # noqa: B018 (EntriesDict creates it)
        batch.times_ms.append(response_time_ms)
        batch.length += length
        batch.last = now
        total = self._total
        total.times_ms.append(response_time_ms)
        total.length += length
        total.last = now

    def flush(self) -> None:
        """Apply every pending sample to Locust's rows (cheap when nothing is pending)."""
        total = self._total
        if not total.times_ms:
            return
        stats = self._environment.stats
        second = self._second
        for name, batch in self._batches.items():
            if batch.times_ms:
                _apply(stats.entries[(name, METHOD)], batch, second)
        _apply(stats.total, total, second)

    def discard(self) -> None:
        """Forget what is pending (Locust's rows were reset: those samples came before)."""
        for batch in (*self._batches.values(), self._total):
            batch.times_ms.clear()
            batch.length = 0

    def close(self) -> None:
        """Flush and stop the timer."""
        self.flush()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None


__all__ = ["FLUSH_INTERVAL_S", "METHOD", "Rows"]
