"""A real browser on a real Locust web UI and on a real report file.

Headless Chromium from Debian (``/usr/bin/chromium``) driven by the ``playwright`` package; no
browser is downloaded. Skipped only when one of the two is missing. Screenshots go to the test's
temporary folder; ``scripts/screenshots`` runs this module to refresh ``docs/img`` on purpose.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from loadtest.plugin import web
from loadtest.report import assets, html, sections
from loadtest.report.charts import CHARTS
from tests.web.browser import (
    CHROMIUM,
    WAIT_S,
    charts,
    covered_by,
    get_json,
    headings,
    hover,
    rows_of,
    wait_for,
    zoom_in,
)
from tests.web.conftest import LocustUI
from tests.web.samples import GAP_INDEX, locust_environment, recorded, result_with_checks, series

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)", allow_module_level=True)
try:
    from playwright.sync_api import Browser, Page
except ImportError:
    pytest.skip("the playwright package is not installed (pip install -e '.[test]')", allow_module_level=True)

CHART_IDS = ["sessions", "rtt", "closes", "messages", "handshakes", "queue"]
#: Locust's chart backgrounds (webui LineChart.constants.ts), which ours follow.
CHART_BACKGROUND = {"light": "#fff", "dark": "#27272a"}
#: The page background of Locust's MUI themes.
PAGE_BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(18, 18, 18)"}


def close_row(data: dict[str, Any], who: str, code: int) -> dict[str, Any] | None:
    return next((r for r in data["tables"]["closes"] if r["who"] == who and r["code"] == code), None)


def settled(url: str, condition: Any, tables: tuple[str, ...]) -> dict[str, Any]:
    """Return ``/ws/data`` once ``condition`` holds and the sessions and ``tables`` stay put for a sample."""
    seen: list[Any] = []

    def probe() -> dict[str, Any] | None:
        first = get_json(url + "/ws/data")
        seen[:] = [first["sessions"], first["tables"]["closes"]]
        if not condition(first):
            return None
        time.sleep(2.5)  # one sample interval (2 s) and a bit
        second: dict[str, Any] = get_json(url + "/ws/data")
        seen[:] = [second["sessions"], second["tables"]["closes"]]
        same = second["sessions"] == first["sessions"]
        same = same and all(second["tables"][name] == first["tables"][name] for name in tables)
        same = same and second["summary"]["storms"] == first["summary"]["storms"]
        return second if same and condition(second) else None

    result: dict[str, Any] = wait_for(
        lambda: f"the WebSocket counts to settle (last seen: {seen})", probe, every_s=0.5
    )
    return result


def section_cells(data: dict[str, Any]) -> dict[str, list[list[str]]]:
    """Return every section's cells as the /ws/ page and the report show them, from ``/ws/data``."""
    rows = sections.section_rows(data["tables"], data["sessions"], data["summary"]["storms"])
    return {
        name: [
            [sections.fmt(sections.cell(row, key), kind) for key, _, kind in sections.COLUMNS[name]]
            for row in rows[name]
        ]
        or [[sections.EMPTY[name]]]
        for name in sections.SECTIONS
    }


def tab_cells(data: dict[str, Any], name: str) -> list[list[str]]:
    """Return one tab's expected cells for ``data``, as Locust's UI shows them."""
    columns = web.tab_columns(name)
    return [
        ["" if row.get(key) is None else str(row[key]) for key, _ in columns]
        for row in web.tab_rows(data)[name]
    ]


def open_tab(page: Page, name: str, title: str) -> None:
    """Click one of our tabs in Locust's UI and wait for its table."""
    tab = page.get_by_role("tab", name=title, exact=True)
    expected = [heading for _, heading in web.tab_columns(name)]

    def shown() -> Any:
        # Locust's tab bar scrolls (MUI, animated) to bring a tab into view; a click during that
        # scroll can land on a neighbour, so click again until this tab is the selected one.
        if tab.get_attribute("aria-selected") != "true":
            tab.click()
            return False
        return headings(page) == expected and rows_of(page, "table tbody tr")

    def seen() -> str:
        selected = page.get_by_role("tab", selected=True).all_inner_texts()
        return f"the {title} tab's table; selected: {selected}, headings: {headings(page)}"

    wait_for(seen, shown)


def theme_of(page: Page) -> tuple[str, str, set[str]]:
    """Return the page's theme, its background colour and the background of every chart."""
    theme, background = page.evaluate(
        "() => [document.documentElement.dataset.theme, getComputedStyle(document.body).backgroundColor]"
    )
    return theme, background, {state["background"] for state in charts(page).values()}


def assert_page_draws_with_echarts(page: Page, points: int) -> dict[str, dict[str, Any]]:
    state = charts(page)
    assert list(state) == CHART_IDS
    for chart_id, chart in state.items():
        assert chart["drawn"] and chart["version"] == assets.ECHARTS_VERSION, chart_id
        assert chart["renderer"] == "svg"
        assert all(len(line["data"]) >= points for line in chart["lines"]), chart_id
    assert page.locator('figure[data-chart="sessions"] svg path').count() > 10
    return state


# -- a live run: Locust's tabs, the /ws/ page, then the report it writes -----------------------
def test_tabs_page_and_report_of_a_live_run(locust_ui: LocustUI, browser: Browser, screenshots: Path) -> None:
    url, proc, report = locust_ui

    def running(d: dict[str, Any]) -> bool:
        row = close_row(d, "server", 1011)
        return (
            d["sessions"]["connected"] == 4
            and row is not None
            and row["count"] > 0
            and bool(d["summary"]["storms"])
        )

    # While users run, RTTs keep coming: only the sessions, closes and storms can settle.
    settled(url, running, ("closes", "handshake_failures"))
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="light")
    context.set_default_timeout(WAIT_S * 1000)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    tab = context.new_page()

    # -- Locust's UI: one tab per section, each with its own columns --------------------------
    tab.goto(url + "/?tab=ws-closes")
    tab.get_by_text("internal server error").first.wait_for()
    assert headings(tab) == [title for _, title in web.tab_columns("closes")]
    by_code = {(r[0], r[1]): r for r in rows_of(tab, "table tbody tr")}
    row_1011 = by_code[("1011", "server")]
    assert row_1011[2] == "internal server error" and int(row_1011[3]) > 0
    assert row_1011[5] == "server bug: check its logs"
    for name, _, title in web.TABS:
        open_tab(tab, name, title)  # each tab has its own columns
    open_tab(tab, "sessions", "WS sessions")
    wait_for("the sessions tab to show 4 connected", lambda: rows_of(tab, "table tbody tr")[0][0] == "4")
    open_tab(tab, "storms", "WS storms")  # at least the --ws-storm-at 3 storm, as /ws/data has it
    wait_for(
        "the storms tab to show the storms of /ws/data",
        lambda: rows_of(tab, "table tbody tr") == tab_cells(get_json(url + "/ws/data"), "storms"),
    )
    assert len(rows_of(tab, "table tbody tr")) >= 1 and rows_of(tab, "table tbody tr")[0][0] == "0"
    # The link to /ws/ covers no text, in any tab, even when a table reaches the window's bottom.
    tab.set_viewport_size({"width": 1400, "height": 480})
    for name, _, title in web.TABS:
        open_tab(tab, name, title)
        link, hits, checked = covered_by(tab, "#loadtest-ws-link")
        assert hits == [] and checked > 20, (title, link, hits)
    tab.set_viewport_size({"width": 1400, "height": 1000})

    # -- the /ws/ page: sections, charts drawn by ECharts, hover, zoom ---------------------------
    ws = context.new_page()
    ws.goto(url + "/ws/")
    ws.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 2")
    state = assert_page_draws_with_echarts(ws, points=2)
    data = get_json(url + "/ws/data")
    by_elapsed = {p["elapsed_s"]: p for p in data["series"]}
    for chart in CHARTS:  # every drawn point is a point of /ws/data; nulls stay null
        drawn = state[chart["id"]]["lines"]
        for line, (field, _, _) in zip(drawn, chart["lines"], strict=True):
            assert all(by_elapsed[x][field] == y for x, y, _ in line["data"]), (chart["id"], field)
    tip = hover(ws, "sessions", *state["sessions"]["lines"][0]["data"][1][:2])
    shown = re.search(r"([\d.]+) s.*connected: (\d+)", tip, re.S)
    assert shown is not None, tip
    assert [float(shown[1]), int(shown[2])] in [
        [round(x, 1), y] for x, y, _ in charts(ws)["sessions"]["lines"][0]["data"]
    ]
    zoom_in(ws, "queue")
    zoomed = charts(ws)
    assert all(c["zoom"][0] != [0, 100] for c in zoomed.values()), "every chart follows the zoom"
    seen = int(ws.evaluate("document.body.dataset.refreshes"))
    ws.wait_for_function(f"Number(document.body.dataset.refreshes) > {seen}")
    assert charts(ws)["rtt"]["zoom"] == zoomed["rtt"]["zoom"], "a refresh keeps the zoom"
    ws.get_by_role("button", name="Reset zoom").click()
    assert all(c["zoom"][0] == [0, 100] for c in charts(ws).values())
    assert ws.locator("#s-charts .note").inner_text().startswith("Sub-millisecond percentiles")

    # -- the theme follows Locust's: its toggle in the other tab, then ours back -------------------
    assert theme_of(ws) == ("light", PAGE_BACKGROUND["light"], {CHART_BACKGROUND["light"]})
    tab.bring_to_front()
    tab.locator("header button").last.click()  # Locust's dark/light toggle
    assert tab.evaluate("localStorage.theme") == "dark"
    wait_for(
        "the /ws/ page to turn dark", lambda: theme_of(ws) == ("dark", PAGE_BACKGROUND["dark"], {"#27272a"})
    )
    ws.bring_to_front()
    ws.locator("#ws-theme").click()
    assert theme_of(ws)[0] == "light" and ws.evaluate("localStorage.theme") == "light"
    tab.reload()
    tab.locator("table").first.wait_for()
    assert tab.evaluate("getComputedStyle(document.body).backgroundColor") == PAGE_BACKGROUND["light"]

    # -- stop the run from Locust's UI: every user closes with 1000 ---------------------------------
    tab.get_by_role("button", name="Stop").click()

    def stopped(d: dict[str, Any]) -> bool:
        row = close_row(d, "client", 1000)
        return row is not None and row["count"] == 4 and d["sessions"]["connected"] == 0

    final = settled(url, stopped, tuple(sections.SECTIONS[1:5]))
    seen = int(ws.evaluate("document.body.dataset.refreshes"))
    ws.wait_for_function(f"Number(document.body.dataset.refreshes) >= {seen + 1}")
    expected = section_cells(final)
    for name in sections.SECTIONS:
        assert rows_of(ws, f"#t-{name} tbody tr") == expected[name], name
    assert get_json(url + "/ws/data")["tables"] == final["tables"], "the numbers moved while compared"
    ws.screenshot(path=str(screenshots / "ws-page.png"), full_page=True)
    # A fresh load of Locust's page fetches /stats/requests once more (it polls only while running).
    for name, key, title in web.TABS:
        tab.goto(f"{url}/?tab={key}")
        tab.locator("table tbody tr").first.wait_for()
        wait_for(
            f"the {title} tab",
            lambda name=name: sorted(rows_of(tab, "table tbody tr")) == sorted(tab_cells(final, name)),
        )
    tab.goto(url + "/?tab=ws-closes")
    tab.get_by_text("normal closure").first.wait_for()
    assert ["1000", "client", "normal closure", "4"] in [r[:4] for r in rows_of(tab, "table tbody tr")]
    tab.screenshot(path=str(screenshots / "webui-websocket.png"))

    # Everything came from the Locust process: nothing from any other host.
    assert requested and all(r.startswith(url + "/") for r in requested), requested
    csv_text = urllib.request.urlopen(url + "/ws/csv/closes", timeout=5).read().decode()
    assert csv_text.startswith("who,code,reason,meaning,count,share,hint\n") and "server,1011," in csv_text

    # -- a system that prefers dark, nothing stored: the page is dark ------------------------------
    dark = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    dark_ws = dark.new_page()
    dark_ws.goto(url + "/ws/")
    dark_ws.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 1")
    assert theme_of(dark_ws) == ("dark", PAGE_BACKGROUND["dark"], {CHART_BACKGROUND["dark"]})
    dark_ws.screenshot(path=str(screenshots / "ws-page-dark.png"))

    # -- SIGTERM: Locust exits and writes the report, one file that draws offline --------------------
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail("locust did not exit within 30 s of SIGTERM")
    offline: list[str] = []
    dark_ws.close()  # its refresh timer would still ask the dead Locust for data
    file_page = dark.new_page()
    file_page.on("request", lambda request: offline.append(request.url))
    file_page.goto(report.as_uri())
    assert_page_draws_with_echarts(file_page, points=3)
    assert theme_of(file_page)[0] == "dark"
    assert offline == [report.as_uri()], offline
    for name in sections.SECTIONS:  # the report shows the numbers the live page showed last
        assert rows_of(file_page, f"#t-{name} tbody tr") == expected[name], name
    dark.close()


# -- the report file, from known points: gaps, exact tooltips, zoom, theme toggle ---------------
def test_report_charts_in_a_real_browser(browser: Browser, tmp_path: Path, screenshots: Path) -> None:
    points = series()
    path = tmp_path / "report.html"
    path.write_text(
        html.render(locust_environment(), result_with_checks(recorded()), points), encoding="utf-8"
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    context.set_default_timeout(WAIT_S * 1000)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    page.goto(path.as_uri())
    state = assert_page_draws_with_echarts(page, points=len(points))
    assert requested == [path.as_uri()], "the library and the points are in the file"
    page.screenshot(path=str(screenshots / "report-dark.png"))  # dark: the system prefers it

    # Each line holds the points as recorded; the missing p99 is a gap, not a zero.
    rtt_p99 = state["rtt"]["lines"][1]["data"]
    assert [row[:2] for row in rtt_p99] == [[p["elapsed_s"], p["rtt_p99_ms"]] for p in points]
    assert rtt_p99[GAP_INDEX][1] is None
    p99_colour = CHARTS[1]["lines"][1][2]
    lines = page.evaluate(
        """(colour) => Array.from(document.querySelectorAll('figure[data-chart="rtt"] svg path'))
             .filter((p) => (p.getAttribute("stroke") || "").toLowerCase() === colour)
             .map((p) => p.getAttribute("d")).filter((d) => !/A/.test(d))""",  # not the round symbols
        p99_colour,
    )
    # One path: a lone first point, a jump over the gap (a second M), then one segment (point 3 to 4).
    assert len(lines) == 1 and lines[0].count("M") == 2 and lines[0].count("L") == 1, lines

    # Hover: the tooltip shows the values of the point under the mouse, "no data" for the gap.
    gap = points[GAP_INDEX]
    tip = hover(page, "rtt", gap["elapsed_s"], gap["rtt_p50_ms"])
    assert f"{gap['elapsed_s']:.1f} s" in tip
    assert f"p50: {gap['rtt_p50_ms']:.3f}" in tip and "p99: no data" in tip and "ping p99: no data" in tip
    last = points[-1]
    tip = hover(page, "queue", last["elapsed_s"], last["send_queue_bytes_p99"])
    assert f"p99: {last['send_queue_bytes_p99']:.0f}" in tip

    # Zoom: Ctrl + wheel narrows every chart's time axis; "Reset zoom" shows the whole run again.
    full = [points[0]["elapsed_s"], points[-1]["elapsed_s"]]
    assert all(c["extent"] == full for c in charts(page).values())
    zoom_in(page, "sessions")
    for chart_id, chart in charts(page).items():
        low, high = chart["extent"]
        assert full[0] <= low < high <= full[1] and high - low < full[1] - full[0], chart_id
    page.get_by_role("button", name="Reset zoom").click()
    assert all(c["extent"] == full for c in charts(page).values())

    # Theme: the system prefers dark; the button switches to light for this view only.
    assert theme_of(page) == ("dark", PAGE_BACKGROUND["dark"], {CHART_BACKGROUND["dark"]})
    page.locator("#ws-theme").click()
    assert theme_of(page) == ("light", PAGE_BACKGROUND["light"], {CHART_BACKGROUND["light"]})
    page.reload()
    assert_page_draws_with_echarts(page, points=len(points))
    assert theme_of(page)[0] == "dark"
    context.close()
