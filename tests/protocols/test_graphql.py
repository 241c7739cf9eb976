"""graphql_subscription end to end: on the embedded target and on strawberry-graphql, counts equal theirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest.protocols.user import ProtocolError
from tests.integration.sessions import settled_stats
from tests.protocols.conftest import failures, run

TICKS = "subscription { ticks(count: 5, intervalMs: 20) }"


def _subscriptions_add_up(s: dict[str, Any]) -> dict[str, Any]:
    """Check what holds whatever the server; return the client's counters."""
    p: dict[str, Any] = s["protocols"]["graphql"]
    assert p["connects"] == s["sessions"]["opened"] == 3
    assert p["errors"] == p["invalid"] == s["locust"]["failures"] == 0
    # every subscription ends once: completed, or ended by us when its user was stopped (a complete
    # of the server's that crossed ours on the wire is counted received, and crossed)
    assert p["subscriptions"] == p["completes"] - p["crossed"] + p["cancels"]
    assert p["completes"] - p["crossed"] >= 3 * 5 and p["crossed"] <= p["cancels"]
    assert p["cancels"] == s["errors"]["outstanding_at_end"] <= 3
    per_subscription = p["events_per_subscription"]
    assert (per_subscription["count"], per_subscription["min"], per_subscription["max"]) == (
        p["completes"] - p["crossed"],
        5,
        5,
    )
    assert (
        0 <= p["nexts"] - 5 * (p["completes"] - p["crossed"]) <= 5 * p["cancels"]
    )  # the cancelled ones' events so far
    assert p["completes"] - p["crossed"] <= p["first_next_ms"]["count"] <= p["subscriptions"]
    # The engine counts every message carrying an "id" it did not issue as uncorrelated, and
    # graphql-transport-ws ids are strings: next and complete all land there (see docs/protocols.md).
    assert s["errors"]["uncorrelated"] == p["nexts"] + p["completes"]
    return p


def test_on_the_embedded_target(tmp_path: Path, serve: Any) -> None:
    server = serve("--dialect", "graphql-ws")
    s, _, proc, _ = run(
        "graphql_subscription", tmp_path, "--host", server.url, "--ws-graphql-document=" + TICKS
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = _subscriptions_add_up(s)
    t = settled_stats(server)["graphql"]
    assert t["received"] == {
        "connection_init": p["connects"],
        "subscribe": p["subscriptions"],
        **({"complete": p["cancels"]} if p["cancels"] else {}),
    }
    assert t["sent"] == {"connection_ack": p["connects"], "next": p["nexts"], "complete": p["completes"]}
    assert t["operations"] == {"subscription": p["subscriptions"]} and t["closes"] == {}


def test_on_strawberry(tmp_path: Path, third_party: Any) -> None:
    server = third_party("graphql_server")
    s, _, proc, _ = run(
        "graphql_subscription", tmp_path, "--host", server.url, "--ws-graphql-document=" + TICKS
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = _subscriptions_add_up(s)
    t = server.settled()
    assert t["sessions"] == p["connects"]
    assert t["received"] == {
        "connection_init": p["connects"],
        "subscribe": p["subscriptions"],
        **({"complete": p["cancels"]} if p["cancels"] else {}),
    }
    assert t["sent"] == {"connection_ack": p["connects"], "next": p["nexts"], "complete": p["completes"]}


def test_queries_over_the_socket_have_an_rtt(tmp_path: Path, third_party: Any) -> None:
    server = third_party("graphql_server")
    s, _, proc, _ = run(
        "graphql_subscription", tmp_path, "--host", server.url, "--ws-graphql-document={ hello }"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = s["protocols"]["graphql"]
    answered = s["rtt_ms"]["count"]
    # every result read is a success and an RTT, those read while the session closed included
    assert p["queries"] == answered + s["errors"]["outstanding_at_end"] and answered >= 3 * 10
    assert answered == p["nexts"] == p["completes"] and p["cancels"] == 0  # queries are not cancelled
    assert (s["locust"]["requests"], s["locust"]["failures"]) == (2 * p["connects"] + answered, 0)
    assert p["subscriptions"] == 0 and p["first_next_ms"]["count"] == 0
    t = server.settled()
    assert t["received"] == {"connection_init": p["connects"], "subscribe": p["queries"]}
    assert t["sent"] == {"connection_ack": p["connects"], "next": p["nexts"], "complete": p["completes"]}
    assert t["resolved"]["hello"] >= answered  # one resolved as its session closed: never sent


def test_a_graphql_error_is_a_failure_with_the_servers_message(tmp_path: Path, third_party: Any) -> None:
    server = third_party("graphql_server")
    document = "subscription { nope }"
    s, rows, proc, prefix = run(
        "graphql_subscription", tmp_path, "--host", server.url, "--ws-graphql-document", document, seconds=2
    )
    assert proc.returncode == 1
    p = s["protocols"]["graphql"]
    assert p["errors"] == server.settled()["sent"]["error"] >= 3 and p["nexts"] == 0
    message = repr(ProtocolError("Cannot query field 'nope' on type 'Subscription'."))
    assert failures(prefix) == {"graphql first next": message, "graphql subscription": message}
    assert rows["graphql subscription"][0] == rows["graphql subscription"][1]  # every one failed
