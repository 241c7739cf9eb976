"""The soak's users (bench/soak.py): half echo every second, half heartbeat every 10 s."""

from locust import constant, task

from loadtest import WebSocketUser


class EchoEverySecond(WebSocketUser):
    wait_time = constant(1)

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request({"type": "echo", "payload": "soak"})


class HeartbeatEveryTenSeconds(WebSocketUser):
    wait_time = constant(10)

    @task
    def beat(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.ping(name="heartbeat")
