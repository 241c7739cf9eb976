"""The echo scenario, with the lost-worker watcher installed (until the plugin's init does it itself)."""

from typing import Any

from locust import constant, events, task

from loadtest import WebSocketUser
from loadtest.plugin import lost


@events.init.add_listener
def _watch_workers(environment: Any, **_: Any) -> None:
    lost.install(environment)  # idempotent: a no-op when the plugin installed it already


class EchoUser(WebSocketUser):
    wait_time = constant(0.1)

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request({"type": "echo", "payload": "hello"})
