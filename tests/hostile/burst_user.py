"""A locustfile for the hostile runs: users that pipeline 100 binary requests of 2 KB per write."""

from locust import constant, task

from loadtest import WebSocketUser


class BurstUser(WebSocketUser):
    wait_time = constant(0)

    @task
    def burst(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request_burst([bytes(2_000)] * 100, name="burst")
