"""stomp_topic end to end: on the embedded target and on RabbitMQ's Web STOMP, counts equal theirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest.protocols.user import ProtocolError
from tests.integration.sessions import settled_stats
from tests.protocols.conftest import failures, run
from tests.protocols.rabbitmq import RabbitMQ


def _sends_add_up(s: dict[str, Any], users: int = 3) -> dict[str, int]:
    """Check what holds whatever the broker; return the client's counters."""
    p: dict[str, int] = s["protocols"]["stomp"]
    opened = s["sessions"]["opened"]
    assert p["connects"] == p["subscriptions"] == opened == users
    assert p["sends"] == p["receipts"] + s["errors"]["outstanding_at_end"] and p["receipts"] >= users * 4
    assert s["rtt_ms"]["count"] == p["receipts"] and s["rtt_ms"]["min"] > 0
    # rows: connect, stomp connect, stomp subscribe and stomp disconnect per session, stomp send per receipt
    assert (s["locust"]["requests"], s["locust"]["failures"]) == (4 * opened + p["receipts"], 0)
    assert p["errors"] == p["invalid"] == 0
    # every user is subscribed to the topic it sends to: each send is delivered to each of them
    # that had subscribed by then (users start a little apart)
    assert p["sends"] * users - 3 * users <= p["messages"] <= p["sends"] * users
    return p


def test_on_the_embedded_target(tmp_path: Path, serve: Any) -> None:
    server = serve("--dialect", "stomp", "--heartbeat", "0.3")
    s, _, proc, _ = run("stomp_topic", tmp_path, "--host", server.url, "--ws-stomp-heartbeat", "200,200")
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = _sends_add_up(s)
    t = settled_stats(server)["stomp"]
    opened = s["sessions"]["opened"]
    assert t["frames_received"] == {
        "CONNECT": opened,
        "SUBSCRIBE": p["subscriptions"],
        "SEND": p["sends"],
        "DISCONNECT": opened,
    }
    # receipts of SUBSCRIBE, SEND and DISCONNECT; a MESSAGE per delivery
    assert t["frames_sent"] == {
        "CONNECTED": p["connects"],
        "RECEIPT": p["subscriptions"] + p["receipts"] + opened,
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
    assert saw["confirmed"] == p["receipts"]  # RabbitMQ's receipt of a SEND is its publisher confirm
    assert saw["delivered"] == p["messages"]
    # heart-beats flowed both ways (RabbitMQ sends one only when it has been silent for a second,
    # and it rarely is here), and no session was declared dead
    # RabbitMQ answers DISCONNECT by closing the connection (1000) rather than with its receipt
    assert s["closes"]["abnormal"] == 0 and s["closes"]["server"] == {"1000": s["sessions"]["opened"]}


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
    assert p["connects"] == p["subscriptions"] == p["errors"] == opened >= 2
    assert (s["locust"]["requests"], s["locust"]["failures"]) == (3 * opened, opened)
    assert s["closes"]["client"] == {"1000": opened}
    assert failures(prefix)["stomp subscribe"].startswith("ProtocolError(\"Unknown destination: '/nowhere/x'")
