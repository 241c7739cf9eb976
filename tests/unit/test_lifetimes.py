"""Idle-timeout suspects: named for idle drops and going-away closes after real idle, never otherwise."""

from __future__ import annotations

import pytest

from loadtest.metrics.recorder import Recorder
from loadtest.report import lifetimes


def _suspects(who: str, code: int, reason: str, idle_s: list[float]) -> list[dict[str, object]]:
    recorder = Recorder()
    for idle in idle_s:
        recorder.on_open({})
        recorder.on_close(who, code, reason, lifetime_us=int((idle + 5) * 1e6), idle_us=int(idle * 1e6))
    return lifetimes.idle_timeout_suspects(lifetimes.end_rows(recorder.ends))


@pytest.mark.parametrize(
    ("who", "code", "reason"),
    [
        ("server", 1009, ""),  # message too big: its own cause
        ("server", 1008, "auth failed"),  # auth failures
        ("server", 1011, ""),  # an error right after a reply
        ("server", 4001, "kicked"),  # an application kick
        ("abnormal", 1006, "eof"),  # dropped while busy
        ("server", 1001, ""),
    ],
)
def test_busy_sessions_are_never_suspects(who: str, code: int, reason: str) -> None:
    assert _suspects(who, code, reason, [0.0, 0.001, 0.002, 0.0, 0.001]) == []


@pytest.mark.parametrize(
    ("who", "code", "reason"), [("server", 1009, ""), ("server", 1011, ""), ("server", 1000, "")]
)
def test_closes_that_name_another_cause_are_never_suspects_even_after_idle(
    who: str, code: int, reason: str
) -> None:
    assert _suspects(who, code, reason, [30.0, 30.1, 30.2, 30.0]) == []


@pytest.mark.parametrize("reason", ["storm", "dead", "send_timeout", "stopped", "stopped_mid_send"])
def test_our_own_drops_are_never_suspects(reason: str) -> None:
    assert _suspects("abnormal", 1006, reason, [10.0, 10.1, 10.0]) == []


@pytest.mark.parametrize(
    ("who", "code", "reason", "end"),
    [
        ("abnormal", 1006, "eof", "abnormal:eof"),
        ("abnormal", 1006, "reset", "abnormal:reset"),
        ("server", 1001, "", "server:1001"),
    ],
)
def test_idle_drops_and_going_away_after_real_idle_are_suspects(
    who: str, code: int, reason: str, end: str
) -> None:
    (suspect,) = _suspects(who, code, reason, [60.0, 60.1, 60.2, 60.05])
    assert suspect["end"] == end and suspect["sessions"] == 4 and suspect["idle_age_s"] == 60.1


def test_idle_under_a_second_is_not_a_suspect() -> None:
    assert _suspects("abnormal", 1006, "eof", [0.6, 0.7, 0.65]) == []
    assert len(_suspects("abnormal", 1006, "eof", [1.2, 1.3, 1.25])) == 1
