"""A real multi-host run: target, master and two workers each on its own host (network namespace).

The hosts are network namespaces of our own on one bridge (10.200.0.0/24 exists only inside
them); every process is started with ``ip netns exec`` and talks over that network only.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.netns.hosts import Hosts, unusable_reason

HERE = Path(__file__).resolve().parent
ECHO = "scenarios/echo.py"
ECHO_LOST = str(HERE / "echo_lost.py")
PORT = 8765
FAULTS = ["--close-every", "3", "--close-code", "1011", "--close-after", "0.4", "--drop-every", "4"]
FAULTS += ["--drop-after", "0.6"]
RECONNECT = ["--ws-reconnect-base", "0.1", "--ws-reconnect-cap", "0.3"]

_REASON = unusable_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"no network namespaces: {_REASON}")


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    net = Hosts(["target", "master", "worker1", "worker2"])
    try:
        yield net
    finally:
        net.close()


def _workers(net: Hosts, locustfile: str, target: str) -> list[subprocess.Popen[str]]:
    return [
        net.start(
            role,
            [
                "-m",
                "locust",
                "-f",
                locustfile,
                "--worker",
                "--master-host",
                net.addr["master"],
                "--host",
                target,
            ],
        )
        for role in ("worker1", "worker2")
    ]


def _master_args(net: Hosts, locustfile: str, target: str, *args: str) -> list[str]:
    return [
        "-m",
        "locust",
        "-f",
        locustfile,
        "--master",
        "--headless",
        "--master-bind-host",
        net.addr["master"],
        "--expect-workers",
        "2",
        "--host",
        target,
        *args,
    ]


def test_master_and_workers_on_separate_hosts_match_the_server(hosts: Hosts, tmp_path: Path) -> None:
    net = hosts
    net.start_server("target", PORT, *FAULTS)
    target = f"ws://{net.addr['target']}:{PORT}"
    out = tmp_path / "summary.json"
    _workers(net, ECHO, target)
    master = net.start(
        "master",
        _master_args(
            net, ECHO, target, "-u", "8", "-r", "8", "-t", "5s", "--ws-summary", str(out), *RECONNECT
        ),
    )
    _, stderr = master.communicate(timeout=60)
    assert out.exists(), stderr[-3000:]
    s = json.loads(out.read_text())
    stats = net.settled_stats("target", f"http://{net.addr['target']}:{PORT}/stats")
    assert s["workers"]["reported"] == 2 and s["workers"]["lost"] == []
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] > 8
    assert s["closes"]["server"] == stats["closes"]["server"] and s["closes"]["server"]["1011"] >= 2
    assert s["closes"]["abnormal"] == stats["closes"]["abnormal"] >= 1
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 8}
    assert s["messages"]["sent"] == stats["messages"]["received"] > 0
    assert s["messages"]["received"] == stats["messages"]["sent"]
    assert s["sessions"]["open_at_end"] == 0


def _history(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("elapsed_s")]


def _wait_rows(path: Path, predicate: Any, timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    rows = _history(path)
    while not predicate(rows) and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = _history(path)
    assert predicate(rows), f"history never reached the expected state: {rows[-3:]}"
    return rows


def test_a_worker_killed_mid_run_is_reported_and_its_reported_counts_stay(
    hosts: Hosts, tmp_path: Path
) -> None:
    net = hosts
    # Every session lives 1 s, so sessions keep opening all through the run.
    net.start_server("target", PORT, "--close-every", "1", "--close-code", "1011", "--close-after", "1.0")
    target = f"ws://{net.addr['target']}:{PORT}"
    out, prefix = tmp_path / "summary.json", tmp_path / "run"
    history = Path(f"{prefix}_ws_history.csv")
    workers = _workers(net, ECHO_LOST, target)
    master = net.start(
        "master",
        _master_args(
            net,
            ECHO_LOST,
            target,
            "-u",
            "8",
            "-r",
            "8",
            "-t",
            "14s",
            "--ws-summary",
            str(out),
            "--csv",
            str(prefix),
            "--ws-sample-interval",
            "1",
            *RECONNECT,
        ),
    )
    # Both workers have reported at least once (opened sessions merged) and some time has passed.
    rows = _wait_rows(history, lambda r: bool(r) and float(r[-1]["elapsed_s"]) >= 4.5, 40)
    reported_before = int(rows[-1]["sessions_opened"])
    killed_at = time.time()
    os.kill(workers[0].pid, signal.SIGKILL)
    _, stderr = master.communicate(timeout=60)
    assert out.exists(), stderr[-3000:]
    s = json.loads(out.read_text())
    stats = net.settled_stats("target", f"http://{net.addr['target']}:{PORT}/stats")

    # The run went on to its end and says which worker was lost, and when.
    assert s["duration_s"] >= 13
    lost = s["workers"]["lost"]
    assert len(lost) == 1, lost
    assert set(lost[0]) == {"worker", "lost_at", "elapsed_s"}
    lost_at = datetime.fromisoformat(lost[0]["lost_at"]).timestamp()
    assert killed_at < lost_at < killed_at + 10
    assert float(rows[-1]["elapsed_s"]) < lost[0]["elapsed_s"] < s["duration_s"]
    assert "lost at" in stderr
    after = [r for r in _history(history) if float(r["elapsed_s"]) > lost[0]["elapsed_s"] + 1]
    assert any(float(r["messages_sent_per_s"] or 0) > 0 for r in after), "the surviving worker went on"
    # What the lost worker reported stays; what it did after its last report is missing.
    assert s["workers"]["reported"] == 2
    assert reported_before < s["sessions"]["opened"] <= stats["sessions"]["opened"]
    assert 0 < s["messages"]["sent"] <= stats["messages"]["received"]
    assert s["messages"]["received"] <= stats["messages"]["sent"]
    # The survivor's users closed at the end (some were between sessions); the lost one's just vanished.
    assert s["closes"]["client"] == stats["closes"]["client"] and sum(s["closes"]["client"].values()) <= 4
    assert stats["closes"]["abnormal"] >= 1 and s["closes"]["abnormal"] == 0
    assert s["sessions"]["open_at_end"] == 0  # the lost worker's sessions are no longer counted as open
