"""A locustfile of the kind docs/api.md describes: rows of its own through ``record_request``.

Each user reports exactly three samples (two successes, one failure) and then waits, so the test
knows the counts Locust's table must show: 3 per user, 1 of them failed.
"""

from __future__ import annotations

from locust import constant, task

from loadtest import WebSocketUser


class CustomRows(WebSocketUser):
    wait_time = constant(60)  # one pass of the task per user within the test's run time

    @task
    def report(self) -> None:
        if self.wait_open() is None:
            return
        self.record_request("custom ok", 12.5, 100)
        self.record_request("custom ok", 7.0)
        self.record_request("custom bad", 3.0, exception=RuntimeError("the reply said no"))
