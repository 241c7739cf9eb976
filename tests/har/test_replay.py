"""HAR fixtures replayed by real ``locust --headless`` runs against the embedded target.

Every run ends with ``--stop-timeout``, so each replay that started finishes: the target's counts
are then exactly the recording's times the replays, which Locust counts in its ``replay <label>``
rows.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadtest.cli import main as loadtest
from loadtest.server.process import EmbeddedServer
from tests.conftest import UNIT_S
from tests.integration.sessions import settled_stats
from tests.locust_files import printed_json, stats_rows

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
JWT_PART = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
Serve = Callable[..., EmbeddedServer]
Stats = dict[str, dict[str, Any]]
Failure = tuple[str, str, int]  # name, error, occurrences


def generate(tmp_path: Path, har: str, *args: str) -> Path:
    out = tmp_path / "recorded.py"
    assert loadtest(["har", str(FIXTURES / har), "-o", str(out), *args]) == 0
    return out


def run(locustfile: Path, tmp_path: Path, *args: str) -> tuple[dict[str, Any], Stats, list[Failure], str]:
    """Run Locust headless; return the summary, Locust's final stats by name, its errors, its output.

    Locust's final numbers come from ``--json`` (stdout) and its error report (stderr); its
    ``--csv`` file holds the same counts, the replays ``--stop-timeout`` let finish included.
    """
    summary = tmp_path / f"run{len(list(tmp_path.glob('run*.json')))}.json"
    prefix = summary.with_suffix("")
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        *shlex.split("--headless --only-summary --json"),
    ]
    proc = subprocess.run(
        [*command, "--ws-summary", str(summary), "--csv", str(prefix), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=90 * UNIT_S,
    )
    output = proc.stdout + proc.stderr
    assert summary.exists() and "Traceback" not in output, output[-3000:]
    stats = {entry["name"]: entry for entry in printed_json(proc.stdout)}
    rows = stats_rows(prefix)
    rows.pop("Aggregated")
    assert rows == {name: (e["num_requests"], e["num_failures"]) for name, e in stats.items()}
    report = proc.stderr[proc.stderr.rfind("Error report") :] if "Error report" in proc.stderr else ""
    failures = [
        (m.group(2), m.group(3), int(m.group(1)))
        for m in re.finditer(r"^(\d+) +WS (.+?): (\w+\(.*\))\s*$", report, re.M)
    ]
    return json.loads(summary.read_text()), stats, failures, output


def count(stats: Stats, name: str, key: str = "num_requests") -> int:
    return int(stats[name][key]) if name in stats else 0


def test_chat_replays_send_exactly_the_recording_per_replay(tmp_path: Path, serve: Serve) -> None:
    server = serve("--subprotocol", "chat.v2")
    locustfile = generate(tmp_path, "chat.har")
    args = ["--host", server.url, *shlex.split("-u 4 -r 4 -t 4s --stop-timeout 15 --ws-har-speed 4")]
    args += shlex.split("--ws-subprotocol chat.v2 --ws-token t --ws-cookie session=1")
    s, stats, failures, _ = run(locustfile, tmp_path, *args)
    target = settled_stats(server)
    chat, presence = count(stats, "replay chat"), count(stats, "replay presence")
    assert chat >= 2 and presence >= 2, stats  # two users per recorded connection (round robin)
    assert failures == [] and s["handshake_failures"]["total"] == 0
    # what the target received is the recording's client messages times the replays
    assert target["messages"]["received"] == s["messages"]["sent"] == 6 * chat + 3 * presence
    assert target["messages"]["binary_received"] == 2 * chat  # binary frames went as binary
    # every reply matched: by "id" (session.request) and by "reqId" (the replay's own matching)
    assert (count(stats, "join"), count(stats, "message")) == (chat, 2 * chat)
    assert (count(stats, "subscribe"), count(stats, "heartbeat")) == (presence, 2 * presence)
    assert s["rtt_ms"]["count"] == 3 * chat + 3 * presence
    assert s["errors"]["uncorrelated"] == s["errors"]["reply_timeouts"] == 0
    # each replay closed as recorded: by the client, 1000, at its recorded end (6.012 s and 4.499 s / 4)
    opened = target["sessions"]["opened"]
    assert chat + presence <= opened <= chat + presence + 4  # at most one fresh session per user at the stop
    assert target["closes"] == {"server": {}, "client": {"1000": opened}, "abnormal": 0, "dropped": 0}
    assert stats["replay chat"]["min_response_time"] >= 6012 / 4
    assert stats["replay presence"]["min_response_time"] >= 4499 / 4


def test_secrets_come_from_the_options_and_the_handshake_follows_the_recording(
    tmp_path: Path, serve: Serve
) -> None:
    server = serve(
        *("--subprotocol", "chat.v2", "--allowed-origin", "https://chat.example.com", "--token", "s3cret"),
        *("--require-header", "Authorization: Bearer s3cret"),
        *("--require-header", "Cookie: session=abc; theme=dark"),
    )
    locustfile = generate(tmp_path, "chat.har", "--match", "/ws/chat")
    assert JWT_PART not in locustfile.read_text() and "hT9xQ2secretvalue" not in locustfile.read_text()
    common = ["--host", server.url, *shlex.split("-u 2 -r 2 -t 2s --stop-timeout 15 --ws-har-speed 4")]
    s, stats, failures, _ = run(
        locustfile, tmp_path, *common, "--ws-token", "s3cret", "--ws-cookie", "session=abc"
    )
    target = settled_stats(server, timeout_s=5 * UNIT_S)
    replays = count(stats, "replay chat")
    assert replays >= 2 and failures == [] and target["handshakes"]["rejected"] == {}
    assert target["handshakes"]["subprotocols"] == {"chat.v2": target["sessions"]["opened"]}
    assert target["messages"]["received"] == 6 * replays
    # without them, the handshake misses the recorded Authorization and session cookie, and says so
    server.stats(reset=True)
    s, stats, failures, output = run(locustfile, tmp_path, *common)
    target = settled_stats(server)
    rejected = target["handshakes"]["rejected"]["400"]
    assert target["sessions"]["opened"] == 0 and target["handshakes"]["rejected"] == {"400": rejected}
    assert s["handshake_failures"] == {"http_400": rejected, "total": rejected} and rejected >= 2
    assert (
        "the recording 'chat' carried secrets that the locustfile does not hold: give --ws-token "
        "--ws-cookie session=..." in output
    )


def test_a_replay_cut_short_by_the_server_is_a_failure_that_says_where(tmp_path: Path, serve: Serve) -> None:
    server = serve("--close-every", "1", "--close-code", "1000", "--close-after", "1.2")
    locustfile = ROOT / "scenarios" / "recorded_ticker.py"  # one request a second, from 0.5 s
    args = ["--host", server.url, *shlex.split("-u 2 -r 2 -t 3s --stop-timeout 10")]
    s, stats, failures, _ = run(locustfile, tmp_path, *args)
    target = settled_stats(server)
    replays = count(stats, "replay ticker")
    assert replays >= 2 and count(stats, "replay ticker", "num_failures") == replays
    assert failures == [
        ("replay ticker", "ReplayCut('the session ended before the recorded close (server 1000) after 1 of 6 "
         "messages')", replays),
    ]  # fmt: skip
    assert target["messages"]["received"] == count(stats, "subscribe") == replays
    assert target["closes"]["server"] == {"1000": target["sessions"]["opened"]}


def test_replies_matched_by_another_field_time_out_like_requests(tmp_path: Path, serve: Serve) -> None:
    server = serve("--read-delay", "0.6")  # the target answers each message 0.6 s late
    locustfile = generate(tmp_path, "chat.har", "--match", "/ws/presence")
    args = ["--host", server.url, *shlex.split("-u 1 -r 1 -t 2s --stop-timeout 15 --ws-har-speed 0")]
    s, stats, failures, _ = run(locustfile, tmp_path, *args, "--ws-reply-timeout", "0.2")
    replays = count(stats, "replay presence")
    assert replays >= 1 and s["rtt_ms"]["count"] == 0
    assert s["errors"]["reply_timeouts"] == 3 * replays
    assert sorted(failures) == [
        ("heartbeat", "ReplyTimeout('no reply within the timeout')", 2 * replays),
        ("subscribe", "ReplyTimeout('no reply within the timeout')", replays),
    ]
