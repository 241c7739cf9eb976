"""The order docs/api.md promises: connect, auth, on_session_open, then tasks; and what hooks receive."""

from __future__ import annotations

from typing import Any

import gevent
from locust import constant, task
from locust.env import Environment

from loadtest import Session, SessionOptions, WebSocketUser
from loadtest.plugin import run
from loadtest.plugin.state import state_for


def test_connect_then_auth_then_on_session_open_then_tasks(serve) -> None:
    server = serve("--token", "s3cret", "--auth-mode", "message")
    order: list[str] = []

    class Ordered(WebSocketUser):
        wait_time = constant(0.05)
        session_options = SessionOptions(token="s3cret", token_mode="message")

        def on_session_open(self, session: Session) -> None:
            order.append("on_session_open")
            session.request({"type": "echo", "hello": True}, name="hello")

        @task
        def echo(self) -> None:
            session = self.wait_open()
            if session is not None:
                order.append("task")
                session.request({"type": "echo"})

    environment = Environment(user_classes=[Ordered], host=server.url)

    def log(name: str, exception: Any = None, **_: Any) -> None:
        order.append(f"{name}{' FAILED' if exception else ''}")

    environment.events.request.add_listener(log)
    runner = environment.create_local_runner()
    runner.start(1, spawn_rate=1)
    gevent.sleep(1.0)
    runner.quit()
    first_task = order.index("task")
    assert order[:4] == ["connect", "auth", "on_session_open", "hello"], order
    assert first_task == 4 and "FAILED" not in " ".join(order)


def test_on_message_gets_pushes_parsed_one_array_element_per_call(serve) -> None:
    server = serve()
    received: list[Any] = []

    class Pushed(WebSocketUser):
        wait_time = constant(0.05)
        done = False

        def on_message(self, message: Any) -> None:
            received.append(message)

        @task
        def push(self) -> None:
            session = self.wait_open()
            if session is not None and not Pushed.done:
                Pushed.done = True
                # the target echoes: these come back as messages that answer no request
                session.send_json([{"type": "a"}, {"type": "b"}])
                session.send_text("plain")
                session.send_binary(b"\x00\x01")
                session.send_text("{not json")

    environment = Environment(user_classes=[Pushed], host=server.url)
    runner = environment.create_local_runner()
    runner.start(1, spawn_rate=1)
    gevent.sleep(1.0)
    runner.quit()
    assert received == [{"type": "a"}, {"type": "b"}, "plain", b"\x00\x01"]  # not the bad JSON...
    run.sample_now(environment)
    assert state_for(environment).aggregate.total.counters["bad_json"] == 1  # ...which is counted
