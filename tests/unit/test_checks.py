"""--ws-check paths: every number of the summary, list elements, aggregates, and helpful typos."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest.errors import ConfigError
from loadtest.metrics.recorder import Recorder
from loadtest.report import checks, summary


def _summary() -> dict[str, Any]:
    rec = Recorder()
    rec.on_open({"connect": 1000})
    rec.on_close("server", 1011)
    result = summary.build(
        rec,
        target="ws://127.0.0.1:1",
        duration_s=10.0,
        locust_totals={"requests": 200, "failures": 3, "fail_ratio": 0.015},
        process=summary.process_section(
            {"cpu_s": 1.5, "max_rss_mib": 80.0},
            [
                {"worker": "b", "cpu_s": 4.0, "max_rss_mib": 90.0},
                {"worker": "a", "cpu_s": 2.0, "max_rss_mib": 70.0},
            ],
        ),
    )
    result["storms"] = [
        {"index": 0, "trigger": "client", "dropped": 10, "fleet_back_s": 1.5},
        {"index": 1, "trigger": "client", "dropped": 6, "fleet_back_s": None},
        {"index": 2, "trigger": "server", "dropped": 4, "fleet_back_s": 3.0},
    ]
    return result


@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("locust.fail_ratio", 0.015),
        ("locust.failures", 3),
        ("process.cpu_s", 1.5),
        ("process.total.cpu_s", 7.5),
        ("process.total.processes", 3),
        ("process.workers.max.cpu_s", 4.0),
        ("process.workers.0.cpu_s", 2.0),  # workers are sorted by name
        ("storms.0.fleet_back_s", 1.5),
        ("storms.last.dropped", 4),
        ("storms.max.fleet_back_s", 3.0),  # None (never back) is no number: left out
        ("storms.sum.dropped", 20),
        ("storms.min.dropped", 4),
        ("storms.avg.dropped", 20 / 3),
        ("storms.count", 3),
        ("storms.7.dropped", None),  # no such storm: no data, the check fails
        ("closes.server.1011", 1),
        ("closes.server.1006", 0),  # a code that did not occur
    ],
)
def test_paths_resolve_to_the_numbers_of_the_summary(metric: str, value: Any) -> None:
    assert checks.resolve(_summary(), metric) == value
    checks.parse(f"{metric}<1")  # and the same path is accepted before the run


def test_a_check_on_no_data_fails_and_says_so() -> None:
    (verdict,) = checks.evaluate([checks.parse("storms.7.dropped<100")], _summary())
    assert verdict["passed"] is False and verdict["value"] is None
    assert "no data" in checks.render([verdict])


@pytest.mark.parametrize(
    ("text", "nearest"),
    [
        ("rtt_ms.p98<1", "rtt_ms.p99"),
        ("lcoust.fail_ratio<1", "locust.fail_ratio"),
        ("storm.max.fleet_back_s<3", "storms.max.fleet_back_s"),
        ("process.cpu<3", "process.cpu_s"),
    ],
)
def test_an_unknown_path_names_the_nearest_valid_ones(text: str, nearest: str) -> None:
    with pytest.raises(ConfigError) as error:
        checks.parse(text)
    message = str(error.value)
    assert "is not in the summary; nearest valid:" in message and nearest in message


def test_a_path_to_a_section_is_refused() -> None:
    with pytest.raises(ConfigError, match="'rtt_ms' is not a number"):
        checks.parse("rtt_ms<3")


def test_every_number_of_the_schema_is_a_valid_path() -> None:
    paths = checks._valid_paths(summary.schema())
    assert len(paths) > 100
    for path in paths:
        checks.parse(f"{path.replace('<key>', '1011')}>=0")
