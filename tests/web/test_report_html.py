"""The self-contained HTML report: every table, hint, check and Locust row, and nothing from outside."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from locust import User
from locust.env import Environment

from loadtest.metrics.aggregate import Aggregate
from loadtest.metrics.recorder import Recorder
from loadtest.plugin import web, web_page
from loadtest.report import checks, html, page, summary
from loadtest.report.tables import all_tables

#: Void elements, which have no end tag in HTML.
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "source", "wbr", "area", "base", "embed", "track"}
#: SVG elements written self-closed (``<rect .../>``).
SELF_CLOSED = {"rect", "line", "polyline"}


class Balance(HTMLParser):
    """Collect the text, the tags and any tag that is closed without being open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> Balance:
    parser = Balance()
    parser.feed(document)
    parser.close()
    return parser


def recorded() -> Recorder:
    """Return a recorder fed known samples: opens, every kind of close, handshake failures, RTTs."""
    rec = Recorder(backpressure_threshold_bytes=1000)
    phases = {"connect": 2500, "connect_tcp": 400, "connect_upgrade": 2100}
    for _ in range(10):
        rec.on_open(phases)
    for _ in range(4):
        rec.on_close("server", 1011)
    rec.on_close("server", 1001)
    for _ in range(3):
        rec.on_close("client", 1000)
    rec.on_close("abnormal", 1006, "reset")
    for _ in range(2):
        rec.on_handshake_failure("refused")
    rec.on_handshake_failure("http_503")
    for rtt_us in (180, 250, 420, 900, 1500):
        rec.on_rtt(rtt_us)
    rec.on_send(64, 30, 128)
    rec.on_send(64, 45, 4096)
    return rec


def series() -> list[dict[str, Any]]:
    """Return a few time-series points from an aggregate fed the same kind of samples."""
    agg = Aggregate()
    points = []
    for i in range(4):
        rec = Recorder()
        rec.on_open({"connect": 1000})
        rec.on_rtt(300 + 100 * i)
        rec.on_send(10, 5, 64 * (i + 1))
        if i % 2:
            rec.on_close("server", 1011)
        agg.ingest("local", {**rec.take_delta(), "span_s": 2.0})
        points.append(agg.sample(1_700_000_000.0 + 2 * i, 2.0 * (i + 1)))
    points[1]["rtt_p99_ms"] = None  # a gap: the line breaks there
    return points


@pytest.fixture
def environment() -> Environment:
    env = Environment(user_classes=[User])
    env.create_local_runner()  # the runner is what logs request events into env.stats
    env.events.request.fire(
        request_type="WS", name="echo", response_time=0.42, response_length=30, exception=None, context={}
    )
    env.events.request.fire(
        request_type="WS",
        name="echo",
        response_time=1.5,
        response_length=30,
        exception=TimeoutError("no reply <within> 5 s"),
        context={},
    )
    env.events.request.fire(
        request_type="WSC", name="connect", response_time=2.5, response_length=0, exception=None, context={}
    )
    return env


def result_with_checks(rec: Recorder) -> dict[str, Any]:
    result = summary.build(rec, target="wss://example.test:8443/ws?token=***", duration_s=12.345)
    specs = ["closes.server.1011<=2", "handshake_failures.total<=5"]
    result["checks"] = checks.evaluate([checks.parse(s) for s in specs], result)
    result["passed"] = all(v["passed"] for v in result["checks"])
    return result


def test_report_shows_every_websocket_row_check_and_locust_row(environment: Environment) -> None:
    result = result_with_checks(recorded())
    document = html.render(environment, result, series())
    parsed = parse(document)
    text = " ".join(" ".join(parsed.text).split())

    assert "WebSocket load test: wss://example.test:8443/ws?token=***" in text
    assert "12.3 s" in text
    tables = all_tables(result)
    assert {(r["who"], r["code"]) for r in tables["closes"]} == {
        ("server", 1011),
        ("server", 1001),
        ("client", 1000),
        ("nobody", 1006),
    }
    for row in tables["closes"]:
        cells = f"{row['code']} {row['who']} {row['meaning']} {row['count']} {row['share'] * 100:.1f}%"
        assert cells in text, cells
        assert row["hint"] in text
    assert "1011 server internal server error 4 44.4% server bug: check its logs" in text
    for row in tables["handshake_failures"]:
        assert f"{row['class']} {row['count']} {row['hint']}" in text
    rtt = result["rtt_ms"]
    assert f"rtt 5 {rtt['min']:.3f} {rtt['p50']:.3f}" in text  # sub-millisecond: 3 decimals
    assert "0.180" in text
    assert "send_queue_bytes" in text and "send_stall_ms" in text
    assert "connected 1 · peak 10 · opened 10 · ended 9" in text
    # Checks: one fails (4 > 2), one passes.
    assert "FAIL closes.server.1011<=2 4" in text
    assert "PASS handshake_failures.total<=5 3" in text
    assert "FAILED" in text
    # Locust's statistics and failures.
    assert re.search(r"WS echo 2 1 ", text)
    assert re.search(r"WSC connect 1 0 ", text)
    assert re.search(r"Aggregated 3 1 ", text)
    assert "TimeoutError('no reply <within> 5 s')" in text  # escaped in the source, plain once parsed
    assert "&lt;within&gt;" in document


def test_report_is_self_contained_and_balanced(environment: Environment) -> None:
    document = html.render(environment, result_with_checks(recorded()), series())
    parsed = parse(document)
    assert parsed.errors == []
    assert [t for t in parsed.stack if t not in SELF_CLOSED] == []
    assert "<script" not in document.lower()
    assert not re.search(r"(?i)\b(?:https?:)?//[a-z0-9.-]+", document), "no URL to any other host"
    assert not re.search(r'(?i)\b(?:src|href)\s*=\s*"(?!#)', document), "nothing loaded or linked"
    svgs = [attrs for tag, attrs in parsed.tags if tag == "svg"]
    assert {a["data-chart"] for a in svgs} == {c["id"] for c in page.CHARTS}
    polylines = [attrs["points"] or "" for tag, attrs in parsed.tags if tag == "polyline"]
    assert len(polylines) >= len(page.CHARTS)
    assert all(len(p.split()) >= 2 for p in polylines)
    assert document.count("<svg") == len(page.CHARTS)


def test_report_escapes_everything(environment: Environment) -> None:
    result = summary.build(recorded(), target='ws://h/"><script>alert(1)</script>', duration_s=1.0)
    result["checks"] = []
    environment.events.request.fire(
        request_type="WS",
        name="<img onerror=x>",
        response_time=1,
        response_length=0,
        exception=None,
        context={},
    )
    document = html.render(environment, result, [])
    assert "<script>" not in document and "<img" not in document
    assert "&lt;script&gt;" in document and "&lt;img onerror=x&gt;" in document
    assert "No --ws-check conditions were given." in document
    assert "No samples were taken." in document
    assert parse(document).errors == []


def test_report_without_any_sample_has_empty_tables(environment: Environment) -> None:
    result = summary.build(Recorder(), target="ws://127.0.0.1:1", duration_s=0.0)
    document = html.render(Environment(user_classes=[User]), result, [])
    text = " ".join(" ".join(parse(document).text).split())
    assert page.EMPTY["closes"] in text and page.EMPTY["handshake_failures"] in text
    assert "no requests" not in text  # the aggregated row is always there
    assert "no failures" in text


def test_format_rules() -> None:
    assert page.fmt(0.1234, "ms") == "0.123"
    assert page.fmt(None, "ms") == "—"
    assert page.fmt(0.25, "share") == "25.0%"
    assert page.fmt(48.0, "num") == "48" and page.fmt(0.5151, "num") == "0.515"
    assert page.fmt("", "text") == ""


def test_live_page_and_tab_rows_come_from_the_same_snapshot() -> None:
    result = result_with_checks(recorded())
    snap = {
        "summary": result,
        "tables": all_tables(result),
        "sessions": {"connected": 1, "peak": 10, "opened": 10, "ended": 9},
        "series": series(),
        "checks": result["checks"],
        "finished": False,
    }
    document = web_page.render_page(snap)
    parsed = parse(document)
    assert parsed.errors == []
    assert "<script src" not in document
    text = " ".join(" ".join(parsed.text).split())
    assert "1011 server internal server error 4 44.4% server bug: check its logs" in text
    assert 'href="data"' in document and 'href="csv/history"' in document and 'href="../"' in document
    assert 'href="/' not in document, "links stay relative (--web-base-path)"
    rows = web.tab_rows(snap, "/base/ws/")
    by_item = {(r["section"], r["item"]): r for r in rows}
    assert by_item[("closes", "1011")] == {
        "section": "closes",
        "who": "server",
        "item": "1011",
        "count": 4,
        "share": "44.4%",
        "meaning": "internal server error",
        "hint": "server bug: check its logs",
    }
    assert by_item[("sessions", "connected")]["count"] == 1
    assert by_item[("handshake failures", "total")]["count"] == 3
    assert by_item[("handshake failures", "refused")]["hint"].startswith("nothing listens there")
    assert by_item[("latency ms", "rtt")]["p50"] == f"{result['rtt_ms']['p50']:.3f}"
    assert "/base/ws/" in by_item[("charts", "over time")]["meaning"]
    keys = {key for key, _ in web.TAB_COLUMNS}
    assert all(set(r) <= keys for r in rows)
