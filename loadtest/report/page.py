"""What the live WebSocket page and the HTML report share: CSS, table columns, number formats, charts.

Everything returned here is HTML text with every value escaped; the charts are inline SVG, so a
page built from these pieces needs no script and no file from anywhere else.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

#: One style sheet for both pages (inline, no web fonts).
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:16px 24px;
color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
.meta{color:#566;margin:0 0 12px}.meta a{margin-right:12px}
table{border-collapse:collapse;background:#fff;margin:0 0 8px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d8dde3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right;white-space:nowrap}
td.empty{color:#778;font-style:italic}
.sessions{font-size:15px;margin:8px 0}.sessions b{font-size:17px}
.pass{color:#0a7a32;font-weight:700}.fail{color:#b3261e;font-weight:700}.pending{color:#778}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{background:#fff;border:1px solid #d8dde3;padding:6px}
.chart svg{display:block}.chart h3{font-size:14px;margin:0 0 4px}
"""

#: Columns of each WebSocket table: (row key, heading, format). Formats: text, int, ms, share, num.
COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "closes": (
        ("code", "Code", "text"),
        ("who", "Who closed", "text"),
        ("meaning", "Meaning", "text"),
        ("count", "Count", "int"),
        ("share", "Share", "share"),
        ("hint", "Hint", "text"),
    ),
    "handshake_failures": (("class", "Class", "text"), ("count", "Count", "int"), ("hint", "Hint", "text")),
    "latency": (
        ("metric", "Metric", "text"),
        ("count", "Count", "int"),
        ("min", "min", "ms"),
        ("p50", "p50", "ms"),
        ("p90", "p90", "ms"),
        ("p99", "p99", "ms"),
        ("p999", "p99.9", "ms"),
        ("max", "max", "ms"),
    ),
    "backpressure": (
        ("metric", "Metric", "text"),
        ("p50", "p50", "num"),
        ("p99", "p99", "num"),
        ("max", "max", "num"),
        ("over_threshold", "Samples over threshold", "text"),
    ),
}

#: Headings of the WebSocket tables, and what an empty one says.
TITLES = {
    "closes": "Close codes",
    "handshake_failures": "Handshake failures",
    "latency": "Latency (ms)",
    "backpressure": "Backpressure (bytes, ms)",
}
EMPTY = {
    "closes": "no session has ended",
    "handshake_failures": "no handshake failed",
    "latency": "no samples",
    "backpressure": "no samples",
}

#: The charts over time: id, title and lines (series field, label, colour).
CHARTS: tuple[dict[str, Any], ...] = (
    {
        "id": "sessions",
        "title": "Connected sessions",
        "lines": (("sessions_connected", "connected", "#1f6fd1"),),
    },
    {
        "id": "rtt",
        "title": "Round-trip time (ms)",
        "lines": (("rtt_p50_ms", "p50", "#2a9d3a"), ("rtt_p99_ms", "p99", "#d1452f")),
    },
    {
        "id": "closes",
        "title": "Closes per second",
        "lines": (
            ("closes_server_per_s", "server", "#d1452f"),
            ("closes_client_per_s", "client", "#1f6fd1"),
            ("closes_abnormal_per_s", "abnormal", "#8e44ad"),
        ),
    },
    {"id": "queue", "title": "Send-queue bytes p99", "lines": (("send_queue_bytes_p99", "p99", "#c77c0e"),)},
)

CHART_WIDTH, CHART_HEIGHT = 460, 190
#: Chart margins around the plot: left, right, top, bottom.
CHART_PADDING = (56, 10, 22, 24)
_LEFT, _RIGHT, _TOP, _BOTTOM = CHART_PADDING


def esc(value: Any) -> str:
    """Return ``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, kind: str) -> str:
    """Format one table value: ``ms`` with 3 decimals, ``share`` as a percentage, ``—`` for none."""
    if value is None or (value == "" and kind != "text"):
        return "—"
    if kind == "ms":
        return f"{float(value):.3f}"
    if kind == "share":
        return f"{float(value) * 100:.1f}%"
    if kind == "num" and isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
    if kind in ("num", "int") and isinstance(value, float):
        return str(int(value))
    return str(value)


def table_html(name: str, rows: Sequence[dict[str, Any]]) -> str:
    """Return one WebSocket table (a key of :data:`COLUMNS`) as an escaped HTML table."""
    columns = COLUMNS[name]
    head = "".join(f"<th>{esc(title)}</th>" for _, title, _ in columns)
    body = [
        "<tr>"
        + "".join(
            f"<td{'' if kind == 'text' else ' class=n'}>{esc(fmt(row.get(key), kind))}</td>"
            for key, _, kind in columns
        )
        + "</tr>"
        for row in rows
    ]
    if not body:
        body = [f'<tr><td class=empty colspan="{len(columns)}">{esc(EMPTY[name])}</td></tr>']
    return f'<table id="t-{esc(name)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


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


def sessions_html(sessions: dict[str, Any]) -> str:
    """Return the sessions line: connected, peak, opened, ended."""
    parts = [
        f'{esc(key)} <b data-key="{esc(key)}">{esc(sessions[key])}</b>'
        for key in ("connected", "peak", "opened", "ended")
    ]
    return f'<p class="sessions" id="sessions">Sessions: {" · ".join(parts)}</p>'


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


def _nice_max(value: float) -> float:
    """Return a round axis maximum (1, 2, 2.5 or 5 times a power of ten) at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    return next(f * magnitude for f in (1.0, 2.0, 2.5, 5.0, 10.0) if f * magnitude >= value)


def _axis_label(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == 0 else f"{value:.3g}"


def _text(x: Any, y: Any, anchor: str, body: str) -> str:
    return f'<text x="{x}" y="{y}" font-size="10" text-anchor="{anchor}">{body}</text>'


def svg_chart(points: Sequence[dict[str, Any]], chart: dict[str, Any]) -> str:
    """Return one chart of :data:`CHARTS` over ``points`` as inline SVG (lines break at null values)."""
    width, height = CHART_WIDTH, CHART_HEIGHT
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    xs = [float(p["elapsed_s"]) for p in points]
    values = [float(p[f]) for p in points for f, _, _ in chart["lines"] if p.get(f) is not None]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x1 = x1 if x1 > x0 else x0 + 1.0
    top = _nice_max(max(values) if values else 0.0)
    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(chart["title"])}" data-chart="{esc(chart["id"])}">',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#ccd"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = _TOP + plot_h * (1 - frac)
        out.append(f'<line x1="{_LEFT}" x2="{width - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(_text(_LEFT - 4, f"{y + 4:.1f}", "end", _axis_label(top * frac)))
    for x_value, anchor in ((x0, "start"), (x1, "end")):
        x = _LEFT + (x_value - x0) / (x1 - x0) * plot_w
        out.append(_text(f"{x:.1f}", height - 8, anchor, f"{x_value:.0f} s"))
    legend_x = _LEFT
    for field, label, colour in chart["lines"]:
        segments: list[list[str]] = [[]]
        for p, x_value in zip(points, xs, strict=True):
            v = p.get(field)
            if v is None:
                segments.append([])
                continue
            x = _LEFT + (x_value - x0) / (x1 - x0) * plot_w
            y = _TOP + plot_h * (1 - min(float(v), top) / top)
            segments[-1].append(f"{x:.1f},{y:.1f}")
        for seg in segments:
            if seg:
                coords = " ".join(seg if len(seg) > 1 else seg * 2)
                out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}"/>')
        out.append(f'<rect x="{legend_x}" y="6" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{legend_x + 14}" y="15" font-size="11">{esc(label)}</text>')
        legend_x += 20 + 7 * len(label)
    out.append("</svg>")
    return "".join(out)


def charts_html(points: Sequence[dict[str, Any]]) -> str:
    """Return every chart of :data:`CHARTS`, each with its title."""
    boxes = [
        f'<div class="chart"><h3>{esc(chart["title"])}</h3>{svg_chart(points, chart)}</div>'
        for chart in CHARTS
    ]
    return f'<div class="charts">{"".join(boxes)}</div>'
