"""WebSocketUser in a real Locust local runner, in this process, against the embedded server."""

from __future__ import annotations

import gc
from typing import Any

import gevent
from locust import constant, task
from locust.env import Environment

from loadtest import WebSocketUser
from loadtest.config import SessionOptions
from loadtest.metrics.backoff import Backoff
from loadtest.plugin import run
from loadtest.plugin.state import state_for
from loadtest.report import summary
from tests.integration.sessions import settled_stats

FAST = Backoff(strategy="fixed", base_s=0.05)


def _run(user_class: type, host: str, users: int, seconds: float) -> tuple[Environment, dict[str, Any]]:
    environment = Environment(user_classes=[user_class], host=host)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(seconds)
    runner.quit()
    run.sample_now(environment)  # the last delta of this process's recorder into the run totals
    return environment, summary.build(state_for(environment).aggregate.total, target=host, duration_s=seconds)


def _live_user_greenlets() -> list[gevent.Greenlet]:
    """Greenlets still running a WebSocketUser method (lifecycle/reader, opener)."""
    gc.collect()
    return [
        g
        for g in gc.get_objects()
        if isinstance(g, gevent.Greenlet)
        and not g.dead
        and isinstance(getattr(g._run, "__self__", None), WebSocketUser)
    ]


def _errors(environment: Environment) -> dict[str, int]:
    return {f"{e.name}: {e.error}": e.occurrences for e in environment.stats.errors.values()}


def test_users_reconnect_after_drops_and_counts_match(serve) -> None:
    server = serve("--drop-every", "2", "--drop-after", "0.2")

    class Echo(WebSocketUser):
        wait_time = constant(0.05)
        backoff = FAST

        @task
        def echo(self) -> None:
            session = self.wait_open()
            if session is not None:
                session.request({"type": "echo"})

    environment, s = _run(Echo, server.url, 4, 2.0)
    stats = settled_stats(server)
    # every 2nd session is dropped: 4 first sessions, 2 dropped and reopened, 1 of those dropped...
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] >= 7
    assert s["closes"]["abnormal"] == stats["closes"]["abnormal"] == s["sessions"]["opened"] - 4
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 4}
    assert s["messages"]["sent"] == stats["messages"]["received"]
    session_failures = environment.stats.get("session", "WS").num_failures
    assert session_failures == s["closes"]["abnormal"]
    assert _live_user_greenlets() == []  # no greenlet outlives its user


def test_a_failing_on_session_open_never_loses_the_user(serve) -> None:
    server = serve()
    calls: list[int] = []

    class Flaky(WebSocketUser):
        wait_time = constant(0.05)
        backoff = FAST

        def on_session_open(self, session: Any) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("subscription failed")

        @task
        def echo(self) -> None:
            session = self.wait_open()
            if session is not None:
                session.request({"type": "echo"})

    environment, s = _run(Flaky, server.url, 1, 1.0)
    assert len(calls) == 2  # the first session was closed and a second one opened
    assert s["closes"]["client"] == {"1011": 1, "1000": 1}
    assert _errors(environment) == {"on_session_open: subscription failed": 1}
    assert environment.stats.get("echo", "WS").num_requests > 0
    assert settled_stats(server)["closes"]["client"] == {"1011": 1, "1000": 1}


def test_auth_message_after_open(serve) -> None:
    server = serve("--token", "s3cret", "--auth-mode", "message")

    def user(token: str) -> type:
        class Authed(WebSocketUser):
            wait_time = constant(0.1)
            backoff = Backoff(strategy="fixed", base_s=0.3)
            session_options = SessionOptions(token=token, token_mode="message")

            @task
            def echo(self) -> None:
                session = self.wait_open(0.2)
                if session is not None:
                    session.request({"type": "echo"})

        return Authed

    environment, ok = _run(user("s3cret"), server.url, 2, 1.0)
    assert ok["sessions"]["opened"] == 2 and ok["errors"]["auth_failures"] == 0
    assert environment.stats.get("auth", "WS").num_requests == 2
    environment, refused = _run(user("wrong"), server.url, 1, 1.0)
    assert refused["errors"]["auth_failures"] >= 1
    assert "auth: the server refused the auth message" in _errors(environment)
    assert all("wrong" not in key for key in _errors(environment))
    assert refused["closes"]["server"].get("1008", 0) >= 1


def test_send_on_a_closed_session_is_counted_not_raised(serve) -> None:
    server = serve()

    class Closer(WebSocketUser):
        wait_time = constant(10)
        backoff = Backoff(strategy="fixed", base_s=30)

        @task
        def close_then_send(self) -> None:
            session = self.wait_open()
            assert session is not None
            session.close(4000, "done")
            assert session.send_text("late") is False
            assert session.request({"type": "echo"}) is None

    environment, s = _run(Closer, server.url, 1, 0.5)
    assert s["errors"]["send_on_closed"] == 2
    assert s["closes"]["client"] == {"4000": 1}
    assert not environment.runner.exceptions


def test_users_stopped_mid_handshake_still_count_what_the_server_opened(serve) -> None:
    """A stop during a slow handshake waits for it, then closes: both sides count the same sessions."""
    server = serve("--handshake-delay", "1.0")

    class Slow(WebSocketUser):
        wait_time = constant(0.1)

        @task
        def idle(self) -> None:
            self.wait_open()

    environment = Environment(user_classes=[Slow], host=server.url)
    runner = environment.create_local_runner()
    runner.start(4, spawn_rate=4)
    gevent.sleep(0.5)  # every user is now waiting for its 101
    runner.quit()
    run.sample_now(environment)
    s = summary.build(state_for(environment).aggregate.total, target=server.url, duration_s=1.0)
    stats = settled_stats(server)
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] == 4
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 4}
    assert _live_user_greenlets() == []


def test_auth_failures_count_toward_max_attempts_and_are_not_a_storm(serve) -> None:
    """An auth-failure reconnect loop gives up after --ws-reconnect-max-attempts; no storm is claimed."""
    server = serve("--token", "s3cret", "--auth-mode", "message")

    class Refused(WebSocketUser):
        wait_time = constant(0.05)
        backoff = Backoff(strategy="fixed", base_s=0.05, max_attempts=3)
        session_options = SessionOptions(token="wrong", token_mode="message")

        @task
        def echo(self) -> None:
            session = self.wait_open(0.1)
            if session is not None:
                session.request({"type": "echo"})

    environment, s = _run(Refused, server.url, 5, 2.0)
    assert s["sessions"]["opened"] == 15  # 3 attempts each, then the users gave up
    assert s["errors"]["auth_failures"] == 15 and s["errors"]["gave_up"] == 5
    assert environment.stats.get("auth", "WS").num_failures == 15
    assert state_for(environment).storms.storms == []  # sessions that never worked are no storm
    assert settled_stats(server)["auth"] == {"ok": 0, "failed": 15}
