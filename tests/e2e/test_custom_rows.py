"""docs/api.md: ``record_request`` adds rows to Locust's statistics, batched or one event each."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = str(Path(__file__).with_name("custom_rows.py"))
USERS = 3


@pytest.mark.parametrize("per_event", [False, True], ids=["batched", "request-events"])
def test_record_request_rows_reach_locusts_table(tmp_path: Path, serve, per_event: bool) -> None:
    server = serve()
    extra = ["--ws-request-events"] if per_event else []
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary"]
        + ["--host", server.url, "-u", str(USERS), "-r", str(USERS), "-t", "3s"]
        + ["--csv", str(tmp_path / "run"), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    with open(tmp_path / "run_stats.csv", newline="") as f:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
    ok, bad = rows[("WS", "custom ok")], rows[("WS", "custom bad")]
    assert (int(ok["Request Count"]), int(ok["Failure Count"])) == (2 * USERS, 0)
    assert float(ok["Min Response Time"]) == 7.0 and float(ok["Max Response Time"]) == 12.5
    assert float(ok["Average Content Size"]) == 50.0  # (100 + 0) / 2
    assert (int(bad["Request Count"]), int(bad["Failure Count"])) == (USERS, USERS)
    with open(tmp_path / "run_failures.csv", newline="") as f:
        failures = list(csv.DictReader(f))
    assert [(r["Name"], r["Occurrences"]) for r in failures] == [("custom bad", str(USERS))]
    assert "the reply said no" in failures[0]["Error"]
    assert proc.returncode == 1  # a failed row fails the run, as Locust's own would


def test_a_slow_on_message_gets_every_push_of_a_session_before_the_next_opens(tmp_path: Path, serve) -> None:
    from tests.integration.sessions import settled_stats

    server = serve("--close-every", "1", "--close-code", "1000", "--close-after", "0.1")
    seen_dir = tmp_path / "seen"
    seen_dir.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("slow_hook.py"))]
        + ["--headless", "--only-summary", "--host", server.url, "-u", "2", "-r", "2", "-t", "3s"]
        + ["--ws-reconnect-base", "0.05", "--ws-reconnect-cap", "0.05"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**__import__("os").environ, "SLOW_HOOK_DIR": str(seen_dir)},
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    users = [__import__("json").loads(f.read_text()) for f in seen_dir.iterdir()]
    assert len(users) == 2, proc.stderr[-2000:]
    stats = settled_stats(server)
    # a server that closes every session after 0.1 s, while 10 pushes take the hook 0.2 s: several
    # sessions per user, each with pushes still queued when it ended
    assert all(user["opened"] >= 3 for user in users), users
    # every message the server sent reached the hook, the last session's ones during the stop too
    assert sum(len(user["seen"]) for user in users) == stats["messages"]["sent"] > 0
    for user in users:
        # and none was handed on after the next session had opened
        assert all(origin == current for origin, current in user["seen"]), user["seen"]
        # message_received_ns is the engine's read, not the hook's turn: the tenth of a burst
        # waited for the nine before it (20 ms each)
        assert min(user["queued_ms"]) >= 0 and max(user["queued_ms"]) >= 9 * 20 * 0.9, user["queued_ms"]


def test_pushes_the_stop_has_no_time_for_are_counted(tmp_path: Path, serve) -> None:
    import json
    import os

    from tests.integration.sessions import settled_stats

    server = serve()
    seen_dir, summary = tmp_path / "seen", tmp_path / "summary.json"
    seen_dir.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("slow_hook.py"))]
        + ["--headless", "--only-summary", "--host", server.url, "-u", "2", "-r", "2", "-t", "1s"]
        + ["--ws-close-timeout", "0.3", "--ws-summary", str(summary)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "SLOW_HOOK_DIR": str(seen_dir), "SLOW_HOOK_S": "0.25"},
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    seen = sum(len(json.loads(f.read_text())["seen"]) for f in seen_dir.iterdir())
    left = json.loads(summary.read_text())["errors"]["pushes_at_end"]
    # 10 pushes per session take the hook 2.5 s; the run stops after 1 s with 0.3 s to close
    assert left > 0 and seen + left == settled_stats(server)["messages"]["sent"] == 2 * 10
