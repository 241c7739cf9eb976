"""The engine's timer wheel and loop-lag sampler on the real hub (integration: short, bounded waits)."""

from __future__ import annotations

import time

import gevent

from loadtest.engine import TICK_S, LoopLag, Wheel
from loadtest.session import Session
from tests.integration.sessions import run_sessions


class _Item:
    def __init__(self) -> None:
        self.expired_at: float | None = None

    def expire(self) -> None:
        self.expired_at = time.perf_counter()


def test_the_wheel_expires_each_deadline_once_at_most_a_tick_late_and_forgets_discarded_ones() -> None:
    wheel = Wheel()
    start = time.perf_counter()
    items = [_Item() for _ in range(5)]
    keys = [wheel.add(time.perf_counter_ns() + int(0.05e9 * (i + 1)), item) for i, item in enumerate(items)]
    wheel.discard(keys[2], items[2])  # its reply came
    gevent.sleep(0.05 * 5 + 4 * TICK_S)
    for index, item in enumerate(items):
        if index == 2:
            assert item.expired_at is None
            continue
        assert item.expired_at is not None
        late_s = item.expired_at - start - 0.05 * (index + 1)
        assert -0.001 <= late_s <= 0.5  # never early; late only by a tick plus this machine's load
    assert len(wheel) == 0 and not wheel._timer.active  # idle: no timer running


def test_a_deadline_already_past_expires_at_the_next_tick() -> None:
    # idle wheel, then busy: a past deadline used to land in a bucket the tick never visits
    wheel = Wheel()
    for busy in (False, True):
        other = _Item()
        if busy:
            wheel.add(time.perf_counter_ns() + int(1e9), other)  # keeps the timer running meanwhile
            gevent.sleep(3 * TICK_S)
        late = _Item()
        wheel.add(time.perf_counter_ns() - int(0.5e9), late)
        gevent.sleep(0.2)  # many ticks: bounded, and far less than the 0.5 s it is overdue
        assert late.expired_at is not None, f"busy={busy}: a past deadline never expired"
        assert other.expired_at is None


def test_loop_lag_measures_a_blocked_loop_and_ticks_every_interval() -> None:
    lags: list[int] = []
    sampler = LoopLag(lags.append, interval_s=0.02)
    try:
        gevent.sleep(0.2)
        ticks = len(lags)
        blocked_until = time.perf_counter() + 0.15
        while time.perf_counter() < blocked_until:  # hold the hub: no greenlet switch
            pass
        gevent.sleep(0.05)
    finally:
        sampler.stop()
    assert 3 <= ticks <= 12  # ~10 ticks of 20 ms, not one per loop iteration
    assert max(lags) >= 100_000  # the 150 ms block shows as lag (µs)


def test_every_request_of_a_burst_times_out_even_after_the_first_did(serve) -> None:
    server = serve("--read-delay", "1.0")  # the target answers a message a second after the last
    replies: list[object] = []

    def body(session: Session, index: int) -> None:
        replies.extend(session.request_burst([{"type": "echo"} for _ in range(3)], timeout_s=0.2))

    run = run_sessions(server.url, 1, body)
    # the 2nd and 3rd were awaited after the 1st timed out: their deadline had passed by then
    assert replies == [None, None, None]
    assert run.summary["errors"]["reply_timeouts"] == 3 and len(run.failures("echo")) == 3
