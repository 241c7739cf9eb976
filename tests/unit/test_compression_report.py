"""The summary's compression section, and how the console, the tables and --ws-check show it."""

from __future__ import annotations

import pytest

from loadtest.errors import ConfigError
from loadtest.metrics.recorder import Recorder
from loadtest.plugin import web
from loadtest.report import checks, console, summary
from loadtest.report.page import table_html
from loadtest.report.tables import all_tables


def _summary(recorder: Recorder) -> dict:
    return summary.build(recorder, target="ws://t", duration_s=1.0)


def _compressing() -> Recorder:
    recorder = Recorder()
    for name, n in {
        "deflate_offered": 4,
        "deflate_negotiated": 3,
        "deflate_payload_sent": 10_000,
        "deflate_wire_sent": 2_500,
        "deflate_payload_received": 8_000,
        "deflate_wire_received": 4_000,
    }.items():
        recorder.count(name, n)
    return recorder


def test_the_section_counts_sessions_and_bytes_with_ratios() -> None:
    assert _summary(_compressing())["compression"] == {
        "offered": 4,
        "negotiated": 3,
        "bytes_payload_sent": 10_000,
        "bytes_wire_sent": 2_500,
        "bytes_payload_received": 8_000,
        "bytes_wire_received": 4_000,
        "ratio_sent": 0.25,
        "ratio_received": 0.5,
    }


def test_a_run_without_compression_has_no_ratio_and_no_line() -> None:
    s = _summary(Recorder())
    assert s["compression"]["negotiated"] == 0 and s["compression"]["ratio_sent"] is None
    assert "compression" not in console.render(s)
    assert all_tables(s)["compression"] == []


def test_console_and_tables_show_it() -> None:
    s = _summary(_compressing())
    assert (
        " compression: permessage-deflate in 3 of 4 sessions; sent 10000 B -> 2500 B on the wire (25.0%),"
        " received 8000 B <- 4000 B (50.0%)"
    ) in console.render(s).splitlines()
    assert all_tables(s)["compression"] == [s["compression"]]


def test_checks_reach_the_section() -> None:
    s = _summary(_compressing())
    verdicts = checks.evaluate(
        [checks.parse("compression.ratio_sent<0.3"), checks.parse("compression.negotiated>=4")], s
    )
    assert [v["passed"] for v in verdicts] == [True, False]
    with pytest.raises(ConfigError, match="compression"):
        checks.parse("compression.ratio<0.3")  # a typo names the nearest valid paths
    no_data = checks.evaluate([checks.parse("compression.ratio_received<1")], _summary(Recorder()))
    assert no_data[0]["passed"] is False  # no compressed byte: no data, not a pass


def test_the_report_and_the_web_tab_show_the_ratio() -> None:
    s = _summary(_compressing())
    html = table_html("compression", all_tables(s)["compression"])
    assert "25.0%" in html and "50.0%" in html and "10000" in html
    [row] = web.tab_rows({"summary": s, "tables": all_tables(s), "sessions": {}})["compression"]
    assert (row["negotiated"], row["ratioSent"], row["ratioReceived"]) == (3, "25.0%", "50.0%")
    [empty] = web.tab_rows({"summary": _summary(Recorder()), "tables": all_tables(_summary(Recorder()))})[
        "compression"
    ]
    assert empty == {"negotiated": "not offered (--ws-compression off)"}
