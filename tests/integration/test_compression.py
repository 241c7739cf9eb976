"""permessage-deflate between real sockets on 127.0.0.1, against two servers, counted exactly.

The embedded target (``--compression deflate`` and its ``--deflate-*`` choices) and the
``websockets`` library's own server in a subprocess of its own (:mod:`tests.integration.deflate_peer`):
each counts the messages and bytes it read and wrote, before and after its codec, and those
counts must equal the summary's, byte for byte, whatever the windows and context takeover.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import orjson
import pytest

from loadtest.config import SessionOptions
from loadtest.deflate import Params
from loadtest.payload import json_message
from loadtest.server.process import EmbeddedServer
from loadtest.session import Session
from tests.certs import make_chain
from tests.conftest import UNIT_S
from tests.integration.sessions import Run, assert_counts_match, run_sessions, settled_stats

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = SessionOptions(reply_timeout_s=5 * UNIT_S, compression="deflate")
SESSIONS = 4


def _traffic(session: Session, index: int) -> None:
    """Requests, a fragmented message and a binary burst: each compressed differently."""
    assert session.compressed
    for n in range(5):
        reply = session.request(json_message(2048, seq=100 * index + n))
        assert reply is not None and reply["seq"] == 100 * index + n
    assert session.send_fragmented(orjson.dumps(json_message(3000, seq=index)), fragment_bytes=256)
    replies = session.request_burst([bytes(range(256)) * 8 for _ in range(3)], name="binary")
    assert all(reply is not None for reply in replies)


def _negotiated(run: Run) -> set[Params]:
    return {s._conn.deflate.params for s in run.sessions if s._conn and s._conn.deflate}  # type: ignore[union-attr]


def _check_compression(run: Run, *, received: int, wire_received: int, sent: int, wire_sent: int) -> None:
    compression = run.summary["compression"]
    assert compression["offered"] == compression["negotiated"] == SESSIONS
    assert compression["bytes_payload_sent"] == run.summary["messages"]["bytes_sent"] == received
    assert compression["bytes_wire_sent"] == wire_received
    assert compression["bytes_payload_received"] == run.summary["messages"]["bytes_received"] == sent
    assert compression["bytes_wire_received"] == wire_sent
    assert compression["ratio_sent"] < 0.6 and compression["ratio_received"] < 0.6  # JSON and patterns


TARGET_CHOICES = {
    "defaults": ([], Params()),
    "no-context-takeover": (
        ["--deflate-server-no-context-takeover", "--deflate-client-no-context-takeover"],
        Params(server_no_context_takeover=True, client_no_context_takeover=True),
    ),
    "small-windows": (
        ["--deflate-server-max-window-bits", "10", "--deflate-client-max-window-bits", "9"],
        Params(server_max_window_bits=10, client_max_window_bits=9),
    ),
}


@pytest.mark.parametrize("choice", list(TARGET_CHOICES))
def test_the_embedded_target_counts_what_we_count(serve: Any, choice: str) -> None:
    args, params = TARGET_CHOICES[choice]
    server = serve("--compression", "deflate", *args)
    run = run_sessions(server.url, SESSIONS, _traffic, options=OPTIONS)
    assert _negotiated(run) == {params}
    stats = settled_stats(server)
    assert_counts_match(run, stats)
    deflate = stats["compression"]
    assert deflate["negotiated"] == SESSIONS
    _check_compression(
        run,
        received=deflate["bytes_payload_received"],
        wire_received=deflate["bytes_wire_received"],
        sent=deflate["bytes_payload_sent"],
        wire_sent=deflate["bytes_wire_sent"],
    )
    assert run.summary["messages"]["sent"] == SESSIONS * 9 and run.summary["rtt_ms"]["count"] == SESSIONS * 8


def test_without_the_option_nothing_is_offered_and_nothing_compressed(serve: Any) -> None:
    server = serve("--compression", "deflate")
    run = run_sessions(server.url, 1, lambda s, i: s.request({"type": "echo", "p": "x" * 500}))
    assert run.summary["compression"]["offered"] == run.summary["compression"]["negotiated"] == 0
    stats = settled_stats(server)
    assert stats["compression"]["negotiated"] == 0
    assert stats["compression"]["bytes_wire_received"] == 0  # nothing went through its codec


@pytest.fixture
def peer() -> Iterator[Any]:
    """Start the websockets server with the given settings; stop it after the test."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.deflate_peer", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        with gevent.Timeout(10 * UNIT_S):
            line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        return f"127.0.0.1:{int(line.split()[-1])}"

    yield start
    for proc in procs:
        proc.terminate()
        assert proc.wait(timeout=10 * UNIT_S) == 0


def _peer_stats(address: str) -> dict[str, int]:
    with urllib.request.urlopen(f"http://{address}/stats", timeout=5 * UNIT_S) as response:
        counts: dict[str, int] = json.loads(response.read())
        return counts


PEER_CHOICES = {
    "defaults": ([], Params()),
    "server-no-context-takeover": (["--server-no-context-takeover"], Params(server_no_context_takeover=True)),
    "client-no-context-takeover": (["--client-no-context-takeover"], Params(client_no_context_takeover=True)),
    "server-window-9": (["--server-max-window-bits", "9"], Params(server_max_window_bits=9)),
    "client-window-11": (["--client-max-window-bits", "11"], Params(client_max_window_bits=11)),
}


@pytest.mark.parametrize("choice", list(PEER_CHOICES))
def test_the_websockets_server_counts_what_we_count(peer: Any, choice: str) -> None:
    args, params = PEER_CHOICES[choice]
    address = peer(*args)
    run = run_sessions(f"ws://{address}/", SESSIONS, _traffic, options=OPTIONS)
    assert _negotiated(run) == {params}
    counts = _peer_stats(address)
    assert counts["sessions"] == counts["negotiated"] == SESSIONS
    assert run.summary["messages"]["sent"] == counts["messages_received"] == SESSIONS * 9
    assert run.summary["messages"]["received"] == counts["messages_sent"] == SESSIONS * 9
    assert run.summary["closes"]["client"] == {"1000": SESSIONS}
    _check_compression(
        run,
        received=counts["bytes_received"],
        wire_received=counts["wire_received"],
        sent=counts["bytes_sent"],
        wire_sent=counts["wire_sent"],
    )


def test_over_tls_too(tmp_path: Path) -> None:
    chain = make_chain(tmp_path)
    args = ["--compression", "deflate", "--certfile", chain.server_cert, "--keyfile", chain.server_key]
    with EmbeddedServer(args).start() as server:
        options = SessionOptions(reply_timeout_s=5 * UNIT_S, compression="deflate", ca_file=chain.ca)
        run = run_sessions(server.url, 2, _traffic, options=options)
        assert server.url.startswith("wss://")
        stats = settled_stats(server)
    assert_counts_match(run, stats)
    deflate = stats["compression"]
    assert deflate["negotiated"] == 2
    assert run.summary["compression"]["bytes_wire_received"] == deflate["bytes_wire_sent"]
    assert run.summary["compression"]["bytes_wire_sent"] == deflate["bytes_wire_received"]


def test_a_locust_run_of_the_echo_scenario_counts_what_websockets_counts(peer: Any, tmp_path: Path) -> None:
    address = peer("--server-no-context-takeover")
    out = tmp_path / "summary.json"
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "scenarios" / "echo.py"), "--headless"]
        + ["--only-summary", "-u", "3", "-r", "3", "-t", "3s", "--host", f"ws://{address}/"]
        + ["--ws-compression", "deflate", "--ws-message-size", "2048", "--ws-summary", str(out)],
        capture_output=True,
        text=True,
        timeout=60 * UNIT_S,
        cwd=ROOT,
    )
    assert out.is_file(), proc.stderr[-3000:]
    summary, counts = json.loads(out.read_text()), _peer_stats(address)
    compression = summary["compression"]
    assert compression["negotiated"] == counts["negotiated"] == summary["sessions"]["opened"] == 3
    assert summary["messages"]["sent"] == counts["messages_received"] >= 3 * 10
    assert summary["messages"]["received"] == counts["messages_sent"]
    assert compression["bytes_payload_sent"] == counts["bytes_received"]
    assert compression["bytes_wire_sent"] == counts["wire_received"]
    assert compression["bytes_payload_received"] == counts["bytes_sent"]
    assert compression["bytes_wire_received"] == counts["wire_sent"]
    assert compression["ratio_sent"] < 0.5  # 2 KiB order-book JSON
    assert "compression: permessage-deflate in 3 of 3 sessions" in proc.stdout + proc.stderr
