"""Memory per idle session: N WebSocketUsers holding open, silent sessions in one process.

    python -m bench.idle_memory [--users 5000] [--sessions-per-user 1]

Measures this process's resident memory before the users start and once every session is open
(after a garbage collection), and divides by the number of sessions (users x sessions per
user). The server runs in its own process and is not counted. Kernel socket buffers are not in
RSS either.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402

import gevent  # noqa: E402
from locust import constant, task  # noqa: E402

from bench.common import cpu_s, raise_nofile, recorder, rss_kib, start_users, wait_for  # noqa: E402
from loadtest import WebSocketUser  # noqa: E402
from loadtest.server.process import EmbeddedServer  # noqa: E402


class Idle(WebSocketUser):
    """Holds its session and says nothing."""

    wait_time = constant(3600)

    @task
    def idle(self) -> None:
        self.wait_open()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--sessions-per-user", type=int, default=1, help="sessions each user holds")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds to hold the sessions idle")
    args = parser.parse_args()
    seats = Idle.sessions_per_user = args.sessions_per_user
    sessions = args.users * seats
    limit = raise_nofile((sessions + seats) * 2 + 256)
    with EmbeddedServer([]) as server:
        # Warm up: import paths, first user, first session, so they are not charged per session.
        environment, runner = start_users(Idle, server.url, 1, spawn_rate=1)
        rec = recorder(environment)
        assert wait_for(lambda: rec.concurrent == seats, 10)
        gc.collect()
        before_kib = rss_kib()
        runner.start(args.users + 1, spawn_rate=1000)
        opened = wait_for(lambda: rec.concurrent == sessions + seats, 180, step_s=0.5)
        gc.collect()
        gevent.sleep(1)
        after_kib = rss_kib()
        cpu0 = cpu_s()
        gevent.sleep(args.hold)
        idle_cpu = cpu_s() - cpu0
        held = rec.concurrent
        runner.quit()
        stats = server.stats()
    result = {
        "users": args.users,
        "sessions_per_user": seats,
        "sessions": sessions,
        "all_open": opened,
        "open_after_hold": held - seats,
        "nofile_soft_limit": limit,
        "rss_before_mib": round(before_kib / 1024, 1),
        "rss_after_mib": round(after_kib / 1024, 1),
        "kib_per_session": round((after_kib - before_kib) / sessions, 2),
        "idle_cpu_s_per_1000_sessions_per_s": round(idle_cpu / args.hold / (sessions / 1000), 4),
        "server_sessions_opened": stats["sessions"]["opened"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
