"""Fixtures of the web tests: a real Locust with its web UI, Chromium, and where screenshots go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, WAIT_S, free_port, get_json, wait_for

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


class LocustWeb(NamedTuple):
    """A real Locust web UI (a local runner, or a master with its workers) that no test started yet."""

    url: str
    folder: Path
    procs: list[subprocess.Popen[bytes]]


@pytest.fixture
def locust_web(tmp_path: Path) -> Iterator[Callable[..., LocustWeb]]:
    """Return a starter of real Locust web UIs on free loopback ports, without ``--autostart``:
    the test starts them from the browser, as a person would. ``workers=N`` makes it a master
    with N workers (waiting until all are connected). Each is stopped with SIGTERM at the end,
    and must have logged no traceback."""
    started: list[LocustWeb] = []

    def start(*args: str, scenario: str = "echo", workers: int = 0) -> LocustWeb:
        index = len(started)
        port = free_port()
        locustfile = f"scenarios/{scenario}.py"
        command = [sys.executable, "-m", "locust", "-f", locustfile, "--web-host", "127.0.0.1"]
        command += ["--web-port", str(port), *args]
        procs: list[subprocess.Popen[bytes]] = []

        def spawn(cmd: list[str], name: str) -> None:
            with open(tmp_path / f"{name}-{index}.log", "wb") as log:
                procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))

        if workers:
            master_port = free_port()
            command += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)]
        spawn(command, "locust")
        for number in range(workers):
            worker = [sys.executable, "-m", "locust", "-f", locustfile, "--worker", "--master-host"]
            worker += ["127.0.0.1", "--master-port", str(master_port)]
            spawn(worker, f"worker{number}")
        ui = LocustWeb(f"http://127.0.0.1:{port}", tmp_path, procs)
        started.append(ui)
        wait_for("the web UI to answer", lambda: urllib.request.urlopen(ui.url, timeout=2).status == 200)
        if workers:
            wait_for(
                f"{workers} worker(s) to connect",
                lambda: len(get_json(ui.url + "/stats/requests")["workers"]) == workers,
            )
        return ui

    yield start
    for ui in started:
        for proc in ui.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in ui.procs:
            try:
                proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    logs = {path.name: path.read_text(errors="replace") for path in sorted(tmp_path.glob("*.log"))}
    print("\n".join(f"--- {name}\n{text[-3000:]}" for name, text in logs.items()))
    traced = [name for name, text in logs.items() if "Traceback" in text]
    assert not traced, f"a Locust process logged a traceback: {traced}"
