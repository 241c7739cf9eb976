"""--ws-regression rules against a baseline summary: direction, zero baselines, no data, warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtest.errors import ConfigError
from loadtest.report import baseline


def _summary(
    p99: float | None, peak: int, target: str = "ws://a", locustfile: str = "/x/echo.py"
) -> dict[str, Any]:
    return {
        "schema": "loadtest.summary/1",
        "target": target,
        "rtt_ms": {"p99": p99},
        "sessions": {"peak_concurrent": peak},
        "closes": {"server": {"1011": 3}},
        "run": {"locustfile": locustfile, "user_classes": ["EchoUser"], "started_at": 1.0},
    }


def _row(rule: str, before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    section = baseline.compare(before, now, (baseline.parse_rule(rule),), "prev.json")
    (row,) = section["compared"]
    assert section["passed"] is row["passed"]
    return row


@pytest.mark.parametrize(
    ("rule", "before", "now", "passed", "change"),
    [
        ("rtt_ms.p99:+20%", 10.0, 11.9, True, 19.0),
        ("rtt_ms.p99:+20%", 10.0, 12.1, False, 21.0),
        ("rtt_ms.p99:+20%", 10.0, 5.0, True, -50.0),  # better is never a regression
        ("sessions.peak_concurrent:-10%", 1000, 901, True, -9.9),
        ("sessions.peak_concurrent:-10%", 1000, 899, False, -10.1),
        ("sessions.peak_concurrent:-10%", 1000, 2000, True, 100.0),
    ],
)
def test_a_rule_fails_only_when_the_metric_got_worse_than_allowed(
    rule: str, before: float, now: float, passed: bool, change: float
) -> None:
    metric = rule.split(":")[0]
    old = _summary(before, 0) if metric.startswith("rtt") else _summary(1.0, int(before))
    new = _summary(now, 0) if metric.startswith("rtt") else _summary(1.0, int(now))
    row = _row(rule, old, new)
    assert row["passed"] is passed and row["change_pct"] == change


def test_zero_baselines_and_missing_data() -> None:
    zero_to_one = _row(
        "closes.server.1006:+50%", _summary(1.0, 0), _summary(1.0, 0) | {"closes": {"server": {"1006": 1}}}
    )
    assert (
        zero_to_one["passed"] is False and zero_to_one["change_pct"] is None
    )  # growth from 0 is a regression
    assert _row("closes.server.1006:+50%", _summary(1.0, 0), _summary(1.0, 0))["passed"] is True
    no_data = _row("rtt_ms.p99:+20%", _summary(None, 0), _summary(5.0, 0))
    assert no_data["passed"] is False and no_data["baseline"] is None


def test_without_rules_the_usual_numbers_stand_side_by_side_and_nothing_fails() -> None:
    section = baseline.compare(_summary(10.0, 5), _summary(30.0, 5), (), "prev.json")
    assert section["passed"] is True and {row["passed"] for row in section["compared"]} == {None}
    assert [r["change_pct"] for r in section["compared"] if r["metric"] == "rtt_ms.p99"] == [200.0]


def test_different_targets_and_scenarios_warn() -> None:
    section = baseline.compare(_summary(1, 1), _summary(1, 1, "ws://b", "/y/burst_send.py"), (), "p.json")
    assert section["warnings"] == [
        "the baseline ran against 'ws://a', this run against 'ws://b'",
        "the baseline ran echo.py (EchoUser), this run burst_send.py (EchoUser)",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("rtt_ms.p99+20%", "is not of the form METRIC:+N%"),
        ("rtt_ms.p99:20%", "is not of the form METRIC:+N%"),
        ("rtt_ms.p98:+20%", "'rtt_ms.p98' is not in the summary; nearest valid: rtt_ms.p99"),
    ],
)
def test_bad_rules_are_one_sentence(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        baseline.parse_rule(text)
    assert words in str(error.value) and str(error.value).startswith(f"--ws-regression {text!r}")


def test_a_baseline_must_be_a_summary(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        baseline.load(str(tmp_path / "missing.json"))
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ConfigError, match="is not a loadtest run summary"):
        baseline.load(str(tmp_path / "other.json"))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="is not readable JSON"):
        baseline.load(str(tmp_path / "broken.json"))


def test_two_runs_on_the_embedded_target_are_the_same_target() -> None:
    before, now = _summary(1, 1, "ws://127.0.0.1:40001"), _summary(1, 1, "ws://127.0.0.1:40002")
    before["run"]["embedded_target"] = now["run"]["embedded_target"] = True
    assert baseline.compare(before, now, (), "p.json")["warnings"] == []
