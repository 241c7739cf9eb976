"""Bad input stops a run before it starts, with one sentence and exit code 2; outputs fail alone.

Real ``locust`` processes. "Before it starts" means no user was spawned (Locust's "Ramping to"
line never appears) and nothing was sent to the target.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_headless import locust
from tests.integration.sessions import settled_stats

ROOT = Path(__file__).resolve().parents[2]
ECHO = str(ROOT / "scenarios" / "echo.py")


def _locust(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return locust("-u", "1", "-t", "2s", *args, cwd=cwd)


def _refused(proc: subprocess.CompletedProcess[str], sentence: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("loadtest: ")]
    assert len(lines) == 1 and sentence in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Ramping to" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--ws-header", "X-A: 1\r\nX-Injected: 2"], "contains a line break (CR or LF)"),
        (["--ws-cookie", "sid=a\nb"], "contains a line break (CR or LF)"),
        (["--ws-origin", "http://a\r\nX: y"], "--ws-origin contains a line break"),
        (["--ws-header", "Host: evil.test"], "would send a second Host header"),
        (["--ws-ca-file", "/nonexistent/ca.pem"], "--ws-ca-file '/nonexistent/ca.pem' does not exist"),
        (["--ws-client-cert", "/nonexistent/c.pem"], "--ws-client-cert '/nonexistent/c.pem' does not exist"),
        (
            ["--ws-summary", "/etc/passwd/run.json"],
            "--ws-summary '/etc/passwd/run.json': its folder cannot be",
        ),
        (["--ws-report", "/tmp"], "--ws-report '/tmp' is a folder"),
        (["--host", "ws://[::1/"], "is not a valid URL (Invalid IPv6 URL)"),
        (["--ws-check", "rtt_ms.p98<1"], "nearest valid: rtt_ms.p99"),
        (["--ws-publishers", "0"], "--ws-publishers must be 1 or more"),
        (["--ws-sessions-per-user", "0"], "--ws-sessions-per-user must be 1 or more"),
        (["--ws-check", "fanout.los==0"], "nearest valid: fanout.lost"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2_before_any_user(
    args: list[str], sentence: str, tmp_path: Path, serve
) -> None:
    server = serve()
    if "--host" not in args:
        args = ["--host", server.url, *args]
    _refused(_locust(*args, cwd=tmp_path), sentence)
    assert settled_stats(server)["sessions"]["opened"] == 0


def test_a_ca_file_that_is_no_certificate_is_refused(tmp_path: Path, serve) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    _refused(_locust("--host", serve().url, "--ws-ca-file", str(bogus), cwd=tmp_path), "could not be loaded")


def test_an_output_that_fails_at_the_end_does_not_stop_the_others(tmp_path: Path, serve) -> None:
    server = serve()
    doomed = tmp_path / "doomed"
    doomed.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            ECHO,
            "--headless",
            "-u",
            "1",
            "-t",
            "3s",
            "--host",
            server.url,
            "--ws-summary",
            str(doomed / "run.json"),
            "--ws-report",
            str(tmp_path / "run.html"),
            "--ws-junit",
            str(tmp_path / "junit.xml"),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 30  # mid-run: after the start-up checks, once a session is open
    while server.stats()["sessions"]["opened"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    shutil.rmtree(doomed)  # the summary's folder vanishes and a file takes its place mid-run
    doomed.write_text("in the way\n")
    _, stderr = proc.communicate(timeout=60)
    assert f"loadtest: could not write {doomed / 'run.json'}" in stderr
    assert (tmp_path / "run.html").read_text().rstrip().endswith("</html>")  # the others were written
    assert (tmp_path / "junit.xml").is_file()
    assert proc.returncode == 2 and "Traceback" not in stderr


def test_unknown_scenario_groups_are_refused(tmp_path: Path) -> None:
    locustfile = tmp_path / "typo.py"
    locustfile.write_text(
        "from locust import task\nfrom loadtest import WebSocketUser\n\n"
        "class U(WebSocketUser):\n    scenario_options = ('hearbeat',)\n\n    @task\n    def t(self): pass\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "1", "-t", "1s"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    _refused(proc, "scenario_options names unknown groups (U: 'hearbeat')")


def test_a_scenario_option_no_loaded_class_uses_is_named(tmp_path: Path, serve) -> None:
    proc = _locust("--host", serve().url, "--ws-burst-size", "5", "--ws-summary", "s.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        "--ws-burst-size is set but no loaded user class declares the 'burst' scenario options" in proc.stderr
    )
    assert json.loads((tmp_path / "s.json").read_text())["run"]["options"]["ws_burst_size"] == 5
