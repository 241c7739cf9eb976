"""The web UI extension in process: tabs, routes under --web-base-path, the scripts, and --web-login."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from locust import User
from locust.env import Environment
from locust.web import WebUI

from loadtest.plugin import web
from loadtest.plugin.state import state_for
from loadtest.report import assets, sections
from loadtest.report.tables import all_tables
from tests.web.samples import recorded, result_with_checks


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Locust's web UI parses ``sys.argv`` for its extra options: give it a locust command line."""
    monkeypatch.setattr(sys, "argv", ["locust"])


def make_ui(*, base: str | None = None, login: bool = False) -> tuple[Environment, WebUI]:
    env = Environment(user_classes=[User], host="ws://127.0.0.1:1")
    env.create_local_runner()
    ui = env.create_web_ui("127.0.0.1", 0, web_base_path=base, web_login=login, delayed_start=True)
    web.install(env, ui)
    state = state_for(env)
    state.recorder.on_open({"connect": 1000})
    state.recorder.on_close("server", 1011)
    state.aggregate.ingest("local", state.recorder.take_delta())
    return env, ui


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    _, ui = make_ui(base="/lt")
    yield ui.app.test_client()


def test_template_args_declare_one_tab_and_table_per_section_and_the_downloads() -> None:
    _, ui = make_ui()
    args = ui.template_args
    assert args["extended_tabs"] == [{"title": title, "key": key} for _, key, title in web.TABS]
    assert [name for name, _, _ in web.TABS] == list(sections.SECTIONS)
    tables = {t["key"]: t["structure"] for t in args["extended_tables"]}
    assert set(tables) == {key for _, key, _ in web.TABS}
    for name, key, _ in web.TABS:
        assert [c["title"] for c in tables[key]] == [title for _, title in web.tab_columns(name)]
        # Locust camelCases the payload's keys and its columns' keys: ours already are.
        assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", c["key"]) for c in tables[key]), tables[key]
    assert [c["title"] for c in tables["ws-latency"]][2:4] == ["min ms", "p50 ms"]
    hrefs = {f["href"] for f in args["extended_csv_files"]}
    assert "./ws/csv/closes" in hrefs and "./ws/csv/history" in hrefs and "./ws/" in hrefs
    assert all(not h.startswith("/") for h in hrefs)


def test_routes_live_under_the_base_path(client: FlaskClient) -> None:
    data = client.get("/lt/ws/data")
    assert data.status_code == 200 and data.mimetype == "application/json"
    snap = json.loads(data.data)
    assert snap["tables"]["closes"][0]["code"] == 1011 and snap["finished"] is False
    assert client.get("/ws/data").status_code == 404
    page = client.get("/lt/ws/")
    assert page.status_code == 200 and b"internal server error" in page.data
    assert b'<script src="static/echarts.min.js">' in page.data
    csv = client.get("/lt/ws/csv/closes")
    assert csv.mimetype == "text/csv" and b"server,1011," in csv.data
    assert "attachment" in csv.headers["Content-Disposition"]
    assert client.get("/lt/ws/csv/history").data.startswith(b"t,elapsed_s,")
    assert client.get("/lt/ws/csv/secrets").status_code == 404


def test_the_scripts_are_served_from_the_package_and_nothing_else_is(client: FlaskClient) -> None:
    library = client.get("/lt/ws/static/echarts.min.js")
    assert library.status_code == 200 and library.mimetype == "text/javascript"
    assert library.data.decode() == assets.script("echarts.min.js")
    assert f'version="{assets.ECHARTS_VERSION}"'.encode() in library.data
    script = client.get("/lt/ws/static/page.js")
    assert script.status_code == 200 and b'localStorage.getItem(THEME_KEY) === "dark"' in script.data
    for path in (
        "/lt/ws/static/page.py",
        "/lt/ws/static/..%2Fpage.py",
        "/lt/ws/static/LICENSE",
        "/ws/static/page.js",
    ):
        assert client.get(path).status_code == 404, path


def test_stats_payload_carries_every_tab_and_the_page_the_link(client: FlaskClient) -> None:
    for _ in range(2):  # Locust memoizes the response object: extending it twice must stay right
        stats = json.loads(client.get("/lt/stats/requests").data)
        extended = {e["key"]: e["data"] for e in stats["extended_stats"]}
        assert set(extended) == {key for _, key, _ in web.TABS}
        assert extended["ws-closes"] == [
            {
                "code": "1011",
                "who": "server",
                "meaning": "internal server error",
                "count": 1,
                "share": "100.0%",
                "hint": "server bug: check its logs",
            }
        ]
        assert extended["ws-sessions"] == [{"connected": 0, "peak": 1, "opened": 1, "ended": 1}]
        assert extended["ws-handshakes"] == [{"class": "total", "count": 0, "hint": "no handshake failed"}]
        assert extended["ws-storms"] == [{"index": "no reconnect storm"}]
        assert [r["metric"] for r in extended["ws-latency"]][:3] == ["rtt", "ping_rtt", "connect"]
        assert "stats" in stats and "user_count" in stats  # Locust's own payload is untouched
    index = client.get("/lt/").data.decode()
    assert index.count('<a id="loadtest-ws-link" href="./ws/">') == 1
    assert index.count("#loadtest-ws-link{position:absolute") == 1
    assert index.index("#loadtest-ws-link{") < index.index("</head>") < index.index('id="loadtest-ws-link"')


def test_tab_rows_are_the_page_sections_formatted_alike() -> None:
    result = result_with_checks(recorded())
    snap = {
        "summary": result,
        "tables": all_tables(result),
        "sessions": {"connected": 1, "peak": 10, "opened": 10, "ended": 9},
        "series": [],
        "checks": [],
        "finished": False,
    }
    rows = web.tab_rows(snap)
    assert rows["sessions"] == [{"connected": 1, "peak": 10, "opened": 10, "ended": 9}]
    assert rows["closes"][0] == {
        "code": "1011",
        "who": "server",
        "meaning": "internal server error",
        "count": 4,
        "share": "44.4%",
        "hint": "server bug: check its logs",
    }
    failures = {r["class"]: r for r in rows["handshake_failures"]}
    assert list(failures)[0] == "total" and failures["total"]["count"] == 3
    assert failures["refused"]["hint"].startswith("nothing listens there")
    assert rows["latency"][0]["p50"] == f"{result['rtt_ms']['p50']:.3f}"
    assert rows["storms"] == [
        {
            "index": 0,
            "trigger": "client",
            "startedS": "4.250",
            "sessionsBefore": 10,
            "dropped": 10,
            "recovered": 9,
            "gaveUp": 1,
            "recoveryMsP50": "120.500",
            "recoveryMsP99": "480.250",
            "fleetBackS": "never",
            "attemptsPerRecoveryMax": "3",
            "peakHandshakeRatePerS": 40,
            "handshakeFailures": "http_503=4, refused=1",
        }
    ]
    for name, _, _ in web.TABS:
        keys = {key for key, _ in web.tab_columns(name)}
        assert all(set(row) <= keys for row in rows[name]), name


def test_routes_require_login_when_the_web_ui_does() -> None:
    _, ui = make_ui(login=True)
    ui.app.secret_key = "test only"  # what a locustfile using --web-login sets
    ui.login_manager.user_loader(lambda user_id: None)
    client = ui.app.test_client()
    for path in ("/ws/", "/ws/data", "/ws/csv/closes", "/ws/static/echarts.min.js", "/ws/static/page.js"):
        response = client.get(path)
        assert response.status_code == 302 and "login" in response.headers["Location"], path
        assert b"1011" not in response.data


def test_install_twice_is_harmless() -> None:
    env, ui = make_ui()
    web.install(env, ui)
    assert [t["key"] for t in ui.template_args["extended_tabs"]] == [key for _, key, _ in web.TABS]
    assert len(ui.template_args["extended_tables"]) == len(web.TABS)
