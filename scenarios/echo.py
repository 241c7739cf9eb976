"""Echo: each user holds a session and does request/reply round trips with a small JSON payload.

The template to copy:

    locust -f scenarios/echo.py --headless -u 10 -r 10 -t 10s --ws-summary reports/echo.json

With no --host the embedded target is started for the run.
"""

from locust import constant, task

from loadtest import WebSocketUser


class EchoUser(WebSocketUser):
    wait_time = constant(0.1)

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request({"type": "echo", "payload": "hello"})
