"""Locust's rows fed in batches equal the rows one request event per sample would have made."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from locust.stats import RequestStats, StatsEntry

from loadtest.plugin.rows import METHOD, Rows


class _Env:
    def __init__(self) -> None:
        self.stats = RequestStats(use_response_times_cache=True)


class _Clock:
    """time.time() for both paths: every sample advances it a little, across many seconds."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Clock]:
    fake = _Clock(1_800_000_000.25)
    monkeypatch.setattr(time, "time", fake)
    yield fake


def _samples(seed: int, count: int) -> list[tuple[float, str, float, int, BaseException | None]]:
    """(time step, name, response time ms, length, failure) in arrival order."""
    rng = random.Random(seed)
    out: list[tuple[float, str, float, int, BaseException | None]] = []
    for _ in range(count):
        name = rng.choice(["echo", "echo", "echo", "ping", "connect"])
        rtt = rng.choice([rng.random() * 3, rng.random() * 150, rng.random() * 4000, 12_345.678])
        failure = None
        if rng.random() < 0.03:
            failure = rng.choice([TimeoutError("no reply within the timeout"), ValueError("refused")])
        out.append((rng.choice([0.0, 0.0, 0.001, 0.2, 0.9, 2.5]), name, rtt, rng.randrange(0, 300), failure))
    return out


def _entry_state(entry: StatsEntry) -> dict[str, Any]:
    state = dict(entry.serialize())
    state["response_times_cache"] = {
        t: (dict(c.response_times), c.num_requests, c.num_none_requests)
        for t, c in (entry.response_times_cache or {}).items()
    }
    return state


def _tables(stats: RequestStats) -> dict[str, Any]:
    return {
        "entries": {key: _entry_state(entry) for key, entry in sorted(stats.entries.items())},
        "total": _entry_state(stats.total),
        "errors": stats.serialize_errors(),
        "fail_ratio": stats.total.fail_ratio,
        "percentiles": {
            key: [entry.get_response_time_percentile(p) for p in (0.5, 0.9, 0.99, 1.0)]
            for key, entry in stats.entries.items()
        },
        "current_p95": stats.total.get_current_response_time_percentile(0.95),
    }


def _per_event(samples: list[Any], clock: _Clock) -> dict[str, Any]:
    """What Locust's own request listener does with one event per sample."""
    env = _Env()
    for step, name, rtt, length, failure in samples:
        clock.now += step
        env.stats.log_request(METHOD, name, rtt, length)
        if failure is not None:
            env.stats.log_error(METHOD, name, failure)
    return _tables(env.stats)


def _batched(samples: list[Any], clock: _Clock, flush_every: int) -> dict[str, Any]:
    env = _Env()
    rows = Rows(env, interval_s=0)
    for index, (step, name, rtt, length, failure) in enumerate(samples):
        clock.now += step
        rows.record(name, rtt, length, failure)
        if flush_every and index % flush_every == 0:
            rows.flush()  # a timer flush in the middle of a second
    rows.flush()
    return _tables(env.stats)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("flush_every", [0, 7])
def test_batched_rows_equal_one_event_per_sample(clock: _Clock, seed: int, flush_every: int) -> None:
    samples = _samples(seed, 3_000)
    assert any(s[4] is not None for s in samples)  # failures among them
    start = clock.now
    expected = _per_event(samples, clock)
    clock.now = start
    got = _batched(samples, clock, flush_every)
    # Everything, float sums included (applied sample by sample in the same order), is equal.
    assert got == expected
    assert expected["total"]["num_failures"] > 0 and len(expected["entries"]) == 3
    assert len(expected["total"]["num_reqs_per_sec"]) > 100  # the samples spread over many seconds


def test_discard_forgets_pending_samples(clock: _Clock) -> None:
    env = _Env()
    rows = Rows(env, interval_s=0)
    rows.record("echo", 1.5, 10, None)
    rows.discard()
    rows.flush()
    assert env.stats.total.num_requests == 0
    rows.record("echo", 2.5, 10, None)
    rows.flush()
    assert env.stats.get("echo", METHOD).num_requests == 1 == env.stats.total.num_requests
