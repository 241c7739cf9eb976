"""socketio_chat end to end: on the embedded target and on python-socketio's server, counts equal theirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.sessions import settled_stats
from tests.protocols.conftest import failures, run


def _client_and_rows_agree(
    s: dict[str, Any], rows: dict[str, tuple[int, int]], users: int = 3
) -> dict[str, int]:
    """Check what holds whatever the server: rows, RTTs and counters say the same; return the counters."""
    p: dict[str, int] = s["protocols"]["socketio"]
    opened = s["sessions"]["opened"]
    assert p["connects"] == opened == rows["socketio connect"][0] == rows["connect"][0] == users
    # Every ack is a success row (connect, socketio connect, socketio echo), in Locust's CSV too:
    # the acks read while the users were stopping included (loadtest/plugin/locust_outputs.py) ...
    assert (s["locust"]["requests"], s["locust"]["failures"]) == (2 * opened + p["acks_received"], 0)
    assert rows["socketio echo"] == (p["acks_received"], 0)
    assert s["rtt_ms"]["count"] == p["acks_received"] > 0  # ... and one RTT, never 0 ms
    assert s["rtt_ms"]["min"] > 0
    # each emit ends once: acked, or still waiting when its user was stopped
    assert p["events_sent"] == p["acks_received"] + s["errors"]["outstanding_at_end"]
    assert p["events_received"] == opened  # the welcome push
    assert s["locust"]["failures"] == 0 and s["errors"]["uncorrelated"] == 0
    return p


def test_on_the_embedded_target(tmp_path: Path, serve: Any) -> None:
    server = serve("--dialect", "socketio", "--heartbeat", "0.5")
    s, rows, proc, _ = run("socketio_chat", tmp_path, "--host", server.url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = _client_and_rows_agree(s, rows)
    t = settled_stats(server)["socketio"]
    assert t["connects"] == {"/": p["connects"]}
    assert t["events_received"] == {"echo": p["events_sent"]}
    assert t["acks_sent"] == p["acks_received"]
    assert t["events_pushed"] == p["events_received"]
    assert t["pongs_received"] == p["pings_answered"] >= 3 * 4  # a ping every 0.5 s for 3 s
    assert t["disconnects"] == p["connects"]  # the goodbye: the namespace disconnected at the stop


def test_on_python_socketio(tmp_path: Path, third_party: Any) -> None:
    server = third_party("socketio_server", "--ping-interval", "1")
    s, rows, proc, _ = run("socketio_chat", tmp_path, "--host", server.url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = _client_and_rows_agree(s, rows)
    t = server.settled()
    assert t["sessions"] == p["connects"]
    assert t["received"]["connect"] == t["sent"]["connect"] == p["connects"]
    assert t["received"]["event"] == t["handled"]["echo"] == p["events_sent"]
    assert t["sent"]["ack"] == p["acks_received"]
    assert t["sent"]["event"] == p["events_received"]
    assert t["received"]["pong"] == t["sent"]["ping"] == p["pings_answered"] >= 3 * 2
    assert t["received"]["disconnect"] == p["connects"]


def test_with_no_host_the_embedded_target_speaks_socketio(tmp_path: Path) -> None:
    s, rows, proc, _ = run("socketio_chat", tmp_path, users=2, seconds=2)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "started the embedded target" in proc.stderr and "--dialect socketio" in proc.stderr
    _client_and_rows_agree(s, rows, users=2)


def test_a_refused_namespace_is_a_failure_with_the_servers_words(
    tmp_path: Path, serve: Any, third_party: Any
) -> None:
    embedded = serve("--dialect", "socketio", "--namespace", "/chat")
    python_socketio = third_party("socketio_server", "--namespace", "/chat")
    for server, words in ((embedded, "Invalid namespace"), (python_socketio, "Unable to connect")):
        s, rows, proc, prefix = run(
            "socketio_chat",
            tmp_path,
            "--host",
            server.url,
            "--ws-socketio-namespace",
            "/lobby",
            users=2,
            seconds=2,
        )
        assert proc.returncode == 1  # Locust saw failures
        p = s["protocols"]["socketio"]
        assert p["connects"] == 0 and p["connect_errors"] == rows["socketio connect"][1] >= 2
        assert p["connect_errors"] == s["locust"]["failures"]  # the only failures, CSV or not
        assert failures(prefix)["socketio connect"] == f"ProtocolError('namespace /lobby refused: {words}')"
        assert "socketio echo" not in rows  # tasks never saw a session that was not ready
        assert s["closes"]["client"] == {"1000": s["sessions"]["opened"]}


def test_an_opening_the_stop_cuts_is_outstanding_not_a_connect_error(tmp_path: Path, serve: Any) -> None:
    """A plain echo target never sends Engine.IO's open packet: the users wait for it (the reply
    timeout is longer than the run) until the stop ends their sessions. Each is then counted
    in ``errors.outstanding_at_end``, not as a connect error and not as a Locust row, as the
    engine's requests cut by a stop are (docs/core.md); before, a cut opening was a connect error."""
    echo = serve()
    waiting = ("--ws-reply-timeout", "30")
    s, rows, proc, _ = run("socketio_chat", tmp_path, "--host", echo.url, *waiting, seconds=2)
    opened = s["sessions"]["opened"]
    assert opened == 3 and s["errors"]["outstanding_at_end"] == opened
    assert s["protocols"]["socketio"]["connect_errors"] == s["protocols"]["socketio"]["connects"] == 0
    assert "socketio connect" not in rows and proc.returncode == 0
    assert s["closes"]["client"] == {"1000": opened}
