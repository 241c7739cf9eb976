"""Fixtures of the web tests: a real Locust with its web UI, Chromium, and where screenshots go."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, WAIT_S, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
#: Set (to docs/img) by scripts/screenshots: the only way a test run writes into the tree.
SCREENSHOT_DIR_ENV = "LOADTEST_SCREENSHOT_DIR"


class LocustUI(NamedTuple):
    url: str
    proc: subprocess.Popen[bytes]
    report: Path


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Return the folder for screenshots: this test's temporary folder, unless the env var says."""
    chosen = os.environ.get(SCREENSHOT_DIR_ENV)
    folder = Path(chosen).resolve() if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[Any]:
    """Launch Debian's Chromium through playwright (nothing downloaded); close it afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=WAIT_S * 1000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def locust_ui(tmp_path: Path) -> Iterator[LocustUI]:
    """Start a real Locust with its web UI on a free loopback port (embedded target closing every
    second session with 1011, one client storm at 3 s, the report written at the end)."""
    port = free_port()
    report = tmp_path / "report.html"
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
        "--ws-storm-at",
        "3",
        "--ws-report",
        str(report),
    ]
    with open(tmp_path / "locust.log", "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the web UI to answer", lambda: urllib.request.urlopen(url + "/", timeout=2).status == 200)
        yield LocustUI(url, proc, report)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        print((tmp_path / "locust.log").read_text(errors="replace")[-3000:])
