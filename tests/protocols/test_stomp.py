"""stomp_topic end to end: on the embedded target and on RabbitMQ's Web STOMP, counts equal theirs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from loadtest.protocols.user import ProtocolError
from tests.integration.sessions import settled_stats
from tests.protocols.conftest import failures, run
from tests.protocols.rabbitmq import RabbitMQ
from tests.scenarios.runner import ROOT


def _sends_add_up(s: dict[str, Any], users: int = 3) -> dict[str, int]:
    """Check what holds whatever the broker; return the client's counters."""
    p: dict[str, int] = s["protocols"]["stomp"]
    opened = s["sessions"]["opened"]
    assert p["connects"] == p["subscriptions"] == opened == users
    assert p["sends"] == p["receipts"] + s["errors"]["outstanding_at_end"] and p["receipts"] >= users * 4
    assert s["rtt_ms"]["count"] == p["receipts"] and s["rtt_ms"]["min"] > 0
    # rows: connect, stomp connect and stomp subscribe per session, stomp send per receipt
    assert (s["locust"]["requests"], s["locust"]["failures"]) == (3 * opened + p["receipts"], 0)
    assert p["errors"] == p["invalid"] == 0
    # every user is subscribed to the topic it sends to: each send reaches at most every user, and
    # at least its sender (subscribed before its first task; the broker's tests count them exactly)
    assert p["receipts"] <= p["messages"] <= p["sends"] * users
    return p


def test_on_the_embedded_target(tmp_path: Path, serve: Any) -> None:
    server = serve("--dialect", "stomp", "--heartbeat", "0.3")
    s, _, proc, _ = run("stomp_topic", tmp_path, "--host", server.url, "--ws-stomp-heartbeat", "200,200")
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = _sends_add_up(s)
    t = settled_stats(server)["stomp"]
    opened = s["sessions"]["opened"]
    assert t["frames_received"] == {"CONNECT": opened, "SUBSCRIBE": p["subscriptions"], "SEND": p["sends"]}
    # receipts of SUBSCRIBE and SEND; a MESSAGE per delivery
    assert t["frames_sent"] == {
        "CONNECTED": p["connects"],
        "RECEIPT": p["subscriptions"] + p["receipts"],
        "MESSAGE": p["messages"],
    }
    assert t["sends"] == {"/topic/loadtest": p["sends"]}
    # heart-beats every max(200, 300) ms of silence both ways
    assert t["heartbeats_received"] == p["heartbeats_sent"] >= opened
    assert t["heartbeats_sent"] == p["heartbeats_received"] >= opened * 5


def test_on_rabbitmq(tmp_path: Path, broker: RabbitMQ) -> None:
    before = broker.counts()
    s, _, proc, _ = run("stomp_topic", tmp_path, "--host", broker.url, "--ws-stomp-heartbeat", "1000,1000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = _sends_add_up(s)
    after = broker.settled()
    saw = {name: after[name] - before[name] for name in after}
    assert saw["connections_opened"] == saw["connections_closed"] == p["connects"]
    assert saw["received"] == p["sends"]
    # RabbitMQ's receipt of a SEND is its publisher confirm. A confirm that comes while our close
    # is under way is counted by the broker, but the closing connection drops its RECEIPT: only a
    # send still awaiting its receipt at the stop (errors.outstanding_at_end) can be confirmed
    # without our seeing it; every other confirm is a receipt we counted.
    outstanding = s["errors"]["outstanding_at_end"]
    assert p["receipts"] <= saw["confirmed"] <= p["receipts"] + outstanding, (saw, p, outstanding)
    # RabbitMQ counts a delivery when its queue hands the message to the connection; a message
    # handed over while our close is under way is dropped by the closing connection, not sent.
    # That can happen to the deliveries of the sends in flight at the stop: at most one per user,
    # each to every user (3 x 3); everything before is exact.
    assert 0 <= saw["delivered"] - p["messages"] <= 3 * 3, (saw, p)
    # heart-beats flowed both ways (RabbitMQ sends one only when it has been silent for a second,
    # and it rarely is here), and no session was declared dead
    # and every session ended with our close, answered: no session was declared dead or dropped
    assert s["closes"]["client"] == {"1000": s["sessions"]["opened"]} and s["storms"] == []


def test_refusals_are_failures_with_the_brokers_words(tmp_path: Path, serve: Any, broker: RabbitMQ) -> None:
    embedded = serve("--dialect", "stomp", "--stomp-login", "alice", "--stomp-passcode", "right")
    login = ("--ws-stomp-login", "alice", "--ws-stomp-passcode", "wrong")
    s, rows, proc, prefix = run("stomp_topic", tmp_path, "--host", embedded.url, *login, users=2, seconds=2)
    assert proc.returncode == 1
    assert (
        s["protocols"]["stomp"]["connects"] == 0
        and s["protocols"]["stomp"]["errors"] == rows["stomp connect"][1] >= 2
    )
    refused = ProtocolError("Bad CONNECT: Access refused for user 'alice'")
    assert failures(prefix) == {"stomp connect": repr(refused)}
    assert "stomp send" not in rows  # tasks never saw a session that was not ready
    assert "wrong" not in proc.stderr + proc.stdout  # the passcode is never shown

    s, rows, proc, prefix = run(
        "stomp_topic",
        tmp_path,
        "--host",
        broker.url,
        "--ws-stomp-destination",
        "/nowhere/x",
        users=2,
        seconds=2,
    )
    assert proc.returncode == 1
    p, opened = s["protocols"]["stomp"], s["sessions"]["opened"]
    # each session: connected, its SUBSCRIBE refused by an ERROR without a receipt-id, closed by us
    assert p["subscriptions"] == p["errors"] >= opened - 2 and p["connects"] <= opened  # the stop may cut one
    assert s["locust"]["failures"] == p["errors"]
    assert s["closes"]["client"] == {"1000": opened}
    assert failures(prefix)["stomp subscribe"].startswith("ProtocolError(\"Unknown destination: '/nowhere/x'")


def test_disconnect_with_a_receipt_then_reconnect(tmp_path: Path, serve: Any, broker: RabbitMQ) -> None:
    """A task that sends, then says DISCONNECT: the embedded target answers with the receipt,
    RabbitMQ by closing (1000); either way a success, and the user comes back."""
    embedded = serve("--dialect", "stomp")
    for host, closed_by in ((embedded.url, "client"), (broker.url, "server")):
        summary = tmp_path / f"churn-{closed_by}.json"
        proc = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "tests" / "protocols" / "stomp_churn.py")]
            + ["--headless", "--only-summary", "-u", "2", "-r", "2", "-t", "3s", "--host", host]
            + ["--ws-reconnect", "fixed", "--ws-reconnect-base", "0.2", "--ws-summary", str(summary)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        s = json.loads(summary.read_text())
        p, opened = s["protocols"]["stomp"], s["sessions"]["opened"]
        assert opened >= 2 * 4 and opened - 2 <= p["connects"] <= opened  # the stop may cut a CONNECT
        disconnects = p["receipts"]  # each session: one send with its receipt, then DISCONNECT
        # the stop may cut each of the 2 users between its receipt and the close that follows
        assert s["closes"][closed_by].get("1000", 0) >= disconnects - 2 and disconnects >= opened - 2
        assert s["locust"]["failures"] == 0
        # RabbitMQ's closes after DISCONNECT are server closes to the engine, several at once a "storm"
        assert closed_by == "server" or s["storms"] == []
    stats = settled_stats(embedded)["stomp"]
    assert stats["frames_received"]["DISCONNECT"] == stats["frames_received"]["SEND"]
