"""The self-contained HTML report and the /ws/ page as HTML: every section, check and Locust row,
the inlined library and points, and nothing loaded from anywhere."""

from __future__ import annotations

import json
import re
import tomllib
from fnmatch import fnmatch
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from locust import User
from locust.env import Environment

from loadtest.metrics.recorder import Recorder
from loadtest.plugin import web_page
from loadtest.report import assets, charts, html, page, sections, summary
from loadtest.report.tables import all_tables
from tests.web.samples import GAP_INDEX, locust_environment, recorded, result_with_checks, series, storm

ROOT = Path(__file__).resolve().parents[2]
#: Void elements, which have no end tag in HTML.
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "source", "wbr", "area", "base", "embed", "track"}
#: SVG elements written self-closed (the theme button's icons).
SELF_CLOSED = {"path", "circle"}


class Balance(HTMLParser):
    """Collect the text, the tags, the scripts' bodies and any tag closed without being open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
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
        if self.stack and self.stack[-1] == "script":
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        elif not (self.stack and self.stack[-1] == "style"):
            self.text.append(data)


def parse(document: str) -> Balance:
    parser = Balance()
    parser.feed(document)
    parser.close()
    return parser


def words(parsed: Balance) -> str:
    return " ".join(" ".join(parsed.text).split())


def spec_of(parsed: Balance) -> dict[str, Any]:
    (body,) = [body for attrs, body in parsed.scripts if attrs.get("id") == "ws-spec"]
    spec: dict[str, Any] = json.loads(body)
    return spec


@pytest.fixture
def environment() -> Environment:
    return locust_environment()


def test_report_shows_every_section_check_and_locust_row(environment: Environment) -> None:
    result = result_with_checks(recorded())
    result["workers"] = {"reported": 2, "lost": [{"worker": "w-1", "lost_at": "12:00:01", "elapsed_s": 3.0}]}
    document = html.render(environment, result, series())
    text = words(parse(document))

    assert "WebSocket load test: wss://example.test:8443/ws?token=***" in text
    assert "12.3 s" in text
    # The sections, in order, each under its heading.
    shown = [h for h in re.findall(r"<h2>(.*?)</h2>", document) if h in sections.TITLES.values()]
    assert shown == [sections.TITLES[name] for name in sections.SECTIONS]
    assert "Sessions Connected Peak Opened Ended 1 10 10 9" in text
    tables = all_tables(result)
    assert {(r["who"], r["code"]) for r in tables["closes"]} == {
        ("server", 1011),
        ("server", 1001),
        ("client", 1000),
        ("nobody", 1006),
    }
    for row in tables["closes"]:
        cells = f"{row['code']} {row['who']} {row['meaning']} {row['count']} {row['share'] * 100:.1f}%"
        assert f"{cells} {row['hint']}" in text, cells
    assert "1011 server internal server error 4 44.4% server bug: check its logs" in text
    for row in tables["handshake_failures"]:
        assert f"{row['class']} {row['count']} {row['hint']}" in text
    rtt = result["rtt_ms"]
    assert f"rtt 5 {rtt['min']:.3f} {rtt['p50']:.3f}" in text  # sub-millisecond: 3 decimals
    assert "0.180" in text
    assert "send_queue_bytes" in text and "send_stall_ms" in text
    # The storm: its own section, every column; "never" when the fleet did not come back.
    assert "0 client 4.250 10 10 9 1 120.500 480.250 never 3 40 http_503=4, refused=1" in text
    # Findings keep what has no section (a lost worker) and leave the storm to its section.
    assert "worker lost: w-1 at 12:00:01 (3.0 s in)" in text
    assert "storm 0 (client)" not in text
    # Checks: one fails (4 > 2), one passes.
    assert "FAIL closes.server.1011<=2 4" in text
    assert "PASS handshake_failures.total<=5 3" in text
    assert "FAILED" in text
    # Locust's statistics and failures.
    assert re.search(r"WS echo 2 1 ", text)
    assert re.search(r"WSC connect 1 0 ", text)
    assert re.search(r"Aggregated 3 1 ", text)
    assert "TimeoutError('no reply <within> 5 s')" in text


def test_report_is_one_file_with_the_library_the_points_and_no_url(environment: Environment) -> None:
    document = html.render(environment, result_with_checks(recorded()), series())
    parsed = parse(document)
    assert parsed.errors == []
    assert [t for t in parsed.stack if t not in SELF_CLOSED] == []
    # Three scripts, all inline: the points, ECharts, page.js.
    assert [attrs for attrs, _ in parsed.scripts] == [{"type": "application/json", "id": "ws-spec"}, {}, {}]
    library, script = parsed.scripts[1][1], parsed.scripts[2][1]
    assert library == assets.script("echarts.min.js") and f'version="{assets.ECHARTS_VERSION}"' in library
    assert script == assets.script("page.js")
    # Nothing is loaded or linked: no src, no <link>, no href but in-page anchors, no CSS url().
    assert all("src" not in attrs for _, attrs in parsed.tags)
    assert not [tag for tag, _ in parsed.tags if tag in ("link", "img", "iframe", "object", "embed")]
    hrefs = [attrs["href"] or "" for _, attrs in parsed.tags if "href" in attrs]
    assert hrefs and all(h.startswith("#") for h in hrefs)
    assert not re.search(r"(?i)url\(|@import", page.CSS)
    outside_scripts = re.sub(r"(?s)<script\b.*?</script>", "", document)
    assert not re.search(r"(?i)\b(?:https?:)?//[a-z0-9.-]+", outside_scripts), "no URL to any host"
    # The spec carries the points as recorded: the gap stays null (a gap, not a zero).
    spec = spec_of(parsed)
    assert spec["live"] is False
    assert spec["series"] == json.loads(json.dumps(series()))
    assert spec["series"][GAP_INDEX]["rtt_p99_ms"] is None
    assert [c["id"] for c in spec["charts"]] == [
        "sessions",
        "rtt",
        "closes",
        "messages",
        "handshakes",
        "queue",
    ]
    assert {tuple(line[0] for line in c["lines"]) for c in spec["charts"]} >= {
        ("sessions_connected",),
        ("rtt_p50_ms", "rtt_p99_ms", "ping_rtt_p99_ms"),
        ("closes_server_per_s", "closes_client_per_s", "closes_abnormal_per_s"),
        ("messages_sent_per_s", "messages_received_per_s"),
        ("handshake_failures_per_s",),
        ("send_queue_bytes_p99",),
    }
    # One frame per chart, and the RTT note next to its chart.
    figures = [attrs["data-chart"] for tag, attrs in parsed.tags if tag == "figure"]
    assert figures == [c["id"] for c in charts.CHARTS]
    assert "Locust's Response Times chart rounds every response time to whole milliseconds" in words(parsed)


def test_report_escapes_everything(environment: Environment) -> None:
    result = summary.build(recorded(), target='ws://h/"><script>alert(1)</script>', duration_s=1.0)
    result["checks"] = []
    result["storms"] = [{**storm(), "trigger": "<b>x</b>", "handshake_failures": {"<i>": 1}}]
    environment.events.request.fire(
        request_type="WS",
        name="<img onerror=x>",
        response_time=1,
        response_length=0,
        exception=None,
        context={},
    )
    document = html.render(environment, result, [])
    parsed = parse(document)
    assert parsed.errors == []
    assert len(parsed.scripts) == 3, "no script came in with a value"
    assert not [tag for tag, _ in parsed.tags if tag in ("img", "b", "i")]
    assert "&lt;script&gt;" in document and "&lt;img onerror=x&gt;" in document
    assert "&lt;b&gt;x&lt;/b&gt;" in document and "&lt;i&gt;=1" in document
    assert "No --ws-check conditions were given." in document
    assert "No samples were taken." in words(parsed)


def test_report_without_any_sample_says_so_in_every_section() -> None:
    result = summary.build(Recorder(), target="ws://127.0.0.1:1", duration_s=0.0)
    text = words(parse(html.render(Environment(user_classes=[User]), result, [])))
    for name in ("closes", "handshake_failures", "storms"):
        assert sections.EMPTY[name] in text, name
    assert "no requests" not in text  # the aggregated row is always there
    assert "no failures" in text


def test_script_data_cannot_end_its_element() -> None:
    hostile = {"a": "</script><script>alert(1)</script>", "b": "<!-- x"}
    parsed = parse(f"<body>{assets.json_script('x', hostile)}</body>")
    assert len(parsed.scripts) == 1 and json.loads(parsed.scripts[0][1]) == hostile
    with pytest.raises(ValueError, match="cannot be inlined"):
        assets.inline_script("let s = '</SCRIPT>';")


def test_format_rules() -> None:
    assert sections.fmt(0.1234, "ms") == "0.123"
    assert sections.fmt(None, "ms") == "—"
    assert sections.fmt(0.25, "share") == "25.0%"
    assert sections.fmt(48.0, "num") == "48" and sections.fmt(0.5151, "num") == "0.515"
    assert sections.fmt("", "text") == ""
    assert sections.fmt(None, "back_s") == "never" and sections.fmt(1.5, "back_s") == "1.50"
    assert (
        sections.fmt({"tls": 2, "dns": 1}, "pairs") == "tls=2, dns=1" and sections.fmt({}, "pairs") == "none"
    )
    assert sections.cell(storm(), "recovery_ms.p99") == 480.25
    assert sections.cell(storm(), "recovery_ms.p999") is None and sections.cell({}, "a.b") is None


def snapshot(**extra: Any) -> dict[str, Any]:
    result = result_with_checks(recorded())
    return {
        "summary": result,
        "tables": all_tables(result),
        "sessions": {"connected": 1, "peak": 10, "opened": 10, "ended": 9},
        "series": series(),
        "checks": result["checks"],
        "finished": False,
        **extra,
    }


def test_live_page_has_the_sections_links_and_loads_its_scripts_from_its_own_folder() -> None:
    document = web_page.render_page(snapshot())
    parsed = parse(document)
    assert parsed.errors == []
    text = words(parsed)
    assert "1011 server internal server error 4 44.4% server bug: check its logs" in text
    assert "Sessions Connected Peak Opened Ended 1 10 10 9" in text
    assert "0 client 4.250 10 10 9 1 120.500 480.250 never 3 40" in text
    srcs = [attrs["src"] for tag, attrs in parsed.tags if tag == "script" and "src" in attrs]
    assert srcs == ["static/echarts.min.js", "static/page.js"]
    hrefs = {attrs["href"] for _, attrs in parsed.tags if "href" in attrs}
    assert {"../", "data", "csv/history", "csv/closes", "#s-storms", "#s-charts"} <= hrefs
    assert not any(h.startswith("/") or "//" in h for h in hrefs if h), "links stay relative"
    spec = spec_of(parsed)
    assert spec["live"] is True and spec["refresh_ms"] == web_page.REFRESH_MS
    assert spec["series"] == json.loads(json.dumps(series()))
    assert "· running" in text


def test_live_page_shows_the_state_when_the_snapshot_has_one() -> None:
    assert "· stopped" in words(parse(web_page.render_page(snapshot(state="stopped"))))
    assert "· finished" in words(parse(web_page.render_page(snapshot(finished=True))))
    bare = web_page.render_page({"summary": {}, "finished": False})  # fields read defensively
    assert "no session has ended" in words(parse(bare))


def test_the_wheel_ships_the_scripts_and_the_licences() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    folder = ROOT / "loadtest" / "report"
    needed = ["/".join(parts) for parts in assets.SCRIPTS.values()]
    needed += ["vendor/LICENSE", "vendor/NOTICE", "vendor/LICENSE-d3"]
    for name in needed:
        assert (folder / name).is_file(), name
        assert any(fnmatch(name, glob) for glob in globs["loadtest.report"]), name
    notice = (folder / "vendor" / "NOTICE").read_text()
    assert "Apache ECharts" in notice
    assert "Apache License" in (folder / "vendor" / "LICENSE").read_text()
    assert f"ECharts {assets.ECHARTS_VERSION}" in (folder / "vendor" / "README.md").read_text()
