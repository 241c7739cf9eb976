"""Bounded memory over a soak: RSS sampled while sessions heartbeat and echo for a while.

    python -m bench.soak_memory [--users 500] [--seconds 120]

Half the users send a protocol heartbeat every 0.5 s, half do request/reply echoes without
pause, in this process against the embedded target; RSS is printed every 10 s. Memory that grew
with messages or sessions would show as a steady climb after the warm-up.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from locust import constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from bench.common import raise_nofile, recorder, rss_kib, wait_for  # noqa: E402
from loadtest import WebSocketUser  # noqa: E402
from loadtest.server.process import EmbeddedServer  # noqa: E402


class Heartbeat(WebSocketUser):
    wait_time = constant(0.5)

    @task
    def beat(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.ping(name="heartbeat")


class Echo(WebSocketUser):
    wait_time = constant(0)

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request({"type": "echo", "payload": "soak"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    raise_nofile(args.users * 2 + 256)
    points = []
    with EmbeddedServer([]) as server:
        environment = Environment(user_classes=[Heartbeat, Echo], host=server.url)
        runner = environment.create_local_runner()
        runner.start(args.users, spawn_rate=200)
        rec = recorder(environment)
        wait_for(lambda: rec.concurrent >= args.users, 60)
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            gevent.sleep(10)
            gc.collect()
            points.append(
                {
                    "t_s": round(time.monotonic() - started),
                    "rss_mib": round(rss_kib() / 1024, 1),
                    "round_trips": rec.histograms["rtt"].count + rec.histograms["ping_rtt"].count,
                }
            )
            print(json.dumps(points[-1]), flush=True)
        runner.quit()
    growth = points[-1]["rss_mib"] - points[0]["rss_mib"]
    print(json.dumps({"users": args.users, "rss_growth_mib_after_first_sample": round(growth, 1)}))


if __name__ == "__main__":
    main()
