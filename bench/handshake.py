"""CPU per handshake of the load generator: connect, one echo, close, and again at once.

    python -m bench.handshake [--users 50] [--seconds 10]

Issue 10's workload C with real Locust users in this process against the embedded server in its
own process: each user's task sends one request and closes the session (closing handshake
included); the user's lifecycle reconnects at once (``Backoff(strategy="immediate")``). Sessions
opened in the window after a warm-up, divided by this process's CPU time in it.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

from bench.common import cpu_s, recorder, start_users, wait_for  # noqa: E402
from bench.peers.clients.ours_locustfile import Handshake  # noqa: E402  (C of bench.peers: one echo, close)
from loadtest.server.process import EmbeddedServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()
    with EmbeddedServer([]) as server:
        environment, runner = start_users(Handshake, server.url, args.users, spawn_rate=args.users)
        rec = recorder(environment)
        assert wait_for(lambda: rec.counters["sessions_opened"] >= args.users, 20), "sessions did not open"
        gevent.sleep(args.warmup)
        opened0, cpu0, wall0 = rec.counters["sessions_opened"], cpu_s(), time.monotonic()
        gevent.sleep(args.seconds)
        opened1, cpu1, wall1 = rec.counters["sessions_opened"], cpu_s(), time.monotonic()
        runner.quit()
    handshakes, cpu, wall = opened1 - opened0, cpu1 - cpu0, wall1 - wall0
    result = {
        "users": args.users,
        "window_s": round(wall, 2),
        "handshakes": handshakes,
        "handshakes_per_s": round(handshakes / wall),
        "generator_cpu_s": round(cpu, 2),
        "generator_cpu_utilisation": round(cpu / wall, 2),
        "cpu_ms_per_handshake": round(cpu / handshakes * 1000, 3) if handshakes else None,
        "connect_ms_p50": rec.histograms["connect"].percentile(50),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
