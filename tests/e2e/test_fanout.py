"""Fan-out end to end: real ``locust --headless`` runs against the target's ``--pubsub`` mode.

Every count is compared with the target's own (``/stats`` ``pubsub``): what it fanned out is
what the subscriptions were entitled to, what it dropped is what we lost, what it swapped is
what we saw reordered.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadtest.server.process import EmbeddedServer
from tests.integration.sessions import settled_stats
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
FANOUT = str(ROOT / "scenarios" / "fanout.py")
Serve = Callable[..., EmbeddedServer]


def _locust(*args: str, locustfile: str = FANOUT) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", locustfile, *args]


def _run(
    server: EmbeddedServer, tmp: Path, *args: str, users: int = 6, workers: int = 0, locustfile: str = FANOUT
) -> dict[str, Any]:
    """Run the fan-out scenario for 3 s; return the summary (and the target's pub/sub counts in it)."""
    out = tmp / "summary.json"
    common = ["--headless", "-u", str(users), "-r", str(users), "-t", "3s", "--host", server.url]
    common += ["--ws-summary", str(out), "--ws-publish-rate", "20", *args]
    if workers:
        port = free_port()
        procs = [
            subprocess.Popen(
                _locust("--worker", "--master-host", "127.0.0.1", "--master-port", str(port)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
            )
            for _ in range(workers)
        ]
        master = ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
        proc = subprocess.run(
            _locust(*common, *master, "--expect-workers", str(workers)),
            capture_output=True,
            text=True,
            timeout=90,
            cwd=ROOT,
        )
        for worker in procs:
            worker.wait(timeout=20)
    else:
        command = _locust(*common, locustfile=locustfile)
        proc = subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert out.is_file(), proc.stderr[-3000:]
    summary: dict[str, Any] = json.loads(out.read_text())
    summary["target_pubsub"] = settled_stats(server).get("pubsub")
    summary["stderr"] = proc.stderr
    return summary


def _exact(fanout: dict[str, Any], target: dict[str, int]) -> None:
    """The numbers every run without churn must show: the target's, ours, the same."""
    assert fanout["published"] == target["published"] > 0
    assert fanout["expected"] == target["fanned_out"]
    assert fanout["delivered"] == target["deliveries"]
    assert fanout["lost"] == target["dropped"] == fanout["expected"] - fanout["delivered"]
    assert target["undelivered"] == 0
    assert fanout["duplicated"] == 0
    assert fanout["latency_ms"]["count"] == fanout["delivered"]  # one host: every latency measured
    assert fanout["latency_other_host"] == 0
    assert fanout["barrier"]["timed_out"] is False


def test_a_clean_run_loses_nothing_and_delivers_what_was_expected(tmp_path: Path, serve: Serve) -> None:
    s = _run(serve("--pubsub"), tmp_path)
    fanout, target = s["fanout"], s["target_pubsub"]
    _exact(fanout, target)
    assert fanout["lost"] == 0 and fanout["reordered"] == 0
    assert fanout["delivered"] == fanout["expected"] == 5 * fanout["published"]  # 1 publisher, 5 subscribers
    assert fanout["subscriptions"] == {
        "acknowledged": 5,
        "settled": 5,
        "ended_early": 0,
        "ordinal": 5,
        "sequence": 0,
    }
    assert fanout["barrier"]["subscribers"] == fanout["barrier"]["acknowledged"] == 5
    assert s["locust"]["failures"] == 0


def test_every_7th_delivery_dropped_is_lost_exactly(tmp_path: Path, serve: Serve) -> None:
    s = _run(serve("--pubsub", "--drop-delivery-every", "7"), tmp_path)
    _exact(s["fanout"], s["target_pubsub"])
    assert s["fanout"]["lost"] == s["target_pubsub"]["dropped"] == s["target_pubsub"]["fanned_out"] // 7


def test_a_reordering_fault_is_counted_exactly(tmp_path: Path, serve: Serve) -> None:
    s = _run(serve("--pubsub", "--reorder-every", "5"), tmp_path)
    _exact(s["fanout"], s["target_pubsub"])
    assert s["fanout"]["reordered"] == s["target_pubsub"]["reordered"] > 0
    assert s["fanout"]["lost"] == 0


def test_a_master_with_two_workers_counts_exactly(tmp_path: Path, serve: Serve) -> None:
    server = serve("--pubsub", "--drop-delivery-every", "7", "--reorder-every", "11")
    s = _run(server, tmp_path, "--ws-publishers", "2", "--ws-topics", "2", users=8, workers=2)
    fanout = s["fanout"]
    _exact(fanout, s["target_pubsub"])
    assert s["workers"]["reported"] == 2
    assert fanout["publishers"] == 2 and fanout["topics"] == 2
    assert fanout["subscriptions"]["acknowledged"] == fanout["barrier"]["subscribers"] == 6
    assert fanout["lost"] == s["target_pubsub"]["dropped"] > 0
    # two publishers per topic: a swap of their two streams is no reordering of either
    assert 0 < fanout["reordered"] <= s["target_pubsub"]["reordered"]


def test_processes_mode_forked_publishers_stay_distinct(tmp_path: Path, serve: Serve) -> None:
    """--processes forks after the import: sequence mode would mix two publishers sharing an id."""
    port = str(free_port())
    forked = ("--processes", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", port)
    args = ("--master-port", port, "--ws-publishers", "2", "--ws-subscribe-settle", "0.3")
    s = _run(serve("--pubsub", "--drop-delivery-every", "7"), tmp_path, *forked, *args)
    _exact(s["fanout"], s["target_pubsub"])
    assert s["fanout"]["publishers"] == 2 and s["fanout"]["subscriptions"]["sequence"] == 4


def test_without_acknowledgements_the_settle_time_and_sequences_count_exactly(
    tmp_path: Path, serve: Serve
) -> None:
    s = _run(serve("--pubsub", "--drop-delivery-every", "7"), tmp_path, "--ws-subscribe-settle", "0.3")
    fanout = s["fanout"]
    _exact(fanout, s["target_pubsub"])
    assert fanout["subscriptions"]["sequence"] == 5 and fanout["barrier"]["started_s"] >= 0.3


def test_subscribers_back_after_a_drop_count_exactly_to_where_the_target_ended_them(
    tmp_path: Path, serve: Serve
) -> None:
    """Every session dropped mid-run: the new acknowledgement says where the lost subscription ended."""
    storm = ("--ws-storm-at", "1.5", "--ws-reconnect", "fixed", "--ws-reconnect-base", "0.2")
    locustfile = str(ROOT / "tests" / "e2e" / "fanout_storm.py")
    s = _run(serve("--pubsub", "--drop-delivery-every", "7"), tmp_path, *storm, locustfile=locustfile)
    fanout, target = s["fanout"], s["target_pubsub"]
    assert fanout["subscriptions"]["acknowledged"] == 10 and fanout["subscriptions"]["ended_early"] == 5
    assert fanout["expected"] == target["fanned_out"] > 0
    # lost: what the target dropped, what it still held for a dropped session, what was in flight
    in_flight = target["deliveries"] - fanout["delivered"]
    assert fanout["lost"] == target["dropped"] + target["undelivered"] + in_flight
    assert fanout["duplicated"] == 0
    assert target["published"] <= fanout["published"]  # a publish written as the drop came never arrived


def test_a_barrier_that_times_out_says_so_and_publishers_start_anyway(tmp_path: Path, serve: Serve) -> None:
    server = serve()  # no --pubsub: subscriptions are echoed, never acknowledged
    args = ("--ws-connect-timeout", "0.5", "--ws-reply-timeout", "0.3", "--ws-reconnect-base", "0.1")
    s = _run(server, tmp_path, *args, users=3)
    barrier = s["fanout"]["barrier"]
    assert barrier["timed_out"] is True and barrier["subscribers"] == 2 and barrier["acknowledged"] == 0
    assert 1.5 < barrier["started_s"] < 3.0  # connect + reply timeouts + 1 s after spawning
    assert s["fanout"]["published"] > 0 and s["fanout"]["subscriptions"]["acknowledged"] == 0
    assert "the barrier timed out" in s["stderr"]
    assert s["locust"]["failures"] >= 2  # each subscribe without an acknowledgement is a failure


def test_another_servers_protocol_from_the_locustfile_is_checked_the_same(tmp_path: Path) -> None:
    """A dialect without acknowledgements or ordinals: the settle time, then sequences, exactly."""
    room = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "e2e" / "room_server.py"), "--drop-every", "5"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert room.stdout is not None
        port = int(room.stdout.readline())
        out = tmp_path / "summary.json"
        args = ["--headless", "-u", "5", "-r", "5", "-t", "3s", "--host", f"ws://127.0.0.1:{port}"]
        args += ["--ws-summary", str(out), "--ws-publish-rate", "20", "--ws-subscribe-settle", "0.2"]
        locustfile = str(ROOT / "tests" / "e2e" / "room_fanout.py")
        command = _locust(*args, locustfile=locustfile)
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert out.is_file(), proc.stderr[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as answer:  # noqa: S310
            counts = json.loads(answer.read())
    finally:
        room.terminate()
        room.wait(timeout=10)
    fanout = json.loads(out.read_text())["fanout"]
    assert fanout["expected"] == counts["fanned_out"] == 4 * fanout["published"] > 0
    assert fanout["lost"] == counts["dropped"] == counts["fanned_out"] // 5
    assert fanout["delivered"] == counts["delivered"]
    assert fanout["subscriptions"]["sequence"] == 4 and fanout["duplicated"] == fanout["reordered"] == 0
