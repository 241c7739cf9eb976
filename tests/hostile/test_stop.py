"""The hostile catalogue, stop paths: a stop mid-send, mid-close or mid-request ends counted and on time.

Issue 9, items 1-3, with real Locust users (a local runner in this process) stopped by
``runner.quit()``, as ``-t`` and SIGTERM stop them: a stop never writes into a half-written frame
(it finishes it within the close timeout or aborts, ``stopped_mid_send``) and counts what was
sent; a session waiting for the answer to its close ends counted; requests still waiting for a
reply are ``errors.outstanding_at_end``, and Locust's rows equal our RTT histogram.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
import orjson
from locust import constant, task
from locust.env import Environment

from loadtest import WebSocketUser
from loadtest.config import SessionOptions
from loadtest.metrics.backoff import Backoff
from loadtest.plugin import run
from loadtest.plugin.state import state_for
from loadtest.report import summary
from tests.conftest import UNIT_S
from tests.hostile.server import Peer, hostile

CLOSE_S = 1.5 * UNIT_S
STOP_AT_S = 0.6 * UNIT_S
NEVER = Backoff(strategy="fixed", base_s=60)


def run_until_stopped(
    user_class: type | list[type], url: str, users: int
) -> tuple[Environment, dict[str, Any], float]:
    """Run ``users`` users, stop them at STOP_AT_S; return the environment, summary and stop time."""
    classes = user_class if isinstance(user_class, list) else [user_class]
    environment = Environment(user_classes=classes, host=url)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(STOP_AT_S)
    started = time.monotonic()
    runner.quit()
    stop_s = time.monotonic() - started
    run.sample_now(environment)
    built = summary.build(state_for(environment).aggregate.total, target=url, duration_s=STOP_AT_S)
    return environment, built, stop_s


def paused_reader(pause_s: float, *, answer_close: bool):
    """Read nothing for ``pause_s`` (the client's sends block), then read everything."""

    def mode(peer: Peer) -> None:
        gevent.sleep(pause_s)
        if answer_close and peer.read(5 * UNIT_S, until_close=True) == "close":
            peer.close(1000)
        peer.read(5 * UNIT_S)

    return mode


class Burster(WebSocketUser):
    """Pipelines 100 binary requests of 2 KB per write into a server that does not read."""

    abstract = True
    wait_time = constant(0)
    backoff = NEVER
    session_options = SessionOptions(
        sndbuf_bytes=4096, close_timeout_s=CLOSE_S, send_timeout_s=5 * UNIT_S, reply_timeout_s=30
    )

    @task
    def burst(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request_burst([bytes(2_000)] * 100, name="burst")


def test_a_stop_mid_send_finishes_the_frame_when_the_server_reads_again_in_time() -> None:
    class User(Burster):
        pass

    # The server reads again half-way through the stop's close budget.
    with hostile(paused_reader(STOP_AT_S + CLOSE_S / 3, answer_close=True), rcvbuf=4096) as server:
        environment, s, stop_s = run_until_stopped(User, server.url, 2)
        seen = server.wait_done(2)
    assert s["closes"]["client"] == {"1000": 2} and s["closes"]["abnormal"] == 0
    assert [x.closes for x in seen] == [[1000], [1000]]  # a close frame, after whole frames only
    assert not any(x.partial for x in seen)
    # one burst per user, blocked from the start, finished by the stop: every message counted
    assert s["messages"]["sent"] == sum(x.messages for x in seen) == 200
    assert s["messages"]["bytes_sent"] == sum(x.bytes for x in seen)
    assert s["errors"]["outstanding_at_end"] == 200  # none was answered
    assert stop_s <= CLOSE_S + 1.0 * UNIT_S
    assert not environment.runner.exceptions


def test_a_stop_mid_send_aborts_when_the_frame_cannot_be_finished_and_counts_whole_messages() -> None:
    class User(Burster):
        pass

    # The server reads again only after the stop gave up: it then finds whole frames, a cut one, EOF.
    with hostile(
        paused_reader(STOP_AT_S + CLOSE_S + 1.0 * UNIT_S, answer_close=False), rcvbuf=4096
    ) as server:
        environment, s, stop_s = run_until_stopped(User, server.url, 2)
        seen = server.wait_done(2, timeout_s=10 * UNIT_S)
    assert s["closes"]["abnormal_reasons"] == {"stopped_mid_send": 2}
    assert s["closes"]["client"] == {} and s["sessions"]["open_at_end"] == 0
    assert [x.closes for x in seen] == [[], []]  # never a close frame inside a data frame
    assert all(x.partial for x in seen)
    # the whole messages of the cut write count, as the server reads them
    assert 0 < s["messages"]["sent"] == sum(x.messages for x in seen) < 200
    assert s["messages"]["bytes_sent"] == sum(x.bytes for x in seen)
    assert s["errors"]["outstanding_at_end"] == 200  # each user's burst, never answered
    assert environment.stats.get("session", "WS").num_failures == 0  # our stop is not the server's fault
    assert stop_s <= CLOSE_S + 1.0 * UNIT_S


def test_a_session_waiting_for_the_answer_to_its_close_at_the_stop_ends_counted() -> None:
    def never_answers_close(peer: Peer) -> None:
        peer.read(5 * UNIT_S)  # our close frame, then EOF when we give up waiting

    class Closer(WebSocketUser):
        wait_time = constant(0)
        backoff = NEVER
        session_options = SessionOptions(close_timeout_s=CLOSE_S)

        @task
        def close(self) -> None:
            session = self.wait_open()
            if session is not None:
                session.close(1000)  # the stop lands while this waits for the answer

    with hostile(never_answers_close) as server:
        _, s, stop_s = run_until_stopped(Closer, server.url, 4)
        seen = server.wait_done(4)
    assert s["sessions"] == {"opened": 4, "ended": 4, "open_at_end": 0, "peak_concurrent": 4}
    assert s["closes"]["client"] == {"1000": 4}
    assert [x.closes for x in seen] == [[1000]] * 4
    assert stop_s <= CLOSE_S + 1.0 * UNIT_S


def echo_after(delay_s: float, replies: list[int]):
    """Echo every message after ``delay_s`` (counting the replies in ``replies``); answer the
    client's close and stop echoing."""

    def mode(peer: Peer) -> None:
        closed: list[bool] = []

        def echo(message: bytes) -> None:
            if not closed and peer.message(message):
                decoded = orjson.loads(message)
                replies.append(len(decoded) if isinstance(decoded, list) else 1)

        peer.on_message = lambda message: gevent.spawn_later(delay_s, echo, message)
        if peer.read(10 * UNIT_S, until_close=True) == "close":
            closed.append(True)
            peer.close(1000)
        peer.read(5 * UNIT_S)

    return mode


def test_requests_waiting_at_the_stop_are_outstanding_and_locust_agrees_with_the_histogram() -> None:
    issued: list[int] = []

    class Single(WebSocketUser):
        wait_time = constant(0)
        backoff = NEVER
        session_options = SessionOptions(close_timeout_s=CLOSE_S, reply_timeout_s=30)

        @task
        def echo(self) -> None:
            session = self.wait_open()
            if session is not None:
                issued.append(1)
                session.request({"type": "echo"})

    class Batched(Single):
        @task
        def echo(self) -> None:
            session = self.wait_open()
            if session is not None:
                issued.append(10)
                session.request_burst([{"type": "echo", "n": i} for i in range(10)], batch=5)

    replies: list[int] = []
    with hostile(echo_after(0.25 * UNIT_S, replies)) as server:
        environment, s, _ = run_until_stopped([Single, Batched], server.url, 6)
        seen = server.wait_done(6)
    row = environment.stats.get("echo", "WS")
    successes = row.num_requests - row.num_failures
    assert row.num_failures == 0
    assert successes == s["rtt_ms"]["count"] > 0  # Locust's rows and our histogram agree
    assert sum(issued) == successes + s["errors"]["outstanding_at_end"]
    assert s["errors"]["outstanding_at_end"] >= 6  # every user was waiting when stopped
    assert s["errors"]["uncorrelated"] == 0
    assert s["messages"]["received"] == sum(x.sent for x in seen)
    # every reply that came before the session ended is a round trip, its requester stopped or not
    assert s["rtt_ms"]["count"] == sum(replies)
    assert s["messages"]["sent"] == sum(x.messages for x in seen)
    assert s["closes"]["client"] == {"1000": 6}
