"""Silent sessions with the garbage collector off (``python -m bench.soak --idle``).

Runs in its own process (gevent-patched, like Locust). The sampler of the run's time series runs
as in a real run; with ``gc`` off, any object it allocates and drops in a reference cycle stays,
so a climb in RSS between samples is memory the sampling itself wastes.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from locust import constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from bench.common import raise_nofile, recorder, rss_kib, wait_for  # noqa: E402
from bench.soak import slope_per_hour  # noqa: E402
from loadtest import WebSocketUser  # noqa: E402
from loadtest.server.process import EmbeddedServer  # noqa: E402


class Silent(WebSocketUser):
    wait_time = constant(3600)

    @task
    def nothing(self) -> None:
        self.wait_open()


def main(users: int, minutes: float) -> None:
    raise_nofile(users * 2 + 256)
    with EmbeddedServer([]) as server:
        environment = Environment(user_classes=[Silent], host=server.url)
        runner = environment.create_local_runner()
        runner.start(users, spawn_rate=500)
        wait_for(lambda: recorder(environment).concurrent >= users, 60)
        gc.collect()
        gc.disable()
        started, points = time.monotonic(), []
        while time.monotonic() - started < minutes * 60:
            gevent.sleep(10)
            minute = (time.monotonic() - started) / 60
            points.append((minute, rss_kib() / 1024))
            print(json.dumps({"s": round(minute * 60), "rss_mib": round(points[-1][1], 2)}), flush=True)
        gc.enable()
        runner.quit()
    print(
        json.dumps(
            {"users": users, "gc": "off", "rss_slope_mib_per_s": round(slope_per_hour(points) / 3600, 4)}
        )
    )
