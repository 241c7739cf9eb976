"""A locustfile whose users take 1.5 s to stop: longer than Locust's master waits when quitting."""

import gevent
from locust import constant, task

from loadtest import WebSocketUser


class SlowStopUser(WebSocketUser):
    wait_time = constant(0.1)

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request({"type": "echo"})

    def on_stop(self) -> None:
        gevent.sleep(1.5)  # e.g. a goodbye exchange: the session closes only after this
        super().on_stop()
