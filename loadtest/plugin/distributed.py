"""Workers and master: deltas up, final counts at the stop, resets down, stale deltas dropped.

Collecting: Locust's master quits half a second after telling its workers to quit, and a
worker's last report comes only after its users have closed their sessions, so those counts
would be lost. When a master starts stopping (``test_stopping``, on every path: run time, the
web UI's stop, SIGTERM, Ctrl-C), it first asks each worker to stop its users now (``MSG_FLUSH``)
and waits, bounded, until each has sent its final delta (``MSG_FINAL``, sent from the worker's
``test_stop``). Only then does Locust's own stop or quit go on.

Scoping: every test start and every stats reset on the master bumps a *generation*. Workers
learn it from the master's options in the spawn message (a new test) or from ``MSG_RESET`` (a
reset), start their own numbers over, and tag every delta with it; the master drops deltas of
an older generation, so numbers recorded before a reset never leak into the numbers after it.
On a reset the worker also drops Locust's own unreported statistics, which Locust itself would
otherwise add to the master's fresh ones up to one report interval later.

Spawn messages: Locust 2.47's worker filters the master's options with
``argument_parser.default_args_dict()`` once per option of every spawn message, and that call
builds and runs Locust's whole argument parser: during a ramp (a spawn message per step) a
worker spent ~70% of its time there (py-spy), its loop lagged up to ~0.9 s and workers missed
heartbeats and were declared lost. :func:`cache_default_args` computes it once per process.
"""

from __future__ import annotations

import logging
import resource
import time
from typing import Any

import gevent
from locust import argument_parser
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from loadtest.plugin.state import PluginState, state_for

logger = logging.getLogger("loadtest")

#: Custom message a worker sends with its last delta once its users have stopped.
MSG_FINAL = "loadtest_final"
#: Custom message a master sends to make a worker stop its users and send MSG_FINAL.
MSG_FLUSH = "loadtest_flush"
#: Custom message a master sends when its stats are reset: the worker starts its numbers over.
MSG_RESET = "loadtest_reset"
#: How long a master waits for the workers' final deltas, beyond the users' close timeout.
FINAL_WAIT_S = 10.0
#: The attribute of Locust's parsed options that carries the generation to the workers.
GENERATION_OPTION = "loadtest_generation"


def cache_default_args() -> None:
    """Make Locust's ``default_args_dict()`` build its parser once per process (idempotent).

    Its value depends only on Locust's own options and this process's environment, neither of
    which changes while the process runs; callers only read it.
    """
    original = argument_parser.default_args_dict
    if getattr(original, "loadtest_cached", False):
        return
    cached: dict[str, Any] = {}

    def default_args_dict() -> dict[str, Any]:
        if not cached:
            cached.update(original())
        return cached

    default_args_dict.loadtest_cached = True  # type: ignore[attr-defined]
    argument_parser.default_args_dict = default_args_dict


def is_worker(environment: Any) -> bool:
    """Return True in a worker process."""
    return isinstance(environment.runner, WorkerRunner)


def is_master(environment: Any) -> bool:
    """Return True in a master process."""
    return isinstance(environment.runner, MasterRunner)


def process_cost(state: PluginState) -> dict[str, Any]:
    """Return this process's CPU seconds since the run started, its peak RSS in MiB and its
    event-loop lag (p99 and max in ms; None before the first measurement)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    lag = state.loop_lag.summary()
    return {
        "cpu_s": round(usage.ru_utime + usage.ru_stime - state.cpu_at_start_s, 3),
        "max_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "loop_lag_ms": {"p99": lag["p99"], "max": lag["max"]},
    }


def cpu_now_s() -> float:
    """Return the CPU seconds this process used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def install(environment: Any) -> None:
    """Wire the worker-to-master deltas for this environment's runner."""
    runner = environment.runner
    state = state_for(environment)
    if isinstance(runner, WorkerRunner):

        def report(client_id: str, data: dict[str, Any]) -> None:
            data["loadtest"] = _delta(state)

        def flush_rows(**_: Any) -> None:
            state.flush_rows()

        def final(**_: Any) -> None:
            # Locust's own statistics go up every 3 s and at quit, not at a stop: send them now,
            # before our final delta, so the master's Locust totals are complete when it builds
            # the summary (messages arrive in order). This report carries our delta too.
            state.flush_rows()
            runner._send_stats()
            runner.send_message(MSG_FINAL, _delta(state))

        def flush(environment: Any, msg: Any, **_: Any) -> None:
            runner.stop()  # fires test_stop, which sends MSG_FINAL

        def reset(environment: Any, msg: Any, **_: Any) -> None:
            state.generation = int(msg.data["generation"])
            state.recorder.reset()
            if state.rows is not None:
                state.rows.discard()
            state.storms.reset(time.perf_counter_ns())
            # Locust resets only the master's statistics: what a worker recorded since its last
            # report would still arrive after the reset. Drop it here too, for both of us.
            runner.stats.reset_all()

        environment.events.report_to_master.add_listener(report)
        # Our pending rows must be in Locust's statistics before its own listener (registered with
        # the runner, before us) serializes them; EventHook has no public way to go first.
        environment.events.report_to_master._handlers.insert(0, flush_rows)
        environment.events.test_stop.add_listener(final)
        runner.register_message(MSG_FLUSH, flush, concurrent=True)
        runner.register_message(MSG_RESET, reset)
    elif isinstance(runner, MasterRunner):

        def merge(client_id: str, data: dict[str, Any]) -> None:
            if "loadtest" in data:
                _ingest(state, client_id, data["loadtest"])

        def merge_final(environment: Any, msg: Any, **_: Any) -> None:
            if _ingest(state, msg.node_id, msg.data):
                state.worker_finals.add(msg.node_id)

        def collect(**_: Any) -> None:
            _flush_workers(environment, state)

        environment.events.worker_report.add_listener(merge)
        environment.events.test_stopping.add_listener(collect)
        runner.register_message(MSG_FINAL, merge_final)


def tell_workers_to_reset(environment: Any, generation: int) -> None:
    """Make every worker start its numbers over, at ``generation`` (a stats reset on the master)."""
    from locust.rpc import Message

    runner = environment.runner
    for client in list(runner.clients.all):
        runner.server.send_to_client(Message(MSG_RESET, {"generation": generation}, client.id))


def generation_from_master(environment: Any) -> int | None:
    """Return the generation the master's spawn message carried (on a worker), if any."""
    value = getattr(environment.parsed_options, GENERATION_OPTION, None)
    return int(value) if value is not None else None


def _delta(state: PluginState) -> dict[str, Any]:
    delta = state.recorder.take_delta()
    delta["storms"] = state.storms.summary()  # cumulative per process: the master keeps the latest
    delta["process"] = process_cost(state)
    delta["generation"] = state.generation
    return delta


def _ingest(state: PluginState, source: str, delta: dict[str, Any]) -> bool:
    """Merge a worker's delta unless it belongs to an earlier generation; return True if merged."""
    if delta.get("generation", state.generation) != state.generation:
        return False
    state.aggregate.ingest(source, delta)
    if delta.get("storms"):
        state.storm_states[source] = delta["storms"]
    if delta.get("process"):
        state.worker_process[source] = delta["process"]
    return True


def _flush_workers(environment: Any, state: PluginState) -> None:
    """Make every live worker stop its users and wait (bounded) for each one's final delta."""
    from locust.rpc import Message

    runner = environment.runner
    expected = {c.id for c in runner.clients.all if c.state != STATE_MISSING}
    state.worker_finals.clear()
    for client_id in expected:
        runner.server.send_to_client(Message(MSG_FLUSH, None, client_id))
    deadline = time.monotonic() + state.session_options.close_timeout_s + FINAL_WAIT_S + state.stop_extra_s
    while not expected <= state.worker_finals and time.monotonic() < deadline:
        gevent.sleep(0.05)
    missing = expected - state.worker_finals
    if missing:
        logger.warning(
            "no final WebSocket counts from %d worker(s): %s", len(missing), ", ".join(sorted(missing))
        )
