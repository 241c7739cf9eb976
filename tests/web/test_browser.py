"""A real browser on a real Locust web UI: the WebSocket tab and the ``/ws/`` page show ``/ws/data``.

Headless Chromium from Debian (``/usr/bin/chromium``) driven by the ``playwright`` package; no
browser is downloaded. Skipped only when one of the two is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtest.plugin import web
from loadtest.report import page as page_parts

CHROMIUM = "/usr/bin/chromium"
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
ROOT = Path(__file__).resolve().parents[2]
#: Every wait is bounded by this (seconds).
WAIT_S = 30.0

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)", allow_module_level=True)
try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:
    pytest.skip("the playwright package is not installed (pip install -e '.[test]')", allow_module_level=True)


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


@pytest.fixture
def locust_ui(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start a real Locust with its web UI on a free loopback port; yield its URL and process."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        "scenarios/echo.py",
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(port),
        "--autostart",
        "-u",
        "4",
        "-r",
        "4",
        "--ws-embedded-args",
        "--close-every 2 --close-code 1011 --close-after 0.3",
        "--ws-reconnect-base",
        "0.1",
        "--ws-reconnect-cap",
        "0.2",
    ]
    with open(tmp_path / "locust.log", "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the web UI to answer", lambda: urllib.request.urlopen(url + "/", timeout=2).status == 200)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        print((tmp_path / "locust.log").read_text(errors="replace")[-3000:])


def close_row(data: dict[str, Any], who: str, code: int) -> dict[str, Any] | None:
    return next((r for r in data["tables"]["closes"] if r["who"] == who and r["code"] == code), None)


def settled(url: str, condition: Callable[[dict[str, Any]], bool], tables: tuple[str, ...]) -> dict[str, Any]:
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
        return second if same and condition(second) else None

    result: dict[str, Any] = wait_for(
        lambda: f"the WebSocket counts to settle (last seen: {seen})", probe, every_s=0.5
    )
    return result


def rows_of(page: Page, selector: str) -> list[list[str]]:
    cells: list[list[str]] = page.eval_on_selector_all(
        selector, "rows => rows.map(r => Array.from(r.cells, c => c.textContent.trim()))"
    )
    return cells


def same_number(shown: str, value: Any, kind: str) -> bool:
    """Return True when a shown cell is ``value`` formatted as ``kind`` (within the shown precision)."""
    if value is None or (value == "" and kind != "text"):
        return shown == "—"
    if kind == "share":
        return abs(float(shown.rstrip("%")) - float(value) * 100) <= 0.05 + 1e-9
    if kind in ("ms", "num"):
        return abs(float(shown) - float(value)) <= 0.0005 + 1e-9
    return shown == str(value)


def assert_page_matches(page: Page, data: dict[str, Any]) -> None:
    """Assert that the ``/ws/`` page shows exactly ``data``'s sessions and tables."""
    for key in ("connected", "peak", "opened", "ended"):
        assert page.text_content(f'#sessions b[data-key="{key}"]') == str(data["sessions"][key]), key
    for name, columns in page_parts.COLUMNS.items():
        shown = rows_of(page, f"#t-{name} tbody tr")
        rows = data["tables"][name]
        if not rows:
            assert shown == [[page_parts.EMPTY[name]]], name
            continue
        assert len(shown) == len(rows), name
        for cells, row in zip(shown, rows, strict=True):
            for cell, (key, _, kind) in zip(cells, columns, strict=True):
                assert same_number(cell, row[key], kind), (name, key, cell, row[key])


def tab_cells(data: dict[str, Any]) -> list[list[str]]:
    """Return the WebSocket tab's expected cells for ``data``, as the UI shows them."""
    rows = web.tab_rows(data, "/ws/")
    return sorted([str(row.get(key, "")) for key, _ in web.TAB_COLUMNS] for row in rows)


def test_websocket_tab_and_page_in_a_real_browser(locust_ui: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, proc = locust_ui

    def running(d: dict[str, Any]) -> bool:
        row = close_row(d, "server", 1011)
        return d["sessions"]["connected"] == 4 and row is not None and row["count"] > 0

    # While users run, RTTs keep coming: only the sessions and the close counts can settle.
    settled(url, running, ("closes", "handshake_failures"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=WAIT_S * 1000
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(WAIT_S * 1000)
            requested: list[str] = []
            context.on("request", lambda request: requested.append(request.url))
            tab = context.new_page()

            # -- during the run: Locust's own UI, WebSocket tab --------------------------------
            tab.goto(url + "/?tab=websocket")
            tab.get_by_role("tab", name="WebSocket").wait_for()
            tab.get_by_text("internal server error").first.wait_for()
            shown = rows_of(tab, "table tbody tr")
            heads = [
                h.strip()
                for h in tab.eval_on_selector_all("table thead th", "t => t.map(h => h.textContent)")
            ]
            assert heads == [title for _, title in web.TAB_COLUMNS]
            by_item = {(r[0], r[2]): r for r in shown}
            row_1011 = by_item[("closes", "1011")]
            assert row_1011[1] == "server" and int(row_1011[3]) > 0
            assert row_1011[11:13] == ["internal server error", "server bug: check its logs"]
            assert ("handshake failures", "total") in by_item
            wait_for(
                "the tab to show 4 connected sessions",
                lambda: ["sessions", "", "connected", "4"] in [r[:4] for r in rows_of(tab, "table tbody tr")],
            )
            assert (
                int(rows_of(tab, "table tbody tr")[0][3])
                == get_json(url + "/ws/data")["sessions"]["connected"]
            )

            # -- during the run: the /ws/ page -------------------------------------------------
            ws = context.new_page()
            ws.goto(url + "/ws/")
            ws.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 2")
            for chart in page_parts.CHARTS:
                svg = ws.locator(f'svg[data-chart="{chart["id"]}"]')
                points = svg.locator("polyline").first.get_attribute("points") or ""
                assert len(points.split()) >= 2, chart["id"]
            assert ws.text_content('#sessions b[data-key="connected"]') == "4"
            assert ws.locator("#t-handshake_failures").count() == 1
            assert any(
                r[:3] == ["1011", "server", "internal server error"]
                for r in rows_of(ws, "#t-closes tbody tr")
            )
            box = ws.locator('svg[data-chart="sessions"]').bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100

            # -- stop the run from Locust's UI: every user closes with 1000 -------------------------
            tab.get_by_role("button", name="Stop").click()

            def stopped(d: dict[str, Any]) -> bool:
                row = close_row(d, "client", 1000)
                return row is not None and row["count"] == 4 and d["sessions"]["connected"] == 0

            final = settled(url, stopped, tuple(page_parts.COLUMNS))
            seen = int(ws.evaluate("document.body.dataset.refreshes"))
            ws.wait_for_function(f"Number(document.body.dataset.refreshes) >= {seen + 1}")
            assert_page_matches(ws, final)
            assert get_json(url + "/ws/data")["tables"] == final["tables"], "the numbers moved while compared"
            row_1000 = close_row(final, "client", 1000)
            assert row_1000 is not None and row_1000["meaning"] == "normal closure"
            (ROOT / "reports").mkdir(exist_ok=True)
            ws.screenshot(path=str(ROOT / "reports" / "webui-websocket-charts.png"), full_page=True)

            # A fresh load of the tab fetches /stats/requests once more (it polls only while running).
            tab.goto(url + "/?tab=websocket")
            tab.get_by_text("normal closure").first.wait_for()
            shown = sorted(rows_of(tab, "table tbody tr"))
            assert shown == tab_cells(get_json(url + "/ws/data"))
            assert ["closes", "client", "1000", "4"] in [r[:4] for r in shown]
            tab.screenshot(path=str(ROOT / "reports" / "webui-websocket.png"), full_page=True)
            (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(
                ROOT / "reports" / "webui-websocket.png", ROOT / "docs" / "img" / "webui-websocket.png"
            )

            # Everything came from the Locust process: nothing from any other host.
            assert requested and all(r.startswith(url + "/") for r in requested), requested
            csv_text = urllib.request.urlopen(url + "/ws/csv/closes", timeout=5).read().decode()
            assert (
                csv_text.startswith("who,code,reason,meaning,count,share,hint\n")
                and "server,1011," in csv_text
            )
        finally:
            browser.close()

    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail("locust did not exit within 30 s of SIGTERM")
    assert proc.returncode is not None
