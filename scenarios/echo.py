"""Echo: each user holds a session and does request/reply round trips with a small JSON payload.

The template to copy:

    locust -f scenarios/echo.py --headless -u 10 -r 10 -t 10s --ws-summary reports/echo.json

With no --host the embedded target is started for the run. The engine sends the requests: one in
flight per session, the next 0.1 s after each reply (``traffic``); write ``@task`` methods for
anything the traffic classes do not say.
"""

from loadtest import ClosedLoop, WebSocketUser


class EchoUser(WebSocketUser):
    traffic = ClosedLoop(in_flight=1, pause_s=0.1, message={"type": "echo", "payload": "hello"})
