"""Round trips per CPU-second of the load generator: 100 sessions doing small JSON echoes.

    python bench/echo_throughput.py [--users 100] [--seconds 15]

Runs real Locust users in this process against the embedded server in its own process, and
divides the round trips completed in the measuring window by this process's CPU time in it.
It also prints the generator's CPU utilisation: well under 100% means the server (sharing this
2-core machine) was the bottleneck, and the per-CPU-second figure still holds.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from locust import constant, task  # noqa: E402

from bench.common import cpu_s, recorder, start_users, wait_for  # noqa: E402
from loadtest import WebSocketUser  # noqa: E402
from loadtest.server.process import EmbeddedServer  # noqa: E402


class Echo(WebSocketUser):
    """One request in flight per session: send, wait for the reply, repeat."""

    wait_time = constant(0)

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request({"type": "echo", "payload": "0123456789abcdef"})


class EchoBurst(WebSocketUser):
    """``burst`` requests pipelined per session: written with one send, each reply its own RTT."""

    abstract = True
    wait_time = constant(0)
    burst = 10

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            burst = [{"type": "echo", "payload": "0123456789abcdef"} for _ in range(self.burst)]
            session.request_burst(burst)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--burst", type=int, default=1, help="requests in flight per session (pipelined)")
    args = parser.parse_args()
    user_class: type = Echo
    if args.burst > 1:
        user_class = type("EchoBurstN", (EchoBurst,), {"burst": args.burst, "abstract": False})
    with EmbeddedServer([]) as server:
        environment, runner = start_users(user_class, server.url, args.users, spawn_rate=args.users)
        rec = recorder(environment)
        assert wait_for(lambda: rec.concurrent == args.users, 20), "sessions did not open"
        gevent.sleep(args.warmup)
        rtt0, cpu0, wall0 = rec.histograms["rtt"].count, cpu_s(), time.monotonic()
        gevent.sleep(args.seconds)
        rtt1, cpu1, wall1 = rec.histograms["rtt"].count, cpu_s(), time.monotonic()
        runner.quit()
        stats = server.stats()
    round_trips, cpu, wall = rtt1 - rtt0, cpu1 - cpu0, wall1 - wall0
    result = {
        "users": args.users,
        "in_flight_per_session": args.burst,
        "window_s": round(wall, 2),
        "round_trips": round_trips,
        "round_trips_per_s": round(round_trips / wall),
        "generator_cpu_s": round(cpu, 2),
        "generator_cpu_utilisation": round(cpu / wall, 2),
        "round_trips_per_cpu_s": round(round_trips / cpu),
        "rtt_ms_p50": rec.histograms["rtt"].percentile(50),
        "rtt_ms_p99": rec.histograms["rtt"].percentile(99),
        "server_messages_received": stats["messages"]["received"],
        "client_messages_sent": rec.counters["messages_sent"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
