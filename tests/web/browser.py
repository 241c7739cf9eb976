"""Helpers for the browser tests: Debian's Chromium, bounded waits, and reading what a page shows.

Nothing here imports playwright, so the fixtures can live in ``conftest.py`` and the test module
alone decides to skip when the browser is missing.
"""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
#: Flags that work on a closed network: nothing phones home, nothing is downloaded.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Every wait is bounded by this (seconds).
WAIT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_for(
    what: str | Callable[[], str], probe: Callable[[], Any], timeout_s: float = WAIT_S, every_s: float = 0.25
) -> Any:
    """Return the first truthy ``probe()`` within ``timeout_s``; fail saying ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except OSError as exc:  # not up yet: keep the error to report it, and try again
            last = exc
        else:
            if last:
                return last
        time.sleep(every_s)
    what = what() if callable(what) else what
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}; last: {last!r}")


def rows_of(page: Page, selector: str) -> list[list[str]]:
    """Return the text of every cell of the rows matching ``selector``."""
    cells: list[list[str]] = page.eval_on_selector_all(
        selector, "rows => rows.map(r => Array.from(r.cells, c => c.textContent.trim()))"
    )
    return cells


def headings(page: Page, selector: str = "table thead th") -> list[str]:
    titles: list[str] = page.eval_on_selector_all(selector, "t => t.map(h => h.textContent.trim())")
    return titles


#: Every element with text of its own, and its box (viewport coordinates), except ``sel``'s.
_TEXT_BOXES = """sel => {
  const link = document.querySelector(sel);
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const own = (e) => Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
  const texts = Array.from(document.body.querySelectorAll("*"))
    .filter((e) => !link.contains(e) && (own(e) || e.matches("td, th, button, [role=tab]")))
    .map((e) => [e.tagName + " " + e.textContent.trim().slice(0, 30), box(e)])
    .filter(([, b]) => b[2] > b[0] && b[3] > b[1]);
  return {link: box(link), texts, position: getComputedStyle(link).position};
}"""


def covered_by(page: Page, selector: str) -> tuple[list[float], list[str], int]:
    """Return ``selector``'s box, the elements with text it overlaps, and how many were checked."""
    found: dict[str, Any] = page.evaluate(_TEXT_BOXES, selector)
    x0, y0, x1, y1 = found["link"]
    hits = [name for name, (a0, b0, a1, b1) in found["texts"] if a0 < x1 and x0 < a1 and b0 < y1 and y0 < b1]
    return found["link"], hits, len(found["texts"])


#: The ECharts instance of every chart frame: its id, the library version, and each line's data.
CHART_STATE = """() => Array.from(document.querySelectorAll("figure[data-chart]")).map((figure) => {
  const chart = echarts.getInstanceByDom(figure.querySelector(".plot"));
  if (!chart) return {id: figure.dataset.chart, drawn: false};
  const option = chart.getOption();
  const axis = chart.getModel().getComponent("xAxis").axis.scale.getExtent();
  return {
    id: figure.dataset.chart,
    drawn: true,
    version: echarts.version,
    renderer: chart.getZr().painter.getType(),
    background: option.backgroundColor,
    lines: option.series.map((s) => ({name: s.name, data: s.data})),
    zoom: option.dataZoom.map((z) => [z.start, z.end]),
    extent: axis,
  };
})"""

#: The page position of point ``[x, y]`` in chart ``id`` (to move the mouse there).
POINT_AT = """([id, x, y]) => {
  const plot = document.querySelector(`figure[data-chart="${id}"] .plot`);
  plot.scrollIntoView({block: "center"});
  const [px, py] = echarts.getInstanceByDom(plot).convertToPixel({xAxisIndex: 0, yAxisIndex: 0}, [x, y]);
  const r = plot.getBoundingClientRect();
  return [r.left + px, r.top + py];
}"""


def charts(page: Page) -> dict[str, dict[str, Any]]:
    """Return every chart's state (see :data:`CHART_STATE`) by id."""
    states: list[dict[str, Any]] = page.evaluate(CHART_STATE)
    return {state["id"]: state for state in states}


def hover(page: Page, chart_id: str, x: float, y: float) -> str:
    """Move the mouse onto ``[x, y]`` of a chart; return its tooltip's text once it is about ``x``."""
    px, py = page.evaluate(POINT_AT, [chart_id, x, y])
    page.mouse.move(px, py)
    tip = page.locator(f'figure[data-chart="{chart_id}"] .ws-tooltip')
    text: str = wait_for(
        f"the tooltip of {chart_id} at {x:.1f} s",
        lambda: tip.is_visible() and tip.inner_text().startswith(f"{x:.1f} s") and tip.inner_text(),
    )
    return text


def zoom_in(page: Page, chart_id: str) -> None:
    """Zoom in with Ctrl + mouse wheel over the middle of a chart."""
    plot = page.locator(f'figure[data-chart="{chart_id}"] .plot')
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -600)
    page.keyboard.up("Control")


# -- Locust's own controls and tables, and the /ws/ page's status, as a person sees them ----------
#: The /ws/ page's status line: "Target ws://... · 12.3 s · running · updated 10:11:12".
_WS_STATUS = re.compile(r" · (\d+(?:\.\d+)?) s · (\w+)")


def number(text: str) -> int:
    """Return a count as a table shows it ("1,234" or "1234")."""
    return int(text.replace(",", ""))


def start_test(page: Page, users: int, spawn_rate: int) -> None:
    """Fill Locust's start form (the first page, or the "New" dialog) and click its Start button."""
    page.get_by_label("Number of users").fill(str(users))
    page.get_by_label("Ramp up").fill(str(spawn_rate))
    page.get_by_role("button", name="Start", exact=True).click()


def locust_requests(page: Page) -> dict[str, int]:
    """Return Locust's own Statistics tab as ``{name: # requests}`` of its ``WS`` rows."""
    page.get_by_role("tab", name="Statistics", exact=True).click()
    titles = headings(page)
    if "# Requests" not in titles:  # the table of another tab, still on its way out
        return {}
    kind, name, count = titles.index("Type"), titles.index("Name"), titles.index("# Requests")
    return {r[name]: number(r[count]) for r in rows_of(page, "table tbody tr") if r[kind] == "WS"}


def ws_tab(page: Page, section: str) -> list[list[str]]:
    """Click our tab of ``section`` in Locust's page; return its rows once its own table is shown."""
    from loadtest.plugin import web

    title = next(title for name, _, title in web.TABS if name == section)
    page.get_by_role("tab", name=title, exact=True).click()
    if headings(page) != [heading for _, heading in web.tab_columns(section)]:
        return []  # the table of the tab before, still on its way out
    return rows_of(page, "table tbody tr")


def ws_status(page: Page) -> tuple[str, str]:
    """Return the duration (as shown, e.g. "12.3") and the state word of the /ws/ page's status line."""
    found = _WS_STATUS.search(page.locator("#ws-status").inner_text())
    assert found is not None, page.locator("#ws-status").inner_text()
    return found[1], found[2]


def ws_refresh(page: Page, times: int = 1) -> None:
    """Wait (bounded by the page's default timeout) until the /ws/ page fetched ``data`` ``times`` more."""
    seen = int(page.evaluate("Number(document.body.dataset.refreshes || 0)"))
    page.wait_for_function(f"Number(document.body.dataset.refreshes || 0) >= {seen + times}")


def ws_rtt_count(page: Page) -> int:
    """Return the RTT count of the /ws/ page's latency table."""
    row = next(r for r in rows_of(page, "#t-latency tbody tr") if r[0] == "rtt")
    return number(row[1])
