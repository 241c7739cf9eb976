"""The WebSocket data in Locust's web UI: a "WebSocket" tab, the ``/ws/`` page, JSON and CSV downloads.

Locust 2.47's React UI has three extension points that need no JavaScript of ours:

* ``template_args["extended_tabs"]``: extra tabs (``{title, key}``), each showing one table;
* ``template_args["extended_tables"]``: that table's columns (``{key, structure: [{key, title}]}``);
* ``extended_stats`` in the ``/stats/requests`` JSON: the rows (``[{key, data: [row, ...]}]``),
  which the UI polls every 2 s while the test runs. Locust has no hook for that payload, so an
  ``after_request`` handler on the Flask app adds it to the response of that one endpoint.

``template_args["extended_csv_files"]`` adds download links to the "Download Data" tab. Locust's
Charts tab cannot be extended from Python, so the charts over time live on the ``/ws/`` page
(``loadtest.plugin.web_page``), linked from the Download Data tab, from the WebSocket tab's last
row and from a small fixed link added to Locust's page. Every route honours ``--web-login`` and
``--web-base-path``; every link is relative.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, abort, request

from loadtest.plugin import live, web_page
from loadtest.plugin.state import state_for
from loadtest.report import page
from loadtest.report.csv_files import TABLE_FIELDS, history_csv, table_csv

#: The tab's key (``?tab=websocket`` in Locust's UI).
TAB_KEY = "websocket"
#: The tab's columns; cells are preformatted text (latency with 3 decimals).
TAB_COLUMNS = (
    ("section", "Table"),
    ("who", "Who closed"),
    ("item", "Code / class / metric"),
    ("count", "Count"),
    ("share", "Share"),
    ("min", "min"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("p999", "p99.9"),
    ("max", "max"),
    ("meaning", "Meaning"),
    ("hint", "Hint"),
)
_STATS_ENDPOINT = "locust.request_stats"
_INDEX_ENDPOINT = "locust.index"
_LINK = (
    '<a id="loadtest-ws-link" href="./ws/" style="position:fixed;left:14px;bottom:10px;z-index:2000;'
    "padding:4px 10px;border-radius:4px;background:#1f6fd1;color:#fff;font:13px system-ui,sans-serif;"
    'text-decoration:none">WebSocket tables &amp; charts</a>'
)


def base_path(environment: Any, web_ui: Any) -> str:
    """Return the web UI's base path (``--web-base-path``) without its trailing slash ("" when none).

    Read from the prefix of Locust's own blueprint, so it also holds for a web UI created in code.
    """
    blueprint = web_ui.app.blueprints.get("locust")
    if blueprint is not None:
        return str(blueprint.url_prefix or "").rstrip("/")
    return str(getattr(environment.parsed_options, "web_base_path", "") or "").rstrip("/")


def tab_rows(snapshot: dict[str, Any], charts_path: str = "./ws/") -> list[dict[str, Any]]:
    """Return the WebSocket tab's rows: sessions, closes, handshake failures, latency, backpressure."""
    tables = snapshot["tables"]
    rows: list[dict[str, Any]] = [
        {"section": "sessions", "item": key, "count": snapshot["sessions"][key]}
        for key in ("connected", "peak", "opened", "ended")
    ]
    for row in tables["closes"]:
        rows.append(
            {
                "section": "closes",
                "who": row["who"],
                "item": str(row["code"]),
                "count": row["count"],
                "share": page.fmt(row["share"], "share"),
                "meaning": row["meaning"],
                "hint": row["hint"],
            }
        )
    failures = tables["handshake_failures"]
    total = sum(row["count"] for row in failures)
    rows.append(
        {
            "section": "handshake failures",
            "item": "total",
            "count": total,
            "meaning": "" if total else page.EMPTY["handshake_failures"],
        }
    )
    rows += [
        {"section": "handshake failures", "item": row["class"], "count": row["count"], "hint": row["hint"]}
        for row in failures
    ]
    for row in tables["latency"]:
        cells = {k: page.fmt(row[k], "ms") for k in ("min", "p50", "p90", "p99", "p999", "max")}
        rows.append({"section": "latency ms", "item": row["metric"], "count": row["count"], **cells})
    for row in tables["backpressure"]:
        over = row["over_threshold"]
        cells = {k: page.fmt(row[k], "num") for k in ("p50", "p99", "max")}
        meaning = f"samples over the threshold: {over}" if over != "" else ""
        rows.append({"section": "backpressure", "item": row["metric"], **cells, "meaning": meaning})
    rows.append(
        {"section": "charts", "item": "over time", "meaning": f"open {charts_path} (Download Data tab)"}
    )
    return rows


def _json(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)


def _csv_response(text: str, name: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=ws_{name}.csv", "Cache-Control": "no-store"},
    )


def _set_template_args(web_ui: Any) -> None:
    args = web_ui.template_args
    args["extended_tabs"] = [*args.get("extended_tabs", []), {"title": "WebSocket", "key": TAB_KEY}]
    structure = [{"key": key, "title": title} for key, title in TAB_COLUMNS]
    args["extended_tables"] = [*args.get("extended_tables", []), {"key": TAB_KEY, "structure": structure}]
    files = [
        {
            "href": f"./ws/csv/{name}",
            "title": f"Download WebSocket {page.TITLES[name].split(' (')[0].lower()} CSV",
        }
        for name in TABLE_FIELDS
    ]
    files += [
        {"href": "./ws/csv/history", "title": "Download WebSocket history CSV"},
        {"href": "./ws/", "title": "WebSocket tables and charts over time (page)"},
    ]
    args["extended_csv_files"] = [*args.get("extended_csv_files", []), *files]


def _blueprint(environment: Any, web_ui: Any, base: str) -> Blueprint:
    blueprint = Blueprint("loadtest_ws", __name__, url_prefix=f"{base}/ws")
    auth = web_ui.auth_required_if_enabled

    @blueprint.route("/")
    @auth
    def ws_page() -> Response:
        return Response(web_page.render_page(live.snapshot(environment)), mimetype="text/html")

    @blueprint.route("/data")
    @auth
    def ws_data() -> Response:
        body = _json(live.snapshot(environment))
        return Response(body, mimetype="application/json", headers={"Cache-Control": "no-store"})

    @blueprint.route("/csv/<name>")
    @auth
    def ws_csv(name: str) -> Response:
        if name == "history":
            return _csv_response(history_csv(list(state_for(environment).aggregate.series)), name)
        if name not in TABLE_FIELDS:
            abort(404)
        return _csv_response(table_csv(name, live.snapshot(environment)["summary"]), name)

    return blueprint


def _extend_response(environment: Any, base: str, response: Response) -> Response:
    """Add ``extended_stats`` to ``/stats/requests`` and the ``/ws/`` link to Locust's page."""
    if response.status_code != 200 or response.direct_passthrough:
        return response
    if request.endpoint == _STATS_ENDPOINT and response.is_json:
        payload = response.get_json()
        if isinstance(payload, dict):
            charts_path = f"{base}/ws/"
            payload["extended_stats"] = [
                {"key": TAB_KEY, "data": tab_rows(live.snapshot(environment), charts_path)}
            ]
            response.set_data(_json(payload))
    elif request.endpoint == _INDEX_ENDPOINT and response.mimetype == "text/html":
        text = response.get_data(as_text=True)
        if "</body>" in text and "loadtest-ws-link" not in text:
            response.set_data(text.replace("</body>", f"{_LINK}</body>", 1))
    return response


def install(environment: Any, web_ui: Any) -> None:
    """Add the WebSocket tab, the ``/ws/`` page and its JSON and CSV routes to Locust's web UI.

    Called from the ``init`` listener on a local or master runner, before the web server starts.

    Args:
        environment: Locust's environment (its plugin state holds the data shown).
        web_ui: Locust's :class:`locust.web.WebUI` for this environment.
    """
    if getattr(web_ui, "_loadtest_installed", False):
        return
    web_ui._loadtest_installed = True
    base = base_path(environment, web_ui)
    _set_template_args(web_ui)
    web_ui.app.register_blueprint(_blueprint(environment, web_ui, base))

    @web_ui.app.after_request
    def extend(response: Response) -> Response:
        return _extend_response(environment, base, response)
