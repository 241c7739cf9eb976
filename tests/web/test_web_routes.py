"""The web UI extension in process: tab wiring, routes under --web-base-path, and --web-login."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from locust import User
from locust.env import Environment
from locust.web import WebUI

from loadtest.plugin import web
from loadtest.plugin.state import state_for


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


def test_template_args_declare_the_tab_table_and_downloads() -> None:
    _, ui = make_ui()
    args = ui.template_args
    assert {"title": "WebSocket", "key": web.TAB_KEY} in args["extended_tabs"]
    (table,) = [t for t in args["extended_tables"] if t["key"] == web.TAB_KEY]
    assert [c["key"] for c in table["structure"]] == [k for k, _ in web.TAB_COLUMNS]
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
    csv = client.get("/lt/ws/csv/closes")
    assert csv.mimetype == "text/csv" and b"server,1011," in csv.data
    assert "attachment" in csv.headers["Content-Disposition"]
    assert client.get("/lt/ws/csv/history").data.startswith(b"t,elapsed_s,")
    assert client.get("/lt/ws/csv/secrets").status_code == 404


def test_stats_payload_carries_the_tab_rows_and_the_page_the_link(client: FlaskClient) -> None:
    for _ in range(2):  # Locust memoizes the response object: extending it twice must stay right
        stats = json.loads(client.get("/lt/stats/requests").data)
        (extended,) = stats["extended_stats"]
        assert extended["key"] == web.TAB_KEY
        closes = [r for r in extended["data"] if r["section"] == "closes"]
        assert closes == [
            {
                "section": "closes",
                "who": "server",
                "item": "1011",
                "count": 1,
                "share": "100.0%",
                "meaning": "internal server error",
                "hint": "server bug: check its logs",
            }
        ]
        assert any("/lt/ws/" in r.get("meaning", "") for r in extended["data"])
        assert "stats" in stats and "user_count" in stats  # Locust's own payload is untouched
    index = client.get("/lt/").data.decode()
    assert index.count('id="loadtest-ws-link" href="./ws/"') == 1


def test_routes_require_login_when_the_web_ui_does() -> None:
    _, ui = make_ui(login=True)
    ui.app.secret_key = "test only"  # what a locustfile using --web-login sets
    ui.login_manager.user_loader(lambda user_id: None)
    client = ui.app.test_client()
    for path in ("/ws/", "/ws/data", "/ws/csv/closes"):
        response = client.get(path)
        assert response.status_code == 302 and "login" in response.headers["Location"], path
        assert b"1011" not in response.data


def test_install_twice_is_harmless() -> None:
    env, ui = make_ui()
    web.install(env, ui)
    assert [t["key"] for t in ui.template_args["extended_tabs"]].count(web.TAB_KEY) == 1
