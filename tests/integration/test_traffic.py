"""Engine-driven traffic (``traffic = ClosedLoop(...)``, ``Bursts``): real Locust runner, real sockets.

Every request ends exactly once: Locust's successes equal ``rtt_ms.count``, and requests issued
(messages sent, as the target counts them) = successes + failures + ``outstanding_at_end``.
"""

from __future__ import annotations

from typing import Any

import gevent
from locust import constant, task
from locust.env import Environment

from loadtest import WebSocketUser
from loadtest.plugin import run
from loadtest.plugin.state import state_for
from loadtest.report import summary
from loadtest.traffic import Bursts, ClosedLoop
from tests.integration.sessions import settled_stats
from tests.integration.test_sessions_per_user import _session_greenlets, _wait


def _run(user_class: type, host: str, users: int, seconds: float) -> tuple[Environment, dict[str, Any]]:
    environment = Environment(user_classes=[user_class], host=host)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=users)
    recorder = state_for(environment).recorder
    assert _wait(lambda: recorder.concurrent == users * (user_class.sessions_per_user or 1), 5.0)
    gevent.sleep(seconds)
    assert _session_greenlets() == []  # the engine sends: no greenlet per session
    runner.quit()
    run.sample_now(environment)
    return environment, summary.build(state_for(environment).aggregate.total, target=host, duration_s=seconds)


def _row(environment: Environment, name: str) -> tuple[int, int]:
    entry = environment.stats.get(name, "WS")
    return entry.num_requests - entry.num_failures, entry.num_failures


def test_a_closed_loop_keeps_one_request_in_flight_and_every_request_ends_once(serve) -> None:
    server = serve()

    class Loop(WebSocketUser):
        traffic = ClosedLoop(in_flight=1, message={"type": "echo", "payload": "hello"})

    environment, s = _run(Loop, server.url, 3, 1.0)
    stats = settled_stats(server)
    successes, failures = _row(environment, "echo")
    assert s["messages"]["sent"] == stats["messages"]["received"] >= 3 * 50
    assert s["messages"]["received"] == stats["messages"]["sent"]
    assert successes == s["rtt_ms"]["count"] and failures == 0
    assert s["messages"]["sent"] == successes + s["errors"]["outstanding_at_end"]
    assert s["errors"]["outstanding_at_end"] <= 3  # one in flight per session at the stop
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 3}


def test_several_in_flight_on_several_sessions_per_user(serve) -> None:
    server = serve()

    class Loop(WebSocketUser):
        sessions_per_user = 2
        traffic = ClosedLoop(in_flight=4, message=b"x" * 32)  # binary, matched by its id

    environment, s = _run(Loop, server.url, 2, 1.0)
    stats = settled_stats(server)
    successes, failures = _row(environment, "echo")
    assert s["messages"]["sent"] == stats["messages"]["received"] == stats["messages"]["binary_received"]
    assert successes == s["rtt_ms"]["count"] >= 4 * 20 and failures == 0
    assert s["messages"]["sent"] == successes + s["errors"]["outstanding_at_end"]
    assert s["errors"]["outstanding_at_end"] <= 2 * 2 * 4


def test_a_reply_timeout_is_a_failure_and_the_loop_goes_on(serve) -> None:
    server = serve("--read-delay", "0.3")  # the target answers every message 0.3 s late

    class Loop(WebSocketUser):
        traffic = ClosedLoop(in_flight=1, timeout_s=0.1)

    environment, s = _run(Loop, server.url, 2, 1.2)
    settled_stats(server)
    successes, failures = _row(environment, "echo")
    assert successes == s["rtt_ms"]["count"] == 0
    assert failures == s["errors"]["reply_timeouts"] >= 2 * 5  # one every 0.1 s per session
    assert s["messages"]["sent"] == failures + s["errors"]["outstanding_at_end"]
    assert s["errors"]["uncorrelated"] >= 2  # the late replies


def test_bursts_keep_their_schedule_and_wait_for_every_reply(serve) -> None:
    server = serve()

    class Burst(WebSocketUser):
        traffic = Bursts(size=5, interval_s=0.2, name="burst")

    environment, s = _run(Burst, server.url, 2, 1.0)
    stats = settled_stats(server)
    successes, failures = _row(environment, "burst")
    assert s["messages"]["sent"] == stats["messages"]["received"]
    assert s["messages"]["sent"] % 5 == 0 and 2 * 5 * 4 <= s["messages"]["sent"] <= 2 * 5 * 8
    assert successes == s["rtt_ms"]["count"] == s["rtt_scheduled_ms"]["count"] and failures == 0
    assert s["messages"]["sent"] == successes + s["errors"]["outstanding_at_end"]


def test_a_stop_while_replies_are_late_ends_every_request_once(serve) -> None:
    server = serve("--read-delay", "0.2")  # replies come 0.2 s apart: some are in flight at the stop

    class Loop(WebSocketUser):
        traffic = ClosedLoop(in_flight=3)

    environment, s = _run(Loop, server.url, 2, 0.5)
    stats = settled_stats(server)
    successes, failures = _row(environment, "echo")
    assert failures == 0  # our stop is not the server's fault
    assert successes == s["rtt_ms"]["count"]
    assert s["messages"]["sent"] == stats["messages"]["received"]
    assert s["messages"]["sent"] == successes + s["errors"]["outstanding_at_end"]
    assert s["errors"]["outstanding_at_end"] >= 1


def test_a_task_beside_the_traffic_still_runs(serve) -> None:
    server = serve()

    class Both(WebSocketUser):
        wait_time = constant(0.1)
        traffic = ClosedLoop(in_flight=1, pause_s=0.05)

        @task
        def ping(self) -> None:
            session = self.wait_open()
            if session is not None:
                session.ping()

    environment, s = _run(Both, server.url, 2, 1.0)
    settled_stats(server)
    echo_ok, _ = _row(environment, "echo")
    ping_ok, ping_failed = _row(environment, "ping")
    assert ping_ok == s["ping_rtt_ms"]["count"] >= 2 * 5 and ping_failed == 0
    assert echo_ok == s["rtt_ms"]["count"] and 2 * 5 <= echo_ok <= 2 * 25  # paced by the 50 ms pause
