"""Reconnect storm: sessions lose their connections at once and come back with a backoff.

    locust -f scenarios/reconnect_storm.py --headless -u 200 -r 100 -t 2m \
        --ws-storm-at 20 [--ws-storm-every 30] \
        --ws-reconnect exponential-jitter --ws-reconnect-base 1 --ws-reconnect-cap 30

Storms come from the clients (--ws-storm-at/--ws-storm-every, synchronised by the master across
workers) or from the server (a restart, or the embedded target's --drop-all-at/--drop-all-every),
detected when most sessions drop within a second. The summary's "storms" gives, per storm, the
recovery time of each session (p50/p99/max), time until the whole fleet is back, attempts per
recovery, the peak handshake rate, handshake failures by class and sessions that gave up.
As the guide advises, users give up after 10 failed attempts and do not reconnect after a 1000
close unless --ws-reconnect-after-normal is given.
"""

from typing import Any

from locust import constant, task

from loadtest import WebSocketUser


class StormUser(WebSocketUser):
    scenario_options = ("storm",)  # its --ws-* options show in the web UI form
    wait_time = constant(1)
    default_max_attempts = 10

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        self.reconnect_after_normal_close = bool(getattr(options, "ws_reconnect_after_normal", False))

    @task
    def echo(self) -> None:
        session = self.wait_open(0.5)
        if session is not None:
            session.request({"type": "echo"})
