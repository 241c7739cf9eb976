"""A server that goes silent is declared dead where its protocol says how long silence may last."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import UNIT_S
from tests.hostile.server import Peer, hostile, upgrade_with
from tests.scenarios.runner import ROOT


def _run(scenario: str, url: str, tmp_path: Path, *args: str) -> dict[str, object]:
    summary = tmp_path / f"{scenario}.json"
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "scenarios" / f"{scenario}.py"), "--headless"]
        + ["--only-summary", "-u", "1", "-r", "1", "-t", "3s", "--host", url, "--ws-summary", str(summary)]
        + ["--ws-reconnect", "fixed", "--ws-reconnect-base", "0.2", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    result: dict[str, object] = json.loads(summary.read_text())
    return result


def engineio_never_pings(peer: Peer) -> None:
    """Announce pings every 300 ms (200 ms of grace), connect the namespace, then never ping."""
    peer.message(b'0{"sid":"s","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}')
    peer.on_message = lambda m: peer.message(b'40{"sid":"n"}') if m == b"40" else None
    peer.read(10 * UNIT_S)


def test_socketio_without_pings_for_ping_interval_plus_timeout_is_dead(tmp_path: Path) -> None:
    with hostile(engineio_never_pings) as server:
        s = _run("socketio_chat", server.url, tmp_path)
    p = s["protocols"]["socketio"]  # type: ignore[index]
    dead = s["closes"]["abnormal_reasons"].get("dead", 0)  # type: ignore[index]
    # 0.5 s without a ping, checked every 0.5 s, then 0.2 s to reconnect: 2 or 3 in 3 s
    assert p["connects"] >= 2 and dead >= 2 and p["pings_answered"] == 0  # type: ignore[index]


def stomp_goes_silent(peer: Peer) -> None:
    """Agree on heart-beats every 200 ms, answer CONNECT and SUBSCRIBE, then say nothing more."""

    def answer(message: bytes) -> None:
        if message.startswith(b"CONNECT"):
            peer.message(b"CONNECTED\nversion:1.2\nheart-beat:200,200\n\n\x00")
        elif message.startswith(b"SUBSCRIBE"):
            receipt = re.search(rb"\nreceipt:([^\n]*)", message)
            assert receipt is not None
            peer.message(b"RECEIPT\nreceipt-id:" + receipt.group(1) + b"\n\n\x00")

    peer.on_message = answer
    peer.read(10 * UNIT_S)


def test_stomp_silent_for_twice_the_agreed_heart_beat_is_dead(tmp_path: Path) -> None:
    with hostile(stomp_goes_silent, handshake=upgrade_with("Sec-WebSocket-Protocol: v12.stomp")) as server:
        s = _run("stomp_topic", server.url, tmp_path, "--ws-stomp-heartbeat", "200,200")
        beats = sum(seen.messages for seen in server.seen)
    p = s["protocols"]["stomp"]  # type: ignore[index]
    dead = s["closes"]["abnormal_reasons"].get("dead", 0)  # type: ignore[index]
    assert p["connects"] >= 2 and dead >= 2 and p["receipts"] == 0  # type: ignore[index]
    # what the server read: CONNECT, SUBSCRIBE and SENDs, and our heart-beats in between
    assert p["heartbeats_sent"] >= 1 and beats >= p["heartbeats_sent"] + 2 * p["connects"]  # type: ignore[index,operator]
