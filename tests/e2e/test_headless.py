"""Real ``locust --headless`` processes: the summary file, bad input, SIGTERM, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sessions import settled_stats
from tests.locust_files import printed_json, stats_rows
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ECHO = str(ROOT / "scenarios" / "echo.py")


def locust(*args: str, timeout_s: float = 60.0, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a headless Locust process to completion (bounded)."""
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", ECHO, "--headless", "--only-summary", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=cwd or ROOT,
    )


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_run_against_a_server_matches_its_counts(tmp_path: Path, serve) -> None:
    server = serve("--close-every", "3", "--close-code", "1011", "--close-after", "0.3")
    out = tmp_path / "summary.json"
    proc = locust(
        "--host",
        server.url,
        "-u",
        "6",
        "-r",
        "6",
        "-t",
        "3s",
        "--ws-summary",
        str(out),
        "--ws-reconnect-base",
        "0.1",
        "--ws-reconnect-cap",
        "0.2",
    )
    assert out.exists(), proc.stderr[-2000:]
    s, stats = load(out), settled_stats(server)
    assert s["schema"] == "loadtest.summary/1"
    assert s["target"] == server.url
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] > 6  # users reconnected after 1011
    assert s["sessions"]["peak_concurrent"] == 6
    assert s["closes"]["server"] == stats["closes"]["server"] and s["closes"]["server"]["1011"] >= 2
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 6}
    assert s["closes"]["abnormal"] == stats["closes"]["abnormal"] == 0
    assert s["messages"]["sent"] == stats["messages"]["received"] > 0
    assert s["messages"]["received"] == stats["messages"]["sent"]
    assert s["rtt_ms"]["count"] > 0 and s["rtt_ms"]["p50"] < 100
    # a server close that is not 1000/1001 is a Locust failure named "session", so exit code 1
    assert proc.returncode == 1
    assert "internal server error" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_host_starts_the_embedded_target(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    proc = locust("-u", "3", "-r", "3", "-t", "2s", "--ws-summary", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "No --host given: started the embedded target at ws://127.0.0.1:" in proc.stderr
    s = load(out)
    assert s["target"].startswith("ws://127.0.0.1:")
    assert s["sessions"] == {"opened": 3, "ended": 3, "open_at_end": 0, "peak_concurrent": 3}
    assert s["closes"]["client"] == {"1000": 3}
    assert s["messages"]["received"] == s["rtt_ms"]["count"] > 0
    # a request written just before a user's close frame may never be echoed: at most one per user
    assert 0 <= s["messages"]["sent"] - s["messages"]["received"] <= 3
    assert "closed by" in proc.stdout and "normal closure" in proc.stdout


def test_embedded_target_takes_fault_options(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    proc = locust(
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "2s",
        "--ws-summary",
        str(out),
        "--ws-embedded-args",
        "--reject-every 2 --reject-status 503",
    )
    s = load(out)
    assert s["handshake_failures"]["http_503"] >= 2, proc.stderr[-2000:]
    assert "the server or proxy is overloaded or limiting handshakes" in proc.stdout


def test_bad_urls_are_one_sentence_before_any_user(tmp_path: Path) -> None:
    for host, fix in (
        ("https://example.com/ws", "wss://example.com/ws"),
        ("example.com/ws", "ws://example.com/ws"),
    ):
        proc = locust("--host", host, "-u", "1", "-t", "2s", timeout_s=30)
        assert proc.returncode == 2
        errors = [line for line in proc.stderr.splitlines() if line.startswith("loadtest:")]
        assert len(errors) == 1 and fix in errors[0], proc.stderr
        assert "Traceback" not in proc.stderr and "Ramping to" not in proc.stderr


def test_bad_option_is_one_sentence() -> None:
    proc = locust("--ws-header", "no-colon-here", "-u", "1", "-t", "1s", timeout_s=30)
    assert proc.returncode == 2
    assert "loadtest: header 'no-colon-here'... is malformed" in proc.stderr


def test_nothing_listening_is_a_classified_failure(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "summary.json"
    proc = locust(
        "--host",
        f"ws://127.0.0.1:{port}",
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
        "--ws-summary",
        str(out),
        "--ws-reconnect-base",
        "0.2",
    )
    s = load(out)
    assert s["handshake_failures"]["refused"] >= 2
    assert s["sessions"]["opened"] == 0
    assert "refused" in proc.stdout and "nothing listens there" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_run_still_writes_the_summary(tmp_path: Path, serve, signum: int) -> None:
    server = serve()
    out, report, junit = tmp_path / "summary.json", tmp_path / "report.html", tmp_path / "checks.xml"
    files = ["--ws-summary", str(out), "--ws-report", str(report), "--ws-junit", str(junit)]
    files += ["--html", str(tmp_path / "locust.html"), "--csv", str(tmp_path / "run")]  # Locust's own
    files += ["--json-file", str(tmp_path / "locust"), "--json"]
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "locust", "-f", ECHO, "--headless", "--host", server.url),
            *("-u", "4", "-r", "4", "-t", "60s", "--ws-check", "closes.abnormal==0", *files),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 20
    while server.stats()["sessions"]["current"] < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signum)
    try:
        stdout, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"locust did not exit within 30 s of signal {signum}:\n{proc.communicate()[1][-3000:]}")
    assert out.exists(), stderr[-2000:]
    s, stats = load(out), settled_stats(server)
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] == 4
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 4}
    assert s["messages"]["sent"] == stats["messages"]["received"]
    html = report.read_text()  # every requested file, complete
    assert "normal closure" in html and 'data-chart="rtt"' in html and html.rstrip().endswith("</html>")
    assert ET.parse(junit).getroot().get("tests") == "1"
    # Locust's own report and CSV (Locust alone writes no --html on SIGTERM): the final rows
    locust_html = (tmp_path / "locust.html").read_text()
    assert '"name": "connect", "num_failures": 0, "num_requests": 4,' in locust_html
    rows = {name: requests for name, (requests, _) in stats_rows(tmp_path / "run").items()}
    assert rows["connect"] == 4 and rows["echo"] == s["rtt_ms"]["count"]
    assert f'"name": "echo", "num_failures": 0, "num_requests": {rows["echo"]},' in locust_html
    saved = json.loads((tmp_path / "locust.json").read_text())
    for rows_of_json in (saved, printed_json(stdout)):
        assert {e["name"]: e["num_requests"] for e in rows_of_json} == {"connect": 4, "echo": rows["echo"]}
    assert proc.returncode == 0


def test_token_never_appears_in_output_or_summary(tmp_path: Path, serve) -> None:
    server = serve("--token", "s3cret-value")
    out = tmp_path / "summary.json"
    proc = locust(
        "--host",
        server.url + "/?token=s3cret-value",
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
        "--ws-summary",
        str(out),
        "-L",
        "DEBUG",
    )
    assert load(out)["sessions"]["opened"] == 2
    header = locust(
        "--host",
        server.url,
        "--ws-token",
        "s3cret-value",
        "--ws-token-mode",
        "header",
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
        "--ws-summary",
        str(out),
        "-L",
        "DEBUG",
    )
    assert load(out)["sessions"]["opened"] == 2
    for text in (proc.stdout, proc.stderr, header.stdout, header.stderr, out.read_text()):
        assert "s3cret-value" not in text
    assert os.path.getsize(out) > 0


def test_web_ui_run_writes_the_summary_when_it_quits(tmp_path: Path) -> None:
    web_port = free_port()
    out = tmp_path / "summary.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            ECHO,
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(web_port),
            "--autostart",
            "--autoquit",
            "0",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "2s",
            "--ws-summary",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert "Starting web interface" in proc.stderr
    s = load(out)
    assert s["sessions"]["opened"] == 2 and s["closes"]["client"] == {"1000": 2}


def test_source_ips_option(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    proc = locust(
        "-u", "4", "-r", "4", "-t", "2s", "--ws-summary", str(out), "--ws-source-ips", "127.0.0.2-127.0.0.3"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert load(out)["sessions"]["opened"] == 4
    bad = locust("-u", "1", "-t", "1s", "--ws-source-ips", "127.0.0.9-127.0.0.2", timeout_s=30)
    assert bad.returncode == 2
    assert [line for line in bad.stderr.splitlines() if line.startswith("loadtest:")]


def test_over_tls_with_server_drops_counts_equal_the_servers(tmp_path: Path) -> None:
    """wss:// with --drop-every: every message the tool counts as sent the target received, the
    ones written just before a drop included (the target reads them through TLS first)."""
    from loadtest.server import EmbeddedServer
    from tests.certs import make_chain

    chain = make_chain(tmp_path / "pki")
    tls = ["--certfile", chain.server_cert, "--keyfile", chain.server_key]
    with EmbeddedServer([*tls, "--drop-every", "3", "--drop-after", "0.3"]) as server:
        out = tmp_path / "summary.json"
        args = ("--host", server.url, "-u", "6", "-r", "6", "-t", "3s", "--ws-summary", str(out))
        reconnect = ("--ws-reconnect-base", "0.1", "--ws-reconnect-cap", "0.2")
        proc = locust(*args, "--ws-ca-file", chain.ca, *reconnect)
        assert out.exists(), proc.stderr[-2000:]
        s, stats = load(out), settled_stats(server)
    assert server.url.startswith("wss://")
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] > 6  # users reconnected after drops
    assert s["closes"]["abnormal"] == stats["closes"]["abnormal"] == stats["closes"]["dropped"] >= 2
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 6}
    assert s["messages"]["sent"] == stats["messages"]["received"] > 0
    assert s["messages"]["received"] == stats["messages"]["sent"]
