"""A real master with real workers: merged counts equal what the server did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.sessions import settled_stats
from tests.locust_files import stats_rows
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ECHO = str(ROOT / "scenarios" / "echo.py")


def _master_and_workers(
    args: list[str],
    workers: int,
    timeout_s: float = 90.0,
    locustfile: str = ECHO,
    worker_args: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    port = free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                locustfile,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
                *worker_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(workers)
    ]
    try:
        master = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                locustfile,
                "--master",
                "--headless",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--expect-workers",
                str(workers),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=ROOT,
        )
    finally:
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return master


def test_master_and_two_workers_merge_to_the_servers_counts(tmp_path: Path, serve) -> None:
    server = serve(
        "--close-every",
        "3",
        "--close-code",
        "1011",
        "--close-after",
        "0.4",
        "--drop-every",
        "4",
        "--drop-after",
        "0.6",
    )
    out = tmp_path / "summary.json"
    master = _master_and_workers(
        [
            "--host",
            server.url,
            "-u",
            "8",
            "-r",
            "8",
            "-t",
            "4s",
            "--ws-summary",
            str(out),
            "--csv",
            str(tmp_path / "run"),
            "--ws-reconnect-base",
            "0.1",
            "--ws-reconnect-cap",
            "0.3",
        ],
        workers=2,
        # the master's --csv for the workers too, as one LOCUST_CSV for every process would give:
        # a worker's own rows (the part since its last report) never end up in the files
        worker_args=("--csv", str(tmp_path / "run")),
    )
    assert out.exists(), master.stderr[-3000:]
    s, stats = json.loads(out.read_text()), settled_stats(server)
    # the master's CSV holds the workers' last rows too (written at its exit)
    assert stats_rows(tmp_path / "run")["Aggregated"] == (s["locust"]["requests"], s["locust"]["failures"])
    assert s["workers"]["reported"] == 2
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] > 8
    assert s["closes"]["server"] == stats["closes"]["server"] and s["closes"]["server"]["1011"] >= 2
    assert s["closes"]["abnormal"] == stats["closes"]["abnormal"] >= 1
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 8}
    assert s["messages"]["sent"] == stats["messages"]["received"] > 0
    assert s["messages"]["received"] == stats["messages"]["sent"]
    assert s["rtt_ms"]["count"] == s["messages"]["received"]  # every echo matched, histograms merged exactly
    assert s["sessions"]["peak_concurrent"] >= 8
    assert s["sessions"]["open_at_end"] == 0


def test_processes_mode_merges_too(tmp_path: Path, serve) -> None:
    server = serve("--close-every", "2", "--close-code", "1011", "--close-after", "0.3")
    out = tmp_path / "summary.json"
    port = free_port()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            ECHO,
            "--headless",
            "--processes",
            "2",
            "--host",
            server.url,
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "3s",
            "--ws-summary",
            str(out),
            "--ws-reconnect-base",
            "0.1",
            "--ws-reconnect-cap",
            "0.2",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--master-port",
            str(port),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert out.exists(), proc.stderr[-3000:]
    s, stats = json.loads(out.read_text()), settled_stats(server)
    assert s["sessions"]["opened"] == stats["sessions"]["opened"]
    assert s["closes"]["server"] == stats["closes"]["server"]
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 4}
    assert s["messages"]["sent"] == stats["messages"]["received"]


def test_workers_still_closing_sessions_are_waited_for(tmp_path: Path, serve) -> None:
    """Users that take 1.5 s to close would be lost by Locust's 0.5 s quit; the plugin waits."""
    server = serve()
    out = tmp_path / "summary.json"
    _master_and_workers(
        ["--host", server.url, "-u", "4", "-r", "4", "-t", "2s", "--ws-summary", str(out)],
        workers=2,
        locustfile=str(Path(__file__).with_name("slow_stop.py")),
    )
    s, stats = json.loads(out.read_text()), settled_stats(server)
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 4}
    assert s["sessions"]["ended"] == 4 and s["sessions"]["open_at_end"] == 0
    assert s["messages"]["sent"] == stats["messages"]["received"] > 0


def test_the_master_starts_a_storm_on_every_worker_at_once(tmp_path: Path, serve) -> None:
    server = serve()
    out = tmp_path / "summary.json"
    _master_and_workers(
        [
            "--host",
            server.url,
            "-u",
            "8",
            "-r",
            "8",
            "-t",
            "6s",
            "--ws-summary",
            str(out),
            "--ws-storm-at",
            "3",
            "--ws-reconnect-base",
            "0.3",
            "--ws-reconnect-cap",
            "0.6",
        ],
        workers=2,
        locustfile=str(ROOT / "scenarios" / "reconnect_storm.py"),
    )
    s, stats = json.loads(out.read_text()), settled_stats(server)
    assert len(s["storms"]) == 1
    storm = s["storms"][0]
    assert storm["trigger"] == "client" and storm["index"] == 0
    assert storm["dropped"] == storm["recovered"] == storm["sessions_before"] == 8  # both workers' sessions
    assert storm["recovery_ms"]["count"] == 8
    assert storm["fleet_back_s"] is not None
    assert s["closes"]["abnormal_reasons"] == {"storm": 8}
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] == 16


def test_master_only_options_reach_plain_workers(tmp_path: Path, serve) -> None:
    # The bug this guards: session options were built at init, before Locust hands workers the
    # master's options, so a master given --ws-token against a server requiring it got 0
    # sessions and nothing but http_401 from its plain workers.
    server = serve("--token", "s3cret")
    out = tmp_path / "summary.json"
    master = _master_and_workers(
        [
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "3s",
            "--host",
            server.url,
            "--ws-token",
            "s3cret",
            "--ws-summary",
            str(out),
        ],  # fmt: skip
        workers=2,
    )
    assert out.exists(), master.stderr[-3000:]
    s, stats = json.loads(out.read_text()), settled_stats(server)
    assert s["handshake_failures"] == {"total": 0} and stats["handshakes"]["rejected"] == {}
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] == 4
    # the generators' own cost covers the master and each worker
    assert s["process"]["total"]["processes"] == 3 and len(s["process"]["workers"]) == 2
    assert all(w["cpu_s"] > 0 for w in s["process"]["workers"])
    assert s["process"]["total"]["cpu_s"] >= sum(w["cpu_s"] for w in s["process"]["workers"])
