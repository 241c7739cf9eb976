"""The HTML report (``--ws-report``): one self-contained file, readable offline.

The checks, the WebSocket sections (the same as the ``/ws/`` page: sessions, closes, handshake
failures, latency, backpressure, storms), the other findings, Locust's request statistics and
failures, rendered here as HTML tables; and the charts over time, drawn in the browser by
``page.js`` with ECharts, both inlined with the points (no file or URL from anywhere else).
"""

from __future__ import annotations

import time
from typing import Any

from locust.stats import StatsEntry

from loadtest.report import assets, page
from loadtest.report.console import findings
from loadtest.report.page import esc
from loadtest.report.sections import section_rows
from loadtest.report.tables import all_tables, session_row

_LOCUST_HEADINGS = (
    "Type",
    "Name",
    "Requests",
    "Failures",
    "Median ms",
    "95%ile ms",
    "99%ile ms",
    "Average ms",
    "Min ms",
    "Max ms",
    "Requests/s",
)


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}"


def _locust_row(entry: StatsEntry, *, kind: str | None = None) -> list[str]:
    has = entry.num_requests > 0
    return [
        (entry.method or "") if kind is None else kind,
        entry.name,
        str(entry.num_requests),
        str(entry.num_failures),
        _ms(entry.median_response_time) if has else "—",
        _ms(entry.get_response_time_percentile(0.95)) if has else "—",
        _ms(entry.get_response_time_percentile(0.99)) if has else "—",
        _ms(entry.avg_response_time) if has else "—",
        _ms(entry.min_response_time) if has else "—",
        _ms(entry.max_response_time) if has else "—",
        f"{entry.total_rps:.2f}",
    ]


def locust_stats_html(stats: Any) -> str:
    """Return Locust's request statistics table (every entry, then the aggregated row)."""
    entries = [stats.entries[key] for key in sorted(stats.entries.keys())]
    rows = [_locust_row(entry) for entry in entries]
    rows.append(_locust_row(stats.total, kind=""))
    return page.grid_html(_LOCUST_HEADINGS, rows, numeric_from=2, empty="no requests")


def locust_failures_html(stats: Any) -> str:
    """Return Locust's failures (method, name, error, occurrences), most frequent first."""
    errors = sorted(stats.errors.values(), key=lambda e: -e.occurrences)
    rows = [(e.method, e.name, e.parse_error(e.error), e.occurrences) for e in errors]
    return page.grid_html(("Type", "Name", "Error", "Occurrences"), rows, numeric_from=4, empty="no failures")


def baseline_html(section: dict[str, Any]) -> str:
    """Return the baseline comparison: each metric then and now, its change and its verdict."""
    rows = []
    for row in section["compared"]:
        verdict = "" if row["passed"] is None else ("PASS" if row["passed"] else "FAIL")
        change = "n/a" if row["change_pct"] is None else f"{row['change_pct']:+.1f}%"
        limit = "" if row["limit_pct"] is None else f"{row['limit_pct']:+g}%"
        then, now = ("no data" if v is None else f"{v:g}" for v in (row["baseline"], row["now"]))
        rows.append((verdict, row["metric"], then, now, change, limit))
    table = page.grid_html(
        ("Result", "Metric", "Baseline", "This run", "Change", "Limit"), rows, numeric_from=3
    )
    notes = "".join(f'<p class="meta">Warning: {esc(w)}</p>' for w in section["warnings"])
    intro = f'<p class="meta">Compared with {esc(section["path"])} (target {esc(section["target"])}).</p>'
    return f'<section id="s-baseline"><h2>Baseline</h2>{intro}{notes}{table}</section>'


def render(
    environment: Any,
    result: dict[str, Any],
    series: list[dict[str, Any]],
    *,
    baseline_series: list[dict[str, Any]] | None = None,
) -> str:
    """Return the whole report for one finished run as a self-contained HTML document.

    ``baseline_series``: the time series of an earlier run (``--ws-baseline``), drawn dashed
    behind this run's lines.
    """
    target = result.get("target") or "(no target)"
    duration = float(result.get("duration_s") or 0.0)
    checks = result.get("checks") or []
    passed = result.get("passed", all(c.get("passed") for c in checks))
    verdict = (
        ""
        if not checks
        else ' · <span class="pass">PASSED</span>'
        if passed
        else ' · <span class="fail">FAILED</span>'
    )
    generated = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())
    rows = section_rows(all_tables(result), session_row(result), result.get("storms") or [])
    spec = page.script_spec(series, live=False)
    if baseline_series:
        spec["baseline_series"] = list(baseline_series)
    charts = page.charts_html("" if series else "No samples were taken.")
    found = findings({**result, "storms": []})  # the storms have their own section
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>WebSocket load test: {esc(target)} ({duration:.1f} s)</title>",
        f"<style>{page.CSS}</style></head><body>",
        f'<header class="top"><h1>WebSocket load test: {esc(target)}</h1>{page.THEME_BUTTON}</header>',
        f'<p class="meta">Duration {duration:.1f} s · generated {esc(generated)}{verdict}</p>',
        page.toc_html(first=[("s-checks", "Checks")], last=[("s-locust", "Locust requests")]),
        '<section id="s-checks"><h2>Checks</h2>',
        page.checks_html(checks),
        "</section>",
    ]
    if "baseline" in result:
        parts.append(baseline_html(result["baseline"]))
    if found:
        parts += ['<section id="s-findings"><h2>Findings</h2><ul>']
        parts += [f"<li>{esc(line)}</li>" for line in found]
        parts += ["</ul></section>"]
    parts.append(page.sections_html(rows, after_sessions=charts))
    stats = environment.stats
    parts += [
        '<section id="s-locust"><h2>Locust request statistics</h2>',
        locust_stats_html(stats),
        "<h2>Locust failures</h2>",
        locust_failures_html(stats),
        "</section>",
        assets.json_script("ws-spec", spec),
        assets.inline_script(assets.script("echarts.min.js")),
        assets.inline_script(assets.script("page.js")),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
