"""Several sessions per Locust user (``sessions_per_user``), in a real local runner, real sockets.

Every count is compared with the embedded target's own ``/stats``: sessions opened, closes by
side and code, messages; reconnects, a client storm and server closes happen per session.
"""

from __future__ import annotations

import argparse
import gc
from typing import Any

import gevent
from locust import constant, task
from locust.env import Environment

from loadtest import WebSocketUser
from loadtest.metrics.backoff import Backoff
from loadtest.plugin import run, scenario, storms
from loadtest.plugin.state import state_for
from loadtest.report import summary
from tests.integration.sessions import settled_stats

FAST = Backoff(strategy="fixed", base_s=0.05)
SEATS = 3
USERS = 4
#: what a user greenlet spawns for its sessions: none of them may run while every session is open
SESSION_GREENLETS = ("_lifecycle", "_open_seats", "_dispatch")


def _session_greenlets() -> list[gevent.Greenlet]:
    gc.collect()
    return [
        g
        for g in gc.get_objects()
        if isinstance(g, gevent.Greenlet)
        and not g.dead
        and isinstance(getattr(g._run, "__self__", None), WebSocketUser)
        and g._run.__name__ in SESSION_GREENLETS
    ]


def _start(user_class: type, host: str, users: int, parsed: Any = None) -> Environment:
    environment = Environment(user_classes=[user_class], host=host, parsed_options=parsed)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=users)
    return environment


def _wait(condition: Any, timeout_s: float) -> bool:
    deadline = gevent.get_hub().loop.now() + timeout_s
    while not condition() and gevent.get_hub().loop.now() < deadline:
        gevent.sleep(0.02)
    return bool(condition())


def _stop(environment: Environment) -> dict[str, Any]:
    assert environment.runner is not None
    environment.runner.quit()
    run.sample_now(environment)
    total = state_for(environment).aggregate.total
    return summary.build(total, target="test", duration_s=1.0)


def test_each_session_reconnects_on_its_own_and_counts_match_the_server(serve) -> None:
    # every 4th session the server accepts is closed with 4001 after 0.3 s; a storm drops them all
    server = serve("--close-every", "4", "--close-code", "4001", "--close-after", "0.3")

    class Echoes(WebSocketUser):
        wait_time = constant(0.05)
        backoff = FAST
        sessions_per_user = SEATS

        @task
        def echo(self) -> None:
            for session in self.sessions:
                session.request({"type": "echo"})

    environment = _start(Echoes, server.url, USERS)
    recorder = state_for(environment).recorder
    assert _wait(lambda: recorder.concurrent == USERS * SEATS, 5.0), recorder.concurrent
    assert _session_greenlets() == []  # every session open: none has a greenlet of its own
    users = [g.args[0] for g in environment.runner.user_greenlets]  # type: ignore[union-attr]
    assert len(users) == USERS and all(len(user.sessions) == SEATS for user in users)
    # no finished greenlet kept either: the opener and each seat's lifecycle dropped their own
    assert all(user._opener is None and all(s.lifecycle is None for s in user.seats) for user in users)
    gevent.sleep(0.8)  # server closes and reconnects meanwhile
    dropped = storms.drop_all(environment, 0)
    gevent.sleep(1.0)  # the storm's sessions come back
    s = _stop(environment)
    stats = settled_stats(server)
    assert s["sessions"]["peak_concurrent"] == USERS * SEATS
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] >= USERS * SEATS + dropped + 1
    assert s["closes"]["server"] == stats["closes"]["server"] and stats["closes"]["server"]["4001"] >= 1
    assert s["closes"]["client"] == stats["closes"]["client"]
    assert 1 <= stats["closes"]["client"]["1000"] <= USERS * SEATS  # those open at the stop
    assert s["closes"]["abnormal"] == stats["closes"]["abnormal"] == dropped >= 1
    closes = sum(stats["closes"]["server"].values()) + sum(stats["closes"]["client"].values())
    assert closes + dropped == s["sessions"]["opened"]  # every session ended exactly once
    assert s["messages"]["sent"] == stats["messages"]["received"] >= USERS * SEATS
    assert s["messages"]["received"] == stats["messages"]["sent"]
    assert s["errors"]["gave_up"] == 0
    # the storm: each dropped session recovered by itself
    (storm,) = state_for(environment).storms.summary()
    assert storm["trigger"] == "client" and storm["dropped"] == storm["recovered"] == dropped
    # Locust's rows: one connect per session, a session failure per 4001 (a storm is not one)
    connect = environment.stats.get("connect", "WS")
    assert connect.num_requests == s["sessions"]["opened"] and connect.num_failures == 0
    assert environment.stats.get("session", "WS").num_failures == stats["closes"]["server"]["4001"]
    assert _session_greenlets() == []  # no greenlet outlives its user


def test_a_seat_that_cannot_connect_backs_off_without_holding_up_the_others(serve) -> None:
    # every 3rd handshake is refused with 503: with 3 seats per user, some seat of some user
    # fails its first attempt, and reconnects on its own while the opener goes on
    server = serve("--reject-every", "3", "--reject-status", "503")

    class Idle(WebSocketUser):
        wait_time = constant(1.0)
        backoff = FAST
        sessions_per_user = SEATS

        @task
        def nothing(self) -> None:
            return None

    environment = _start(Idle, server.url, 2)
    recorder = state_for(environment).recorder
    assert _wait(lambda: recorder.concurrent == 2 * SEATS, 5.0), recorder.concurrent
    s = _stop(environment)
    stats = settled_stats(server)
    rejected = stats["handshakes"]["rejected"]["503"]
    assert s["handshake_failures"] == {"http_503": rejected, "total": rejected} and rejected >= 2
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] == 2 * SEATS
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 2 * SEATS}
    assert _session_greenlets() == []


def test_heartbeat_idle_beats_on_every_session(serve) -> None:
    server = serve()
    parsed = argparse.Namespace(ws_heartbeat_interval=0.2, ws_heartbeat_kind="app", ws_pong_timeout=2.0)

    class Idle(WebSocketUser):
        sessions_per_user = SEATS

        def wait_time(self) -> float:
            return scenario.heartbeat_wait(self)

        @task
        def beat(self) -> None:
            scenario.heartbeat(self)

    environment = _start(Idle, server.url, 2, parsed)
    recorder = state_for(environment).recorder
    assert _wait(lambda: recorder.concurrent == 2 * SEATS, 5.0), recorder.concurrent
    gevent.sleep(1.0)  # ~5 beats per session
    assert _session_greenlets() == []  # the beats come from the users' own greenlets
    s = _stop(environment)
    stats = settled_stats(server)
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] == 2 * SEATS
    assert s["closes"]["client"] == stats["closes"]["client"] == {"1000": 2 * SEATS}
    assert s["messages"]["sent"] == stats["messages"]["received"] >= 2 * SEATS * 3
    # every heartbeat answered, or in flight at the stop: each ends exactly once
    beats = s["ping_rtt_ms"]["count"]
    assert beats + s["errors"]["outstanding_at_end"] == s["messages"]["sent"]
    assert environment.stats.get("heartbeat", "WS").num_requests == beats
    assert s["errors"]["reply_timeouts"] == 0 and s["closes"]["abnormal"] == 0


def test_a_missing_heartbeat_answer_declares_that_session_dead_and_it_reconnects(serve) -> None:
    server = serve("--read-delay", "0.5")  # every answer comes 0.5 s late: past the 0.2 s timeout
    parsed = argparse.Namespace(ws_heartbeat_interval=0.3, ws_heartbeat_kind="app", ws_pong_timeout=0.2)

    opens: list[int] = []  # the seat of every session opened

    class Idle(WebSocketUser):
        sessions_per_user = SEATS
        backoff = FAST

        def wait_time(self) -> float:
            return scenario.heartbeat_wait(self)

        def on_session_open(self, session: Any) -> None:
            opens.extend(seat.index for seat in self.seats if seat.ws is session)

        @task
        def beat(self) -> None:
            scenario.heartbeat(self)

    environment = _start(Idle, server.url, 1, parsed)
    recorder = state_for(environment).recorder
    assert _wait(lambda: recorder.concurrent == SEATS, 5.0), recorder.concurrent
    _wait(lambda: all(opens.count(index) >= 2 for index in range(SEATS)), 5.0)
    s = _stop(environment)
    stats = settled_stats(server)
    # every seat's session was declared dead (a beat unanswered) and the seat reconnected by itself
    assert all(opens.count(index) >= 2 for index in range(SEATS)), opens
    dead = s["closes"]["abnormal_reasons"].get("dead", 0)
    assert dead >= SEATS and s["errors"]["reply_timeouts"] >= dead  # each dead one had a timed-out beat
    assert s["closes"]["abnormal"] == stats["closes"]["abnormal"] == dead
    assert s["sessions"]["opened"] == stats["sessions"]["opened"] >= SEATS + dead  # each came back
    failures = environment.stats.get("heartbeat", "WS").num_failures
    assert failures == s["errors"]["reply_timeouts"] and s["ping_rtt_ms"]["count"] == 0
