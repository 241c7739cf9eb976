"""Client-triggered reconnect storms, synchronised across workers by the master.

``--ws-storm-at S`` drops every session S seconds into the run; ``--ws-storm-every S`` does it
again every S seconds. On a master the trigger is a message to every worker (one clock, so the
fleet loses its connections together); each process then drops its users' sessions without a
close frame, and their lifecycle reconnects with the configured backoff.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust.rpc import Message

from loadtest.plugin.distributed import is_master, is_worker
from loadtest.plugin.state import RUNNING, state_for
from loadtest.plugin.user import WebSocketUser

logger = logging.getLogger("loadtest")

MSG_STORM = "loadtest_storm"
#: More storms than this in one run is a configuration mistake (--ws-storm-every too small).
MAX_TRIGGERS = 1000


def install(environment: Any) -> None:
    """Let a worker drop its sessions when the master says so."""
    if is_worker(environment):
        environment.runner.register_message(
            MSG_STORM, lambda environment, msg, **_: drop_all(environment, msg.data["index"])
        )


def start(environment: Any) -> None:
    """Schedule the storms of this run (local or master runner), if any were asked for."""
    options = environment.parsed_options
    at_s = getattr(options, "ws_storm_at", 0.0) or 0.0
    every_s = getattr(options, "ws_storm_every", 0.0) or 0.0
    if (at_s > 0 or every_s > 0) and not is_worker(environment):
        gevent.spawn(_schedule, environment, at_s, every_s)


def _schedule(environment: Any, at_s: float, every_s: float) -> None:
    state = state_for(environment)
    run_index = state.run_index  # a later test (web UI "New") schedules its own storms
    first_s = at_s if at_s > 0 else every_s
    gevent.sleep(first_s)
    for index in range(MAX_TRIGGERS):
        if state.phase != RUNNING or state.run_index != run_index:
            return
        trigger(environment, index)
        if every_s <= 0:
            return
        gevent.sleep(every_s)


def trigger(environment: Any, index: int) -> None:
    """Start storm ``index`` everywhere: here, or on every worker."""
    runner = environment.runner
    if is_master(environment):
        for client in list(runner.clients.all):
            runner.server.send_to_client(Message(MSG_STORM, {"index": index}, client.id))
        logger.info(
            "reconnect storm %d: told %d workers to drop their sessions", index, len(runner.clients.all)
        )
    else:
        drop_all(environment, index)


def drop_all(environment: Any, index: int) -> int:
    """Drop every session of this process's users at once; return how many."""
    state = state_for(environment)
    users = [
        g.args[0]
        for g in environment.runner.user_greenlets
        if g.args and isinstance(g.args[0], WebSocketUser)
    ]
    state.storms.begin(time.perf_counter_ns(), "client", state.recorder.concurrent, index)
    dropped = 0
    for user in users:
        dropped += user.drop_session("storm")  # every open session of the user, each on its own
    logger.info("reconnect storm %d: dropped %d sessions", index, dropped)
    return dropped
