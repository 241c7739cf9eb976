"""This project as a user writes it: ``WebSocketUser``, ``@task`` and the public session API.

    locust -f bench/peers/clients/ours_locustfile.py --headless --host ws://... -u 100 -r 100 Echo

The class on the command line picks the workload (see bench/peers/workloads.py): ``Echo`` (A,
``session.request``), ``EchoBurst`` (A10, ``session.request_burst`` of BENCH_IN_FLIGHT),
``EchoLoop`` (AL: ``traffic = ClosedLoop(in_flight=1)``, the engine sends the next request from
the reply's read callback), ``Idle`` (B, ``session.ping`` every BENCH_PING_INTERVAL_S),
``IdleMany`` (BS: B with BENCH_SESSIONS_PER_USER sessions per user, all pinged at once by
``heartbeat_each``, as scenarios/heartbeat_idle.py does) and
``Handshake`` (C: one
``session.request``, ``session.close``, and the user reconnects at once). Only the public API
(``loadtest.WebSocketUser``, ``loadtest.Backoff``, ``loadtest.ClosedLoop``,
``Session.request/request_burst/ping/close``),
so this file keeps measuring the engine whatever is rewritten under it.
"""

from __future__ import annotations

import os

from locust import constant, task

from loadtest import Backoff, ClosedLoop, WebSocketUser
from loadtest.exchange import heartbeat_each

PAYLOAD = "0123456789abcdef"
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "10"))
PING_INTERVAL_S = float(os.environ.get("BENCH_PING_INTERVAL_S", "10"))
SESSIONS_PER_USER = int(os.environ.get("BENCH_SESSIONS_PER_USER", "1"))


class Echo(WebSocketUser):
    """A: one request in flight: send, wait for the reply, again."""

    wait_time = constant(0)

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request({"type": "echo", "payload": PAYLOAD})


class EchoLoop(WebSocketUser):
    """AL: one request in flight, sent by the engine: no task, no switch per round trip."""

    traffic = ClosedLoop(in_flight=1, message={"type": "echo", "payload": PAYLOAD})


class EchoBurst(WebSocketUser):
    """A10: IN_FLIGHT requests written with one send, then wait for all their replies."""

    wait_time = constant(0)

    @task
    def echo(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request_burst([{"type": "echo", "payload": PAYLOAD} for _ in range(IN_FLIGHT)])


class Idle(WebSocketUser):
    """B: hold the session; a protocol ping every PING_INTERVAL_S (the first at start)."""

    wait_time = constant(PING_INTERVAL_S)

    @task
    def ping(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.ping()


class IdleMany(WebSocketUser):
    """BS: SESSIONS_PER_USER sessions per user; a protocol ping on each every PING_INTERVAL_S."""

    sessions_per_user = SESSIONS_PER_USER
    wait_time = constant(PING_INTERVAL_S)

    @task
    def ping(self) -> None:
        if self.wait_open() is not None:
            heartbeat_each(self.sessions, name="ping", timeout_s=PING_INTERVAL_S)


class Handshake(WebSocketUser):
    """C: one echo, then close; the user's lifecycle opens the next session at once."""

    wait_time = constant(0)
    backoff = Backoff(strategy="immediate")

    @task
    def once(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request({"type": "echo", "payload": PAYLOAD})
            session.close()
