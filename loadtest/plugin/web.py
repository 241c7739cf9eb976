"""The WebSocket data in Locust's web UI: WebSocket tabs, the ``/ws/`` page, JSON and CSV downloads.

Locust 2.47's React UI has three extension points that need no JavaScript of ours:

* ``template_args["extended_tabs"]``: extra tabs (``{title, key}``);
* ``template_args["extended_tables"]``: each tab's table columns (``{key, structure: [{key, title}]}``);
  a tab shows exactly one table (Locust's ``DataTable``), sortable by a click on a heading;
* ``extended_stats`` in the ``/stats/requests`` JSON: each tab's rows (``[{key, data: [row, ...]}]``),
  which the UI polls every 2 s while the test runs. Locust has no hook for that payload, so an
  ``after_request`` handler on the Flask app adds it to the response of that one endpoint.

So each section (sessions, closes, handshake failures, latency, backpressure, compression, storms,
fan-out) is its own tab with its own columns, rather than one table whose 13 columns mostly stay
empty. Cell keys are camelCase, which Locust's UI leaves as they are (it camelCases the payload's
keys).

``template_args["extended_csv_files"]`` adds download links to the "Download Data" tab. Locust's
Charts tab cannot be extended from Python, so the charts over time live on the ``/ws/`` page
(``loadtest.plugin.web_page``), linked from the Download Data tab and from a small link added to
Locust's page, in the empty left end of its footer (it covers nothing). Every route honours
``--web-login`` and ``--web-base-path``; every link is relative.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import Blueprint, Response, abort, request

from loadtest.plugin import live, web_page
from loadtest.plugin.state import state_for
from loadtest.report import assets, sections
from loadtest.report.csv_files import TABLE_FIELDS, history_csv, table_csv

#: The tabs, one per section: section name, tab key (``?tab=...``) and title.
TABS = (
    ("sessions", "ws-sessions", "WS sessions"),
    ("closes", "ws-closes", "WS closes"),
    ("handshake_failures", "ws-handshakes", "WS handshakes"),
    ("latency", "ws-latency", "WS latency"),
    ("backpressure", "ws-backpressure", "WS backpressure"),
    ("compression", "ws-compression", "WS compression"),
    ("storms", "ws-storms", "WS storms"),
    ("fanout", "ws-fanout", "WS fan-out"),
)
_STATS_ENDPOINT = "locust.request_stats"
_INDEX_ENDPOINT = "locust.index"
#: The link to ``/ws/``: at the bottom of the page, in the left end of Locust's footer, which holds
#: only its "About" button at the right end. ``body`` becomes the link's containing block.
_LINK_STYLE = (
    "<style>body{position:relative}#loadtest-ws-link{position:absolute;left:24px;bottom:8px;"
    "padding:2px 10px;border-radius:4px;background:#15803d;color:#fff;"
    "font:13px/20px system-ui,sans-serif;text-decoration:none}</style>"
)
_LINK = '<a id="loadtest-ws-link" href="./ws/">WebSocket tables &amp; charts</a>'


def base_path(environment: Any, web_ui: Any) -> str:
    """Return the web UI's base path (``--web-base-path``) without its trailing slash ("" when none).

    Read from the prefix of Locust's own blueprint, so it also holds for a web UI created in code.
    """
    blueprint = web_ui.app.blueprints.get("locust")
    if blueprint is not None:
        return str(blueprint.url_prefix or "").rstrip("/")
    return str(getattr(environment.parsed_options, "web_base_path", "") or "").rstrip("/")


def tab_key(column: str) -> str:
    """Return a column key as a tab cell key: camelCase (``recovery_ms.p50`` -> ``recoveryMsP50``)."""
    first, *rest = re.split(r"[._]", column)
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def tab_columns(name: str) -> list[tuple[str, str]]:
    """Return one tab's columns as (cell key, heading); a heading without a unit gets "ms" when it is one."""
    return [
        (tab_key(key), f"{title} ms" if kind == "ms" and "ms" not in title else title)
        for key, title, kind in sections.COLUMNS[name]
    ]


def _tab_cells(name: str, row: dict[str, Any]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for key, _, kind in sections.COLUMNS[name]:
        value = sections.cell(row, key)
        # Counts stay numbers, so a click on the heading sorts them as numbers.
        cells[tab_key(key)] = value if kind == "int" and isinstance(value, int) else sections.fmt(value, kind)
    return cells


def tab_rows(snapshot: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return each tab's rows by section name, formatted as on the ``/ws/`` page.

    The handshake failures start with a ``total`` row; an empty section has one row saying so.
    """
    summary = snapshot.get("summary") or {}
    by_name = sections.section_rows(
        snapshot.get("tables") or {}, snapshot.get("sessions") or {}, summary.get("storms") or []
    )
    rows: dict[str, list[dict[str, Any]]] = {}
    for name, section in by_name.items():
        rows[name] = [_tab_cells(name, row) for row in section]
    failures = by_name["handshake_failures"]
    total = sum(row["count"] for row in failures)
    rows["handshake_failures"].insert(
        0, {"class": "total", "count": total, "hint": "" if total else sections.EMPTY["handshake_failures"]}
    )
    for name, cells in rows.items():
        if not cells:
            first = tab_key(sections.COLUMNS[name][0][0])
            cells.append({first: sections.EMPTY[name]})
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
    tabs = [{"title": title, "key": key} for _, key, title in TABS]
    args["extended_tabs"] = [*args.get("extended_tabs", []), *tabs]
    tables = [
        {"key": key, "structure": [{"key": cell, "title": title} for cell, title in tab_columns(name)]}
        for name, key, _ in TABS
    ]
    args["extended_tables"] = [*args.get("extended_tables", []), *tables]
    files = [
        {
            "href": f"./ws/csv/{name}",
            "title": f"Download WebSocket {sections.TITLES[name].split(' (')[0].lower()} CSV",
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

    @blueprint.route("/static/<name>")
    @auth
    def ws_static(name: str) -> Response:
        if name not in assets.SCRIPTS:
            abort(404)
        return Response(
            assets.script(name), mimetype="text/javascript", headers={"Cache-Control": "no-cache"}
        )

    @blueprint.route("/csv/<name>")
    @auth
    def ws_csv(name: str) -> Response:
        if name == "history":
            return _csv_response(history_csv(list(state_for(environment).aggregate.series)), name)
        if name not in TABLE_FIELDS:
            abort(404)
        return _csv_response(table_csv(name, live.snapshot(environment)["summary"]), name)

    return blueprint


def _extend_response(environment: Any, response: Response) -> Response:
    """Add ``extended_stats`` to ``/stats/requests`` and the ``/ws/`` link to Locust's page."""
    if response.status_code != 200 or response.direct_passthrough:
        return response
    if request.endpoint == _STATS_ENDPOINT and response.is_json:
        payload = response.get_json()
        if isinstance(payload, dict):
            rows = tab_rows(live.snapshot(environment))
            payload["extended_stats"] = [{"key": key, "data": rows[name]} for name, key, _ in TABS]
            response.set_data(_json(payload))
    elif request.endpoint == _INDEX_ENDPOINT and response.mimetype == "text/html":
        text = response.get_data(as_text=True)
        if "</body>" in text and "</head>" in text and "loadtest-ws-link" not in text:
            text = text.replace("</head>", f"{_LINK_STYLE}</head>", 1)
            response.set_data(text.replace("</body>", f"{_LINK}</body>", 1))
    return response


def install(environment: Any, web_ui: Any) -> None:
    """Add the WebSocket tabs, the ``/ws/`` page and its JSON and CSV routes to Locust's web UI.

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
        return _extend_response(environment, response)
