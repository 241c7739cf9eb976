"""The hostile catalogue, whole runs: real ``locust --headless`` processes against the hostile server.

Issue 9, items 4 and 8: a run ends within ``-t`` + the close timeout + 2 s whatever the connect
timeout, SIGTERM writes every file within 5 s, and a server that breaks the protocol is a Locust
failure (row ``session``, naming the violation) so the exit code shows it. Each run also checks
that no traceback was printed and that the client's counts equal what the server saw.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import gevent

from tests.conftest import UNIT_S
from tests.e2e.test_headless import ECHO, ROOT
from tests.hostile.server import OP_BINARY, OP_TEXT, Mode, Peer, frame, hostile
from tests.integration.peers import upgrade

BURST = str(Path(__file__).with_name("burst_user.py"))
CLOSE_S = 2.0  # the default --ws-close-timeout


def locust(locustfile: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", locustfile, "--headless", "--only-summary", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_a_run_ends_on_time_whatever_the_connect_timeout(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    with hostile(lambda peer: None, handshake=lambda request: None) as server:  # never answers the upgrade
        started = time.monotonic()
        proc = locust(
            ECHO,
            "--host",
            server.url,
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "3s",
            "--ws-connect-timeout",
            "30",
            "--ws-summary",
            str(out),
        )
        stdout, stderr = proc.communicate(timeout=60 * UNIT_S)
        wall_s = time.monotonic() - started
    s = json.loads(out.read_text())
    assert s["duration_s"] <= 3 + CLOSE_S + 2, s["duration_s"]  # the run itself, by our clock
    assert wall_s <= 3 + CLOSE_S + 2 + 10 * UNIT_S  # plus process start-up on a loaded machine
    assert s["errors"]["handshakes_at_end"] == 3 and s["sessions"]["opened"] == 0
    assert s["handshake_failures"]["total"] == 0  # not the server's failure: we stopped waiting
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr[-2000:]


def test_sigterm_writes_every_file_within_5_s(tmp_path: Path) -> None:
    """Half the users wait for a 101 that never comes (connect timeout 30 s), half are blocked
    mid-send on a server that stopped reading: SIGTERM still ends the run with every file."""
    out, report, junit = tmp_path / "summary.json", tmp_path / "report.html", tmp_path / "checks.xml"
    answered: list[int] = []

    def half(request: bytes) -> bytes | None:
        answered.append(1)
        return upgrade(request) if len(answered) % 2 else None

    def paused(peer: Peer) -> None:
        gevent.sleep(60)  # never reads during the test; killed when the server stops

    with hostile(paused, handshake=half, rcvbuf=4096) as server:
        proc = locust(
            BURST,
            "--host",
            server.url,
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "60s",
            "--ws-connect-timeout",
            "30",
            "--ws-sndbuf",
            "4096",
            "--ws-reply-timeout",
            "30",
            "--ws-summary",
            str(out),
            "--ws-report",
            str(report),
            "--ws-junit",
            str(junit),
            "--csv",
            str(tmp_path / "run"),
            "--ws-check",
            "closes.abnormal<100",
        )
        deadline = time.monotonic() + 20 * UNIT_S
        while (len(answered) < 4 or len(server.seen) < 2) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        gevent.sleep(1.0 * UNIT_S)  # the senders are now blocked in send
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30 * UNIT_S)
        exit_s = time.monotonic() - signalled
    assert exit_s <= 5.0, exit_s
    s = json.loads(out.read_text())
    assert s["sessions"]["opened"] == 2 and s["sessions"]["open_at_end"] == 0
    assert s["closes"]["abnormal_reasons"] == {"stopped_mid_send": 2}
    assert s["errors"]["handshakes_at_end"] == 2
    html = report.read_text()
    assert html.rstrip().endswith("</html>") and (tmp_path / "run_ws_closes.csv").exists()
    assert ET_tests(junit) == "1"
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr[-2000:]


def ET_tests(path: Path) -> str | None:
    import xml.etree.ElementTree as ET

    return ET.parse(path).getroot().get("tests")


def rotate(*modes: Mode) -> Mode:
    """Give each new connection the next mode."""
    count: list[int] = []

    def mode(peer: Peer) -> None:
        count.append(1)
        modes[(len(count) - 1) % len(modes)](peer)

    return mode


def misbehave(data: bytes) -> Mode:
    def mode(peer: Peer) -> None:
        peer.message(b'{"hello":1}')
        peer.send(data)
        peer.read(5 * UNIT_S)

    return mode


def test_protocol_violations_are_locust_failures_and_the_exit_code_shows_them(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    modes = rotate(
        misbehave(b"HTTP/1.1 500 oops\r\n\r\n"),  # garbage: reserved bits
        misbehave(frame(OP_TEXT, b'{"v":"\xff"}')),  # invalid UTF-8
        misbehave(frame(OP_BINARY, bytes(2000))),  # over --ws-max-message-bytes 1000
    )
    with hostile(modes) as server:
        proc = locust(
            ECHO,
            "--host",
            server.url,
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "2s",
            "--ws-summary",
            str(out),
            "--ws-max-message-bytes",
            "1000",
            "--ws-reconnect-base",
            "0.3",
            "--ws-reconnect-cap",
            "0.3",
        )
        stdout, stderr = proc.communicate(timeout=60 * UNIT_S)
        seen = server.wait_done(len(server.seen))
    s = json.loads(out.read_text())
    assert proc.returncode == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    text = stdout + stderr
    for message in (
        "we closed 1002 (protocol error): reserved bits set (an extension we did not negotiate)",
        "we closed 1007 (invalid payload data): a text message is not valid UTF-8",
        "we closed 1009 (message too big): message over the 1000-byte limit",
    ):
        assert message in text
    client = s["closes"]["client"]
    assert set(client) <= {"1002", "1007", "1009", "1000"} and client["1002"] >= 1 and client["1009"] >= 1
    assert s["errors"]["bad_frames"] == client["1002"] and s["errors"]["bad_utf8"] == client["1007"]
    # counts equal what the server saw: sessions, the close frames it got, messages each way
    assert s["sessions"]["opened"] == len(seen)
    got: dict[str, int] = {}
    for x in seen:
        assert len(x.closes) == 1 and x.frames_after_close == 0
        got[str(x.closes[0])] = got.get(str(x.closes[0]), 0) + 1
    assert got == client
    # every message the server sent was read, but the hello of a session the stop closed at once
    unread = sum(x.sent for x in seen) + client.get("1007", 0) - s["messages"]["received"]
    assert 0 <= unread <= client.get("1000", 0)
    assert s["messages"]["sent"] == sum(x.messages for x in seen)
