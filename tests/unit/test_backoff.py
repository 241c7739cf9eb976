"""Unit tests for loadtest.metrics.backoff (reconnect delays)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable

import pytest

from loadtest.errors import ConfigError
from loadtest.metrics.backoff import STRATEGIES, Backoff


def _fixed(value: float) -> Callable[[], float]:
    return lambda: value


def _sequence(values: Iterable[float]) -> Callable[[], float]:
    it = iter(values)
    return lambda: next(it)


def _fail_rand() -> float:
    raise AssertionError("rand must not be called by this strategy")


def test_strategies_constant() -> None:
    assert STRATEGIES == ("immediate", "fixed", "exponential", "exponential-jitter")


def test_immediate_is_always_zero() -> None:
    b = Backoff(strategy="immediate", base_s=3.0, cap_s=30.0, rand=_fail_rand)
    assert [b.delay_s(attempt) for attempt in range(12)] == [0.0] * 12


def test_fixed_is_always_base() -> None:
    b = Backoff(strategy="fixed", base_s=2.5, cap_s=30.0, rand=_fail_rand)
    assert [b.delay_s(attempt) for attempt in range(12)] == [2.5] * 12


def test_fixed_is_capped() -> None:
    b = Backoff(strategy="fixed", base_s=45.0, cap_s=30.0, rand=_fail_rand)
    assert b.delay_s(0) == 30.0


def test_exponential_doubles_up_to_cap() -> None:
    b = Backoff(strategy="exponential", base_s=1.0, cap_s=30.0, rand=_fail_rand)
    assert [b.delay_s(attempt) for attempt in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_exponential_matches_field_guide_formula_in_ms() -> None:
    b = Backoff(strategy="exponential", base_s=1.0, cap_s=30.0, rand=_fail_rand)
    for attempt in range(15):
        assert b.delay_s(attempt) * 1000 == min(1000 * 2**attempt, 30_000)


def test_exponential_huge_attempt_does_not_overflow() -> None:
    b = Backoff(strategy="exponential", base_s=1.0, cap_s=30.0, rand=_fail_rand)
    assert b.delay_s(10_000) == 30.0


def test_exponential_jitter_is_rand_times_ceiling() -> None:
    b = Backoff(strategy="exponential-jitter", base_s=1.0, cap_s=30.0, rand=_fixed(0.5))
    assert [b.delay_s(attempt) for attempt in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]


def test_exponential_jitter_uses_each_draw() -> None:
    b = Backoff(strategy="exponential-jitter", base_s=1.0, cap_s=30.0, rand=_sequence([0.0, 0.25, 0.75]))
    assert [b.delay_s(2), b.delay_s(2), b.delay_s(2)] == [0.0, 1.0, 3.0]


def test_exponential_jitter_stays_below_ceiling() -> None:
    b = Backoff(strategy="exponential-jitter", base_s=1.0, cap_s=30.0, rand=_fixed(0.999))
    exp = Backoff(strategy="exponential", base_s=1.0, cap_s=30.0)
    for attempt in range(8):
        delay = b.delay_s(attempt)
        ceiling = exp.delay_s(attempt)
        assert delay == pytest.approx(0.999 * ceiling)
        assert delay < ceiling


def test_default_strategy_is_exponential_jitter() -> None:
    b = Backoff(rand=_fixed(0.5))
    assert b.strategy == "exponential-jitter"
    assert b.delay_s(0) == 0.5
    assert b.delay_s(10) == 15.0


def test_gives_up_after_max_attempts() -> None:
    b = Backoff(strategy="exponential", max_attempts=10)
    assert b.gives_up(0) is False
    assert b.gives_up(9) is False
    assert b.gives_up(10) is True
    assert b.gives_up(11) is True


def test_zero_max_attempts_never_gives_up() -> None:
    b = Backoff(strategy="exponential", max_attempts=0)
    assert [b.gives_up(n) for n in (0, 1, 10, 10_000)] == [False] * 4


def test_unknown_strategy_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown reconnect strategy 'linear'"):
        Backoff(strategy="linear")


@pytest.mark.parametrize(
    "kwargs",
    [{"base_s": -1.0}, {"cap_s": -0.5}, {"max_attempts": -1}],
)
def test_negative_values_raise_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="must not be negative"):
        Backoff(strategy="exponential", **kwargs)  # type: ignore[arg-type]


def _reconnect_instants(backoff: Backoff, clients: int, failed_attempts: int) -> list[float]:
    """Fake clock: all clients drop at t=0 and fail ``failed_attempts`` times; return each next retry."""
    instants = []
    for _ in range(clients):
        t = 0.0
        for attempt in range(failed_attempts + 1):
            t += backoff.delay_s(attempt)
        instants.append(t)
    return instants


def _max_bucket(instants: list[float], width_s: float = 0.1) -> int:
    return max(Counter(int(t // width_s) for t in instants).values())


def test_full_jitter_spreads_a_fleet_while_exponential_is_lock_step() -> None:
    clients = 1_000
    exponential = Backoff(strategy="exponential", base_s=1.0, cap_s=30.0)
    jitter = Backoff(strategy="exponential-jitter", base_s=1.0, cap_s=30.0, rand=random.Random(42).random)

    lock_step = _reconnect_instants(exponential, clients, failed_attempts=3)
    spread = _reconnect_instants(jitter, clients, failed_attempts=3)

    # exponential: every client reconnects at 1 + 2 + 4 + 8 = 15 s, all at once
    assert set(lock_step) == {15.0}
    assert _max_bucket(lock_step) == clients

    # full jitter: every instant differs, within [0, 15) s, and no 100 ms bucket holds more than 3%
    assert len(set(spread)) == clients
    assert all(0.0 <= t < 15.0 for t in spread)
    assert max(spread) - min(spread) > 10.0
    assert _max_bucket(spread) <= clients * 0.03
    assert _max_bucket(spread) * 20 < _max_bucket(lock_step)
