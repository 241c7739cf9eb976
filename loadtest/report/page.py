"""The HTML both pages are made of (the live ``/ws/`` page and the ``--ws-report`` file): style,
sections, checks, the charts' frames, and the spec ``page.js`` reads.

Everything returned here is HTML text with every value escaped. The tables are rendered here, so
they read without any script; the charts are drawn in the browser by ``page.js`` with the
vendored ECharts (:mod:`loadtest.report.assets`), from the time-series points and the chart
definitions of :mod:`loadtest.report.charts`, which both pages pass to it in the same spec.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from loadtest.report.charts import CHARTS
from loadtest.report.sections import COLUMNS, EMPTY, SECTIONS, TITLES, cell, fmt

_DARK = (
    "color-scheme:dark;--bg:#121212;--panel:#1e1e1e;--text:#e6e6e6;--muted:#a3b0aa;--border:#3c3c42;"
    "--head:#27272a;--link:#4ade80;--pass:#4ade80;--fail:#ff6d6d;--chart-bg:#27272a"
)
#: One style sheet for both pages (inline, no web fonts): light by default, dark when the system
#: prefers it (until a script chooses), or when ``data-theme="dark"`` is set on ``<html>``.
CSS = f"""
:root{{color-scheme:light;--bg:#fff;--panel:#fff;--text:#1f2328;--muted:#5f6b66;--border:#d8dde3;
--head:#f1f4f2;--link:#15803d;--pass:#0a7a32;--fail:#c62828;--chart-bg:#fff}}
:root[data-theme=dark]{{{_DARK}}}
@media (prefers-color-scheme:dark){{:root:not([data-theme=light]){{{_DARK}}}}}
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:16px 24px 40px;
color:var(--text);background:var(--bg)}}
a{{color:var(--link)}}
h1{{font-size:22px;margin:0}}h2{{font-size:17px;margin:22px 0 8px;padding-bottom:3px;
border-bottom:1px solid var(--border)}}
.top{{display:flex;align-items:center;justify-content:space-between;gap:12px}}
.meta{{color:var(--muted);margin:4px 0}}.meta a{{margin-right:10px}}
nav.toc{{margin:8px 0 0}}nav.toc a{{margin-right:12px;white-space:nowrap}}
table{{border-collapse:collapse;background:var(--panel);margin:0 0 8px;font-variant-numeric:tabular-nums}}
th,td{{border:1px solid var(--border);padding:4px 8px;text-align:left;vertical-align:top}}
th{{background:var(--head);font-weight:600}}td.n{{text-align:right;white-space:nowrap}}
td.empty{{color:var(--muted);font-style:italic}}
.pass{{color:var(--pass);font-weight:700}}.fail{{color:var(--fail);font-weight:700}}
.pending{{color:var(--muted)}}
.charts{{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:12px}}
figure.chart{{margin:0;padding:8px;background:var(--chart-bg);border:1px solid var(--border)}}
figure.chart figcaption{{font-weight:600}}.plot{{height:260px}}
.note{{font-size:12px;color:var(--muted);margin:2px 0 4px}}
button.btn{{display:inline-flex;align-items:center;gap:6px;font:inherit;cursor:pointer;
color:var(--text);background:var(--panel);border:1px solid var(--border);border-radius:4px;
padding:4px 10px}}
button.btn svg{{width:16px;height:16px;fill:currentColor}}
:root[data-theme=dark] .to-dark,:root:not([data-theme=dark]) .to-light{{display:none}}
"""

#: The theme switch (page.js shows it): a moon to go dark, a sun to go light.
THEME_BUTTON = (
    '<button type="button" class="btn" id="ws-theme" hidden>'
    '<svg class="to-dark" viewBox="0 0 24 24" aria-hidden="true">'
    '<path d="M20 14.5A8.5 8.5 0 0 1 9.5 4a8.5 8.5 0 1 0 10.5 10.5z"/></svg>'
    '<svg class="to-light" viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="5"/>'
    '<path d="M11 1h2v4h-2zM11 19h2v4h-2zM1 11h4v2H1zM19 11h4v2h-4z"/></svg>'
    "<span>Theme</span></button>"
)


def esc(value: Any) -> str:
    """Return ``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def table_html(name: str, rows: Sequence[dict[str, Any]]) -> str:
    """Return one section's table (a key of :data:`COLUMNS`) as an escaped HTML table."""
    columns = COLUMNS[name]
    head = "".join(f"<th>{esc(title)}</th>" for _, title, _ in columns)
    body = [
        "<tr>"
        + "".join(
            f"<td{'' if kind in ('text', 'pairs') else ' class=n'}>{esc(fmt(cell(row, key), kind))}</td>"
            for key, _, kind in columns
        )
        + "</tr>"
        for row in rows
    ]
    if not body:
        body = [f'<tr><td class=empty colspan="{len(columns)}">{esc(EMPTY[name])}</td></tr>']
    return f'<table id="t-{esc(name)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def sections_html(rows: dict[str, list[dict[str, Any]]], *, after_sessions: str = "") -> str:
    """Return every section with its heading; ``after_sessions`` (the charts) follows the first."""
    parts = []
    for name in SECTIONS:
        table = table_html(name, rows[name])
        parts.append(
            f'<section id="s-{esc(name)}"><h2>{esc(TITLES[name])}</h2>'
            f'<div id="ws-box-{esc(name)}">{table}</div></section>'
        )
        if name == "sessions":
            parts.append(after_sessions)
    return "\n".join(parts)


def toc_html(first: Sequence[tuple[str, str]] = (), last: Sequence[tuple[str, str]] = ()) -> str:
    """Return the in-page links to every section, between ``first`` and ``last`` (anchor, label)."""
    items = [("s-sessions", "Sessions"), ("s-charts", "Over time")]
    items += [(f"s-{name}", TITLES[name].split(" (")[0]) for name in SECTIONS[1:]]
    links = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label in [*first, *items, *last])
    return f'<nav class="toc">{links}</nav>'


def charts_html(status: str = "") -> str:
    """Return the "Over time" section: one figure per chart of :data:`CHARTS`, for page.js to draw.

    ``status`` is shown until page.js has points to draw (e.g. "No samples were taken.").
    """
    figures = []
    for chart in CHARTS:
        note = f'<p class="note">{esc(chart["note"])}</p>' if chart["note"] else ""
        figures.append(
            f'<figure class="chart" data-chart="{esc(chart["id"])}"><figcaption>{esc(chart["title"])}'
            f'</figcaption>{note}<div class="plot"></div></figure>'
        )
    return (
        '<section id="s-charts"><h2>Over time</h2>'
        "<noscript><p class=meta>The charts need JavaScript; the tables do not.</p></noscript>"
        f'<p class="meta"><span id="ws-charts-status">{esc(status)}</span> Hover for values; zoom with '
        "the slider, Ctrl + mouse wheel or the zoom tool (every chart follows). "
        '<button type="button" class="btn" id="ws-zoom-reset">Reset zoom</button></p>'
        f'<div class="charts">{"".join(figures)}</div></section>'
    )


def script_spec(series: Sequence[dict[str, Any]], *, live: bool, refresh_ms: int = 0) -> dict[str, Any]:
    """Return the spec page.js reads: the charts and their points, the sections' columns, and
    whether the page is live (then it fetches ``data`` every ``refresh_ms``)."""
    return {
        "live": live,
        "refresh_ms": refresh_ms,
        "charts": CHARTS,
        "series": list(series),
        "columns": COLUMNS,
        "empty": EMPTY,
    }


def grid_html(
    headings: Iterable[str], rows: Iterable[Sequence[Any]], *, numeric_from: int = 0, empty: str = ""
) -> str:
    """Return a plain table; cells from column ``numeric_from`` on are right-aligned (0: none)."""
    heads = list(headings)
    body = []
    for row in rows:
        cells = "".join(
            f"<td{' class=n' if numeric_from and i >= numeric_from else ''}>{esc(cell)}</td>"
            for i, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body = [f'<tr><td class=empty colspan="{len(heads)}">{esc(empty)}</td></tr>']
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def checks_html(checks: Sequence[dict[str, Any]]) -> str:
    """Return the checks with PASS, FAIL or pending (``passed`` None while the run goes on)."""
    if not checks:
        return '<p class="meta">No --ws-check conditions were given.</p>'
    rows = []
    for check in checks:
        passed = check.get("passed")
        word, css = (
            ("PASS", "pass") if passed else ("pending", "pending") if passed is None else ("FAIL", "fail")
        )
        value = "" if check.get("value") is None else fmt(check["value"], "num")
        name = esc(check["name"])
        rows.append(f'<tr><td class="{css}">{word}</td><td>{name}</td><td class=n>{esc(value)}</td></tr>')
    head = "<tr><th>Result</th><th>Check</th><th>Value</th></tr>"
    return f"<table id=t-checks><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
