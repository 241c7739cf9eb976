"""Echo: each user holds a session and does request/reply round trips with a JSON message.

The template to copy:

    locust -f scenarios/echo.py --headless -u 10 -r 10 -t 10s --ws-summary reports/echo.json

With no --host the embedded target is started for the run. The message is an order-book style
JSON object of --ws-message-size bytes (default 64) that compresses as real JSON does, so
--ws-compression deflate measures a realistic ratio (docs/compression.md).
"""

from itertools import count

from locust import constant, task

from loadtest import WebSocketUser
from loadtest.payload import json_message
from loadtest.plugin.scenario import option

_SEQ = count()


class EchoUser(WebSocketUser):
    wait_time = constant(0.1)
    scenario_options = ("message",)  # --ws-message-size shows in the web UI form

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request(json_message(int(option(self, "ws_message_size", 64)), next(_SEQ)))
