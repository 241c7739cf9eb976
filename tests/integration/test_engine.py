"""The engine's timer wheel and loop-lag sampler on the real hub (integration: short, bounded waits)."""

from __future__ import annotations

import time

import gevent

from loadtest.engine import TICK_S, LoopLag, Wheel


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
