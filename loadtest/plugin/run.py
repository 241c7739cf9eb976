"""The run: sampling the time series, merging workers' deltas, and finishing the run.

Collecting: Locust's master quits half a second after telling its workers to quit, and a
worker's last report comes only after its users have closed their sessions, so those counts
would be lost. When a master starts stopping (``test_stopping``, on every path: run time, the
web UI's stop, SIGTERM, Ctrl-C), it first asks each worker to stop its users now (``MSG_FLUSH``)
and waits, bounded, until each has sent its final delta (``MSG_FINAL``, sent from the worker's
``test_stop``). Only then does Locust's own stop or quit go on.

Finishing happens in Locust's ``quitting`` event, before Locust decides its exit code: users are
stopped (every session closed and counted), then the summary is built, the checks evaluated and
every requested file written.
"""

from __future__ import annotations

import logging
import resource
import time
from typing import Any

import gevent
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from loadtest.config import redact_url
from loadtest.metrics import storm
from loadtest.plugin.state import PluginState, state_for
from loadtest.report import checks, console, csv_files, summary

logger = logging.getLogger("loadtest")

#: Custom message a worker sends with its last delta once its users have stopped.
MSG_FINAL = "loadtest_final"
#: Custom message a master sends to make a worker stop its users and send MSG_FINAL.
MSG_FLUSH = "loadtest_flush"
#: Process exit status when a --ws-check failed (Locust uses 1 for failures, we use 2 for bad options).
EXIT_CHECKS_FAILED = 3
#: How long a master waits for the workers' final deltas, beyond the users' close timeout.
FINAL_WAIT_S = 10.0


def is_worker(environment: Any) -> bool:
    """Return True in a worker process."""
    return isinstance(environment.runner, WorkerRunner)


def is_master(environment: Any) -> bool:
    """Return True in a master process."""
    return isinstance(environment.runner, MasterRunner)


# -- sampling ----------------------------------------------------------------------------------
def start_sampler(environment: Any) -> None:
    """Start the time-series sampler once (local and master runners)."""
    state = state_for(environment)
    if state.sampler is None and not is_worker(environment):
        state.started_at, state.started_monotonic = time.time(), time.monotonic()
        state.aggregate.begin(state.started_at)
        state.storms.origin_ns = time.perf_counter_ns()
        state.sampler = gevent.spawn(_sample_loop, environment)


def _sample_loop(environment: Any) -> None:
    state = state_for(environment)
    while not state.finished:
        gevent.sleep(state.sample_interval_s)
        sample_now(environment)


def sample_now(environment: Any) -> dict[str, Any]:
    """Pull the local delta (when not a master), close the interval, write the history row."""
    state = state_for(environment)
    if not is_master(environment):
        state.aggregate.ingest("local", state.recorder.take_delta(encode=False))
    point = state.aggregate.sample(time.time(), time.monotonic() - state.started_monotonic)
    if state.history is not None:
        state.history.write(point)
    return point


# -- workers and master ------------------------------------------------------------------------
def install_distributed(environment: Any) -> None:
    """Wire the worker-to-master deltas for this environment's runner."""
    runner = environment.runner
    state = state_for(environment)
    if isinstance(runner, WorkerRunner):

        def report(client_id: str, data: dict[str, Any]) -> None:
            data["loadtest"] = _delta(state)

        def final(**_: Any) -> None:
            runner.send_message(MSG_FINAL, _delta(state))

        def flush(environment: Any, msg: Any, **_: Any) -> None:
            runner.stop()  # fires test_stop, which sends MSG_FINAL

        environment.events.report_to_master.add_listener(report)
        environment.events.test_stop.add_listener(final)
        runner.register_message(MSG_FLUSH, flush, concurrent=True)
    elif isinstance(runner, MasterRunner):

        def merge(client_id: str, data: dict[str, Any]) -> None:
            if "loadtest" in data:
                _ingest(state, client_id, data["loadtest"])

        def merge_final(environment: Any, msg: Any, **_: Any) -> None:
            _ingest(state, msg.node_id, msg.data)
            state.worker_finals.add(msg.node_id)

        def collect(**_: Any) -> None:
            _flush_workers(environment, state)

        environment.events.worker_report.add_listener(merge)
        environment.events.test_stopping.add_listener(collect)
        runner.register_message(MSG_FINAL, merge_final)


def _delta(state: PluginState) -> dict[str, Any]:
    delta = state.recorder.take_delta()
    delta["storms"] = state.storms.summary()  # cumulative per process: the master keeps the latest
    return delta


def _ingest(state: PluginState, source: str, delta: dict[str, Any]) -> None:
    state.aggregate.ingest(source, delta)
    if delta.get("storms"):
        state.storm_states[source] = delta["storms"]


def _flush_workers(environment: Any, state: PluginState) -> None:
    """Make every live worker stop its users and wait (bounded) for each one's final delta."""
    from locust.rpc import Message

    runner = environment.runner
    expected = {c.id for c in runner.clients.all if c.state != STATE_MISSING}
    state.worker_finals.clear()
    for client_id in expected:
        runner.server.send_to_client(Message(MSG_FLUSH, None, client_id))
    deadline = time.monotonic() + state.session_options.close_timeout_s + FINAL_WAIT_S
    while not expected <= state.worker_finals and time.monotonic() < deadline:
        gevent.sleep(0.05)
    missing = expected - state.worker_finals
    if missing:
        logger.warning(
            "no final WebSocket counts from %d worker(s): %s", len(missing), ", ".join(sorted(missing))
        )


# -- the end of the run --------------------------------------------------------------------------
def build_summary(environment: Any) -> dict[str, Any]:
    """Return the run summary of the aggregate (plus Locust's totals and this process's cost)."""
    state = state_for(environment)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = environment.stats.total
    result = summary.build(
        state.aggregate.total,
        target=redact_url(environment.host or ""),
        duration_s=time.monotonic() - state.started_monotonic,
        locust_totals={
            "requests": total.num_requests,
            "failures": total.num_failures,
            "fail_ratio": round(total.fail_ratio, 6),
        },
        process={
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "max_rss_mib": round(usage.ru_maxrss / 1024, 1),
        },
    )
    if not is_master(environment) and state.storms.storms:
        state.storm_states["local"] = state.storms.summary()
    result["storms"] = storm.merge(list(state.storm_states.values()))
    if state.scenario:
        result["scenario"] = dict(state.scenario)
    if is_master(environment):
        result["workers"] = {"reported": len(state.aggregate.sources_seen), "lost": list(state.lost_workers)}
    return result


def finish(environment: Any) -> None:
    """Stop users, collect final counts, then summary, checks and files (once per run)."""
    state = state_for(environment)
    if state.finished or is_worker(environment):
        return
    if environment.runner is not None:
        environment.runner.stop()  # no-op when already stopped; on a master this collects (above)
    state.finished = True
    sample_now(environment)
    if state.sampler is not None:
        state.sampler.kill(block=False)
    result = build_summary(environment)
    verdicts = checks.evaluate(state.checks, result)
    result["checks"] = verdicts
    result["passed"] = all(v["passed"] for v in verdicts)
    state.result = result
    print(console.render(result), flush=True)
    if verdicts:
        print(" checks:\n" + checks.render(verdicts), flush=True)
    _write_files(environment, state, result)
    if not result["passed"]:
        failed = sum(not v["passed"] for v in verdicts)
        logger.error(
            "%d of %d --ws-check conditions failed: exit code %d", failed, len(verdicts), EXIT_CHECKS_FAILED
        )
        environment.process_exit_code = EXIT_CHECKS_FAILED


def _write_files(environment: Any, state: PluginState, result: dict[str, Any]) -> None:
    if state.summary_path:
        summary.write(result, state.summary_path)
        logger.info("WebSocket summary written to %s", state.summary_path)
    if state.csv_prefix:
        csv_files.write_tables(state.csv_prefix, result)
    if state.history is not None:
        state.history.close()
        state.history = None
    if state.junit_path:
        _write_text(state.junit_path, checks.junit(result["checks"], duration_s=result["duration_s"]))
    if state.report_path:
        from loadtest.report import html

        _write_text(state.report_path, html.render(environment, result, list(state.aggregate.series)))
        logger.info("WebSocket report written to %s", state.report_path)


def _write_text(path: str, text: str) -> None:
    import os

    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
