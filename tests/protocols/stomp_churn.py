"""A locustfile for tests/protocols/test_stomp.py: each session sends once, then says DISCONNECT."""

from locust import constant, task

from loadtest.protocols.stomp import StompUser


class ChurnUser(StompUser):
    scenario_options = ("stomp",)
    wait_time = constant(0.05)

    @task
    def send_then_leave(self) -> None:
        if self.send("bye soon"):
            self.disconnect()
