"""Unit tests for loadtest.correlation.Correlator."""

from __future__ import annotations

import pytest

from loadtest.correlation import Correlator


def test_ids_increase_from_one() -> None:
    c: Correlator[str] = Correlator()
    ids = [c.register(sent_ns=i * 10, waiter=f"w{i}") for i in range(5)]

    assert ids == [1, 2, 3, 4, 5]
    assert len(c) == 5


def test_ids_are_not_reused_after_match() -> None:
    c: Correlator[str] = Correlator()
    first = c.register(100, "a")
    assert c.match(first, 200) is not None

    assert c.register(300, "b") == first + 1


def test_match_returns_rtt_and_waiter() -> None:
    c: Correlator[str] = Correlator()
    request_id = c.register(sent_ns=1_000_000, waiter="waiter-1")

    assert c.match(request_id, received_ns=1_250_500) == (250_500, "waiter-1")
    assert len(c) == 0


def test_match_twice_returns_none_the_second_time() -> None:
    c: Correlator[str] = Correlator()
    request_id = c.register(10, "w")

    assert c.match(request_id, 20) == (10, "w")
    assert c.match(request_id, 30) is None


def test_match_out_of_order() -> None:
    c: Correlator[str] = Correlator()
    a = c.register(100, "a")
    b = c.register(150, "b")

    assert c.match(b, 400) == (250, "b")
    assert c.match(a, 500) == (400, "a")
    assert len(c) == 0


@pytest.mark.parametrize("request_id", [99, 0, -1, "1", True, 1.0, None, b"1", [1]])
def test_unknown_or_non_int_id_returns_none(request_id: object) -> None:
    c: Correlator[str] = Correlator()
    known = c.register(10, "w")
    assert known == 1

    assert c.match(request_id, 20) is None
    assert len(c) == 1  # the pending request is untouched


def test_forget_then_late_reply_is_uncorrelated() -> None:
    c: Correlator[str] = Correlator()
    request_id = c.register(10, "w")

    assert c.forget(request_id) is True
    assert len(c) == 0
    assert c.match(request_id, 10_000) is None


def test_forget_after_match_returns_false() -> None:
    c: Correlator[str] = Correlator()
    request_id = c.register(10, "w")
    c.match(request_id, 20)

    assert c.forget(request_id) is False
    assert c.forget(12345) is False


def test_fail_all_calls_every_waiter_once_and_empties() -> None:
    c: Correlator[str] = Correlator()
    for name in ("a", "b", "c"):
        c.register(0, name)
    failed: list[str] = []

    assert c.fail_all(failed.append) == 3
    assert sorted(failed) == ["a", "b", "c"]
    assert len(c) == 0
    assert c.match(1, 5) is None
    assert c.fail_all(failed.append) == 0
    assert sorted(failed) == ["a", "b", "c"]


def test_fail_all_skips_matched_and_forgotten() -> None:
    c: Correlator[str] = Correlator()
    a = c.register(0, "a")
    b = c.register(0, "b")
    c.register(0, "c")
    c.match(a, 1)
    c.forget(b)
    failed: list[str] = []

    assert c.fail_all(failed.append) == 1
    assert failed == ["c"]


def test_max_pending_raises_overflow_error() -> None:
    c: Correlator[int] = Correlator(max_pending=3)
    for i in range(3):
        c.register(i, i)

    with pytest.raises(OverflowError, match="more than 3 requests awaiting replies"):
        c.register(3, 3)
    assert len(c) == 3

    # a reply frees a slot
    assert c.match(1, 10) == (10, 0)
    assert c.register(4, 4) == 4
