"""The naive peer: a plain Locust locustfile with websocket-client, one user per connection.

    locust -f bench/peers/clients/naive_locustfile.py --headless --host ws://... -u 100 -r 100 NaiveEcho

What a Locust user writes without this project: ``websocket.create_connection`` in
``on_start``, ``send`` then ``recv`` in a task, a ``request`` event fired by hand.
Classes: ``NaiveEcho`` (A), ``NaiveEchoBurst`` (A10: BENCH_IN_FLIGHT sends, then as many
recvs), ``NaiveIdle`` (B: ``ping`` and ``recv_data`` of the pong every BENCH_PING_INTERVAL_S),
``NaiveHandshake`` (C: connect, one echo, close, in the task).
"""

from __future__ import annotations

import os
import time

import websocket
from locust import User, constant, task

MESSAGE = '{"type":"echo","payload":"0123456789abcdef"}'
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "10"))
PING_INTERVAL_S = float(os.environ.get("BENCH_PING_INTERVAL_S", "10"))


class NaiveUser(User):
    abstract = True
    ws: websocket.WebSocket

    def fire(self, name: str, started: float, length: int) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=length,
            exception=None,
            context={},
        )


class NaiveSession(NaiveUser):
    abstract = True

    def on_start(self) -> None:
        self.ws = websocket.create_connection(str(self.host))

    def on_stop(self) -> None:
        self.ws.close()


class NaiveEcho(NaiveSession):
    wait_time = constant(0)

    @task
    def echo(self) -> None:
        started = time.perf_counter()
        self.ws.send(MESSAGE)
        self.fire("echo", started, len(self.ws.recv()))


class NaiveEchoBurst(NaiveSession):
    wait_time = constant(0)

    @task
    def echo(self) -> None:
        started = time.perf_counter()
        for _ in range(IN_FLIGHT):
            self.ws.send(MESSAGE)
        for _ in range(IN_FLIGHT):
            self.fire("echo", started, len(self.ws.recv()))


class NaiveIdle(NaiveSession):
    wait_time = constant(PING_INTERVAL_S)

    @task
    def ping(self) -> None:
        started = time.perf_counter()
        self.ws.ping("naive")
        self.ws.recv_data(control_frame=True)  # the pong
        self.fire("ping", started, 0)


class NaiveHandshake(NaiveUser):
    wait_time = constant(0)

    @task
    def once(self) -> None:
        started = time.perf_counter()
        ws = websocket.create_connection(str(self.host))
        self.fire("connect", started, 0)
        started = time.perf_counter()
        ws.send(MESSAGE)
        self.fire("echo", started, len(ws.recv()))
        ws.close()
