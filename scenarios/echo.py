"""Echo: each user holds a session and does request/reply round trips with a JSON message.

The template to copy:

    locust -f scenarios/echo.py --headless -u 10 -r 10 -t 10s --ws-summary reports/echo.json

With no --host the embedded target is started for the run. The engine sends the requests: one in
flight per session, the next 0.1 s after each reply (``traffic``); write ``@task`` methods for
anything the traffic classes do not say. The messages are order-book style JSON objects of
--ws-message-size bytes (default 64), 64 different ones in turn, that compress as real JSON does,
so --ws-compression deflate measures a realistic ratio (docs/compression.md).
"""

from functools import cache

from loadtest import ClosedLoop, WebSocketUser
from loadtest.payload import json_message
from loadtest.plugin.scenario import option

VARIANTS = 64


def echo_traffic(user: WebSocketUser) -> ClosedLoop:
    """Return the closed loop, its messages of --ws-message-size bytes (read at each session's open)."""
    messages = _messages(int(option(user, "ws_message_size", 64)))
    return ClosedLoop(in_flight=1, pause_s=0.1, message=messages[0], variants=messages)


@cache
def _messages(size: int) -> tuple[dict[str, object], ...]:
    return tuple(json_message(size, seq) for seq in range(VARIANTS))


class EchoUser(WebSocketUser):
    scenario_options = ("message",)  # --ws-message-size shows in the web UI form
    traffic = echo_traffic
