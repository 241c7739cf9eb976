"""The ``/ws/`` page of the web UI: the WebSocket sections and the charts over time, refreshed every 2 s.

The page is rendered on the server with the same pieces as the HTML report (so its tables read
without a script), then ``page.js`` draws the charts with the vendored ECharts, both served from
``static/`` next to the page, and fetches ``data`` every 2 s to redraw everything. Every URL is
relative to the page, so ``--web-base-path`` works, and nothing is loaded from anywhere else.
"""

from __future__ import annotations

from typing import Any

from loadtest.report import page
from loadtest.report.assets import json_script
from loadtest.report.csv_files import TABLE_FIELDS
from loadtest.report.page import esc
from loadtest.report.sections import TITLES, section_rows

#: Milliseconds between two fetches of ``data``.
REFRESH_MS = 2000


def state_word(snapshot: dict[str, Any]) -> str:
    """Return the run's state: the snapshot's ``state`` when it has one, else finished or running."""
    state = snapshot.get("state")
    if state:
        return str(state)
    return "finished" if snapshot.get("finished") else "running"


def render_page(snapshot: dict[str, Any]) -> str:
    """Return the ``/ws/`` page, filled with ``snapshot`` (from :func:`loadtest.plugin.live.snapshot`)."""
    summary = snapshot.get("summary") or {}
    duration = f"{float(summary.get('duration_s') or 0.0):.1f} s"
    series = snapshot.get("series") or []
    csv_links = " ".join(
        f'<a href="csv/{esc(name)}" download>{esc(TITLES[name].split(" (")[0].lower())}</a>'
        for name in TABLE_FIELDS
    )
    rows = section_rows(
        snapshot.get("tables") or {}, snapshot.get("sessions") or {}, summary.get("storms") or []
    )
    spec = page.script_spec(series, live=True, refresh_ms=REFRESH_MS)
    charts = page.charts_html("" if series else "No samples yet: the first comes one sample interval in.")
    target = summary.get("target") or "(none)"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>WebSocket · Locust</title>",
        f"<style>{page.CSS}</style></head><body>",
        f'<header class="top"><h1>WebSocket</h1>{page.THEME_BUTTON}</header>',
        f'<p class="meta"><a href="../">&larr; Locust</a> CSV: {csv_links}',
        ' <a href="csv/history" download>history</a> · <a href="data">JSON</a></p>',
        f'<p class="meta" id="ws-status">Target {esc(target)} · {duration} · {esc(state_word(snapshot))}</p>',
        page.toc_html(last=[("s-checks", "Checks")]),
        page.sections_html(rows, after_sessions=charts),
        '<section id="s-checks"><h2>Checks</h2>',
        f'<div id="ws-checks">{page.checks_html(snapshot.get("checks") or [])}</div></section>',
        json_script("ws-spec", spec),
        '<script src="static/echarts.min.js"></script>',
        '<script src="static/page.js"></script>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
