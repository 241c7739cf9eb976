"""Our numbers follow Locust's test lifecycle: start, stop, reset and a new test, in every mode.

Driven as the web UI drives Locust (its HTTP endpoints), against real ``locust`` processes: a
local runner, and a master with workers. Locust's own statistics are the reference: after a
reset or a new test, our counts cover the same span as Locust's.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` every 0.1 s; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class WebLocust:
    """A ``locust`` process with its web UI on loopback (and optionally workers), driven over HTTP."""

    def __init__(self, folder: Path, *args: str, scenario: str = "echo", workers: int = 0) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        locustfile = str(SCENARIOS / f"{scenario}.py")
        cmd = [sys.executable, "-m", "locust", "-f", locustfile, "--web-host", "127.0.0.1"]
        cmd += ["--web-port", str(self.port), *args]
        self.procs: list[subprocess.Popen[str]] = []
        if workers:
            master_port = free_port()
            cmd += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)]
            for _ in range(workers):
                worker = [sys.executable, "-m", "locust", "-f", locustfile, "--worker"]
                worker += ["--master-host", "127.0.0.1", "--master-port", str(master_port)]
                self.procs.append(self._spawn(worker, folder))
        self.main = self._spawn(cmd, folder)
        wait_for(self._up, 30, "the web UI")
        if workers:
            wait_for(lambda: self.json("/stats/requests")["workers"].__len__() == workers, 30, "the workers")

    @staticmethod
    def _spawn(cmd: list[str], folder: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def _up(self) -> bool:
        try:
            self.get("/")
        except OSError:
            return False
        return True

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:  # noqa: S310 (loopback)
            body: bytes = response.read()
            return body

    def json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def post(self, path: str, form: dict[str, str] | None = None) -> bytes:
        data = urllib.parse.urlencode(form or {}).encode()
        with urllib.request.urlopen(self.base + path, data=data, timeout=30) as response:  # noqa: S310
            body: bytes = response.read()
            return body

    def swarm(self, users: int, **fields: str) -> None:
        answer = json.loads(
            self.post("/swarm", {"user_count": str(users), "spawn_rate": str(users), **fields})
        )
        assert answer["success"] is True, answer

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.json("/ws/data")
        return data

    def locust_requests(self, name: str) -> int:
        """Return Locust's own request count for the ``WS`` row ``name``."""
        rows = self.json("/stats/requests")["stats"]
        return sum(int(r["num_requests"]) for r in rows if r["name"] == name and r["method"] == "WS")

    def close(self) -> str:
        for proc in [self.main, *self.procs]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        out = ""
        for proc in [self.main, *self.procs]:
            try:
                out += proc.communicate(timeout=30)[0]
            except subprocess.TimeoutExpired:
                proc.kill()
                out += proc.communicate()[0]
        return out


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Callable[..., WebLocust]]:
    started: list[WebLocust] = []

    def start(*args: str, **kwargs: Any) -> WebLocust:
        started.append(WebLocust(tmp_path, *args, **kwargs))
        return started[-1]

    yield start
    for ui in started:
        output = ui.close()
        assert "Traceback" not in output, output[-3000:]


def _sessions_opened(ui: WebLocust) -> int:
    opened: int = ui.data()["summary"]["sessions"]["opened"]
    return opened


def test_stop_freezes_new_starts_over_and_files_are_numbered_per_test(tmp_path: Path, web) -> None:
    ui = web("--ws-summary", str(tmp_path / "run.json"))
    assert ui.data()["state"] == "idle" and ui.data()["summary"]["duration_s"] == 0.0
    ui.swarm(3)
    wait_for(lambda: _sessions_opened(ui) >= 3 and ui.locust_requests("echo") > 20, 20, "traffic")
    assert ui.data()["state"] == "running"
    ui.post("/stop")
    wait_for(lambda: ui.data()["state"] == "stopped", 20, "the stop")
    first = ui.data()["summary"]
    time.sleep(1.5)
    assert ui.data()["summary"]["duration_s"] == first["duration_s"]  # the clock is frozen
    written = json.loads((tmp_path / "run.json").read_text())
    assert written["run"]["index"] == 1 and written["sessions"]["opened"] == first["sessions"]["opened"]
    assert written["closes"]["client"] == {"1000": 3}  # every session closed at the stop, and counted

    ui.swarm(2)  # "New": Locust clears its statistics, and so do we
    wait_for(lambda: ui.data()["state"] == "running" and _sessions_opened(ui) >= 2, 20, "the new test")
    assert ui.data()["summary"]["run"]["index"] == 2
    # Locust's web UI answers /stats/requests from a 2 s cache: wait for this test's table.
    wait_for(lambda: ui.locust_requests("connect") == _sessions_opened(ui) == 2, 10, "Locust's fresh table")
    ui.post("/stop")
    wait_for(lambda: ui.data()["state"] == "stopped", 20, "the second stop")
    latest = json.loads((tmp_path / "run.json").read_text())
    earlier = json.loads((tmp_path / "run-1.json").read_text())
    assert latest["run"]["index"] == 2 and latest["sessions"]["opened"] == 2
    assert latest["closes"]["client"] == {"1000": 2}
    assert earlier == written  # the first test's file, renamed, untouched


def _reset_and_compare(ui: WebLocust, users: int) -> None:
    wait_for(lambda: ui.locust_requests("echo") > 30, 30, "traffic before the reset")
    before = ui.data()["summary"]["rtt_ms"]["count"]
    ui.post("/stats/reset")
    # after the next report, ours and Locust's cover the same span again
    time.sleep(4)
    ui.post("/stop")
    wait_for(lambda: ui.data()["state"] == "stopped", 30, "the stop")
    summary = ui.data()["summary"]
    ours, locust = summary["rtt_ms"]["count"], ui.locust_requests("echo")
    assert before > 30 and 0 < ours < before + locust
    assert abs(ours - locust) <= users, (ours, locust)  # a request in flight at the reset at most
    assert summary["sessions"]["opened"] == 0  # the sessions were opened before the reset...
    assert summary["closes"]["client"] == {"1000": users}  # ...and their ends after it are counted
    assert summary["duration_s"] < 6.0  # the clock restarted at the reset


def test_reset_starts_our_numbers_over_with_locusts(web) -> None:
    ui = web()
    ui.swarm(3)
    _reset_and_compare(ui, 3)


def test_reset_on_a_master_reaches_every_worker(web) -> None:
    ui = web(workers=2)
    ui.swarm(4)
    _reset_and_compare(ui, 4)


def test_two_workers_at_a_constant_rate_draw_a_steady_line(tmp_path: Path) -> None:
    port = free_port()
    burst = str(SCENARIOS / "burst_send.py")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", burst, "--worker", "--master-port", str(port)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    master = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            burst,
            "--master",
            "--headless",
            "--expect-workers",
            "2",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "14s",
            "--ws-rate",
            "20",
            "--ws-sample-interval",
            "1",
            "--csv",
            str(tmp_path / "run"),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    for worker in workers:
        worker.wait(timeout=20)
    assert master.returncode == 0, master.stderr[-3000:]
    with open(tmp_path / "run_ws_history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # points every 3 s (the workers' report interval); the first covers the ramp, the last the stop
    steady = [float(row["messages_sent_per_s"]) for row in rows[1:-1]]
    assert len(steady) >= 2, rows
    assert all(60.0 <= rate <= 100.0 for rate in steady), steady  # 4 users x 20/s, never 0 or double
