"""A run's life: start, sampling, reset, stop (summary, checks, files), and the process's end.

Our numbers follow Locust's own statistics:

* a **test start** (``test_start``: the first start, the web UI's "New" test) reads the options
  again (the web UI form and, on workers, the master's options apply), starts our numbers, the
  time series and the clock over;
* a **stats reset** (the web UI's Reset, ``--reset-stats`` after the ramp-up) starts the numbers
  over while sessions stay open (they stay counted as connected);
* a **stop** (``test_stop``: the run time, the web UI's Stop, SIGTERM, Ctrl-C) freezes the
  clock, builds the summary, evaluates the checks and writes every requested file. In a web UI
  session with several tests, when a new test starts, the previous test's files are renamed
  with its number (``run.json`` -> ``run-1.json``), so the plain names always hold the latest.

Finishing the process happens in Locust's ``quitting`` event, before Locust decides its exit
code: a run still going is stopped first (every session closed and counted).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import gevent
from locust.runners import WORKER_REPORT_INTERVAL

from loadtest import option_values
from loadtest.config import redact_url
from loadtest.errors import ConfigError
from loadtest.metrics import storm
from loadtest.plugin import barrier, distributed, locust_memory, settings
from loadtest.plugin.distributed import is_master, is_worker
from loadtest.plugin.state import RUNNING, STOPPED, PluginState, state_for
from loadtest.report import baseline, checks, console, csv_files, summary

logger = logging.getLogger("loadtest")

#: Process exit status when a --ws-check failed (Locust uses 1 for failures, we use 2 for bad options).
EXIT_CHECKS_FAILED = 3
#: Process exit status when a requested output could not be written (and nothing worse happened).
EXIT_OUTPUT_FAILED = 2

__all__ = ["EXIT_CHECKS_FAILED", "begin", "build_summary", "end", "finish", "reset", "sample_now"]


# -- sampling ----------------------------------------------------------------------------------
def sample_interval_s(environment: Any) -> float:
    """Return the time between points: on a master, a whole number of worker report intervals."""
    interval = state_for(environment).settings.sample_interval_s
    if is_master(environment):
        reports = max(1, -(-interval // WORKER_REPORT_INTERVAL))  # ceil
        return float(reports * WORKER_REPORT_INTERVAL)
    return interval


def _sample_loop(environment: Any) -> None:
    state = state_for(environment)
    while state.phase == RUNNING:
        gevent.sleep(sample_interval_s(environment))
        if state.phase == RUNNING:
            sample_now(environment)


def sample_now(environment: Any, *, final: bool = False) -> dict[str, Any]:
    """Pull the local delta (when not a master), close the interval, write the history row.

    The ``final`` point (at the stop) has rates only if its interval lasted a quarter of the
    sampling interval at least.
    """
    state = state_for(environment)
    if not is_master(environment):
        state.recorder.drain_into(lambda delta: state.aggregate.ingest("local", delta))
    now = time.time()
    min_span_s = sample_interval_s(environment) / 4 if final else 0.0
    point = state.aggregate.sample(now, state.elapsed_s(), min_span_s)
    if environment.stats is not None:  # Locust's own per-second counts and chart points, bounded
        locust_memory.prune(environment.stats, now)
    if state.history is not None:
        state.history.write(point)
    return point


# -- the lifecycle ---------------------------------------------------------------------------------
def begin(environment: Any) -> None:
    """Start a run (``test_start``): read the options again and start every number over."""
    state = state_for(environment)
    parsed = environment.parsed_options
    if parsed is not None and hasattr(parsed, "ws_summary"):
        if is_worker(environment):
            vars(parsed).update(state.worker_own)  # a worker's own --ws-source-ips wins
        try:
            state.settings = settings.from_parsed(parsed, outputs=not is_worker(environment))
        except ConfigError as exc:  # already checked by the form and at start-up: keep the last good ones
            logger.error("loadtest: %s; this run keeps the previous WebSocket options", exc)
    if is_worker(environment):
        state.generation = distributed.generation_from_master(environment) or state.generation + 1
    else:
        state.generation += 1
        if parsed is not None:
            setattr(parsed, distributed.GENERATION_OPTION, state.generation)  # reaches workers with spawn
        if state.run_index >= 1:
            _number_previous_outputs(state)
    state.run_index += 1
    state.phase = RUNNING
    state.result = None
    _start_numbers(environment, state)
    if not is_worker(environment):
        if state.settings.csv_prefix:
            state.history = csv_files.HistoryWriter(state.settings.csv_prefix)
        if state.sampler is None or state.sampler.dead:
            state.sampler = gevent.spawn(_sample_loop, environment)
        from loadtest.plugin import storms  # storms imports the user class, which imports us

        storms.start(environment)


def _start_numbers(environment: Any, state: PluginState) -> None:
    now_ns = time.perf_counter_ns()
    threshold = state.settings.session_options.backpressure_threshold_bytes
    for recorder in (state.recorder, state.aggregate.total, state.aggregate.interval):
        recorder.backpressure_threshold_bytes = threshold
    state.recorder.reset()
    state.loop_lag.reset()  # in place: the sampler holds it
    state.storms.reset(now_ns)
    state.aggregate.reset()
    state.storm_states.clear()
    state.worker_process.clear()
    state.lost_workers.clear()
    state.started_at, state.started_monotonic = time.time(), time.monotonic()
    state.stopped_monotonic = None
    state.cpu_at_start_s = distributed.cpu_now_s()


def reset(environment: Any) -> None:
    """Start the numbers over without stopping (the web UI's Reset, ``--reset-stats``)."""
    state = state_for(environment)
    if is_worker(environment):
        return  # a worker resets when its master says so (MSG_RESET), at the master's generation
    state.generation += 1
    if is_master(environment):
        distributed.tell_workers_to_reset(environment, state.generation)
    if state.phase == STOPPED:  # a reset after the stop starts the next test's numbers early
        state.result = None
    if state.rows is not None:
        state.rows.discard()  # recorded before Locust's rows were reset
    _start_numbers(environment, state)
    if state.phase == STOPPED:
        state.stopped_monotonic = state.started_monotonic
    logger.info("WebSocket numbers reset with Locust's statistics")


def end(environment: Any) -> None:
    """Stop the run (``test_stop``): freeze the clock, summarise, check, write every file."""
    state = state_for(environment)
    if is_worker(environment) or state.phase != RUNNING:
        return
    state.flush_rows()  # Locust's totals in the summary, its CSV and its report are complete
    sample_now(environment, final=True)
    state.phase = STOPPED
    state.stopped_monotonic = time.monotonic()
    result = build_summary(environment)
    verdicts = checks.evaluate(state.settings.checks, result)
    result["checks"] = verdicts
    if state.settings.baseline is not None:
        result["baseline"] = baseline.compare(
            state.settings.baseline, result, state.settings.regressions, state.settings.baseline_path
        )
        verdicts = [*verdicts, *baseline.verdicts(result["baseline"])]
    result["passed"] = all(v["passed"] for v in verdicts)
    state.result = result
    warning = console.saturation(result)
    if warning:
        logger.warning("loadtest: %s", warning)
    real_process = getattr(environment.parsed_options, "ws_summary", None) is not None
    if real_process:
        print(console.render(result), flush=True)
        if result["checks"]:
            print(" checks:\n" + checks.render(result["checks"]), flush=True)
        if "baseline" in result:
            print(baseline.render(result["baseline"]), flush=True)
    failed_outputs = _write_files(environment, state, result)
    if getattr(environment.parsed_options, "headless", False) and environment.host:
        # A headless run is over: Locust writes its own --html report next, from environment.host.
        environment.host = redact_url(environment.host)
    if not result["passed"]:
        failed = sum(not v["passed"] for v in verdicts)
        what = (
            "--ws-check conditions and --ws-regression rules"
            if "baseline" in result
            else "--ws-check conditions"
        )
        logger.error("%d of %d %s failed: exit code %d", failed, len(verdicts), what, EXIT_CHECKS_FAILED)
        environment.process_exit_code = EXIT_CHECKS_FAILED
    elif failed_outputs:
        environment.process_exit_code = EXIT_OUTPUT_FAILED
    elif environment.process_exit_code in (EXIT_CHECKS_FAILED, EXIT_OUTPUT_FAILED):
        environment.process_exit_code = None  # an earlier test's verdict does not decide this one


def finish(environment: Any) -> None:
    """End of the process (``quitting``): stop a run still going; nothing else is left to do."""
    state = state_for(environment)
    state.quitting = True
    if is_worker(environment):
        return
    if state.phase == RUNNING and environment.runner is not None:
        environment.runner.stop()  # fires test_stop (on a master after collecting the workers)
    end(environment)  # a no-op once stopped; ends a run whose runner never fired test_stop


def build_summary(environment: Any) -> dict[str, Any]:
    """Return the run summary of the aggregate (plus Locust's totals and the generators' cost)."""
    state = state_for(environment)
    total = environment.stats.total
    workers = [{"worker": worker, **cost} for worker, cost in state.worker_process.items()]
    result = summary.build(
        state.aggregate.total,
        target=redact_url(environment.host or ""),
        duration_s=state.elapsed_s(),
        locust_totals={
            "requests": total.num_requests,
            "failures": total.num_failures,
            "fail_ratio": round(total.fail_ratio, 6),
            # how many of them reached Locust as one request event each (--ws-request-events)
            "request_events": state.aggregate.total.counters["request_events"],
        },
        process=summary.process_section(distributed.process_cost(state), workers),
    )
    if not is_master(environment) and state.storms.storms:
        state.storm_states["local"] = state.storms.summary()
    result["storms"] = storm.merge(list(state.storm_states.values()))
    result["fanout"]["barrier"] = barrier.current(environment).info()
    if is_master(environment):
        result["workers"] = {"reported": len(state.aggregate.sources_seen), "lost": list(state.lost_workers)}
    result["run"] = _run_section(environment, state)
    result["series"] = list(state.aggregate.series)  # so a later run can draw this one beside it
    return result


def _run_section(environment: Any, state: PluginState) -> dict[str, Any]:
    parsed = environment.parsed_options
    shown = option_values.shown_values(parsed) if parsed is not None and hasattr(parsed, "ws_summary") else {}
    return {
        "index": state.run_index,
        "started_at": round(state.started_at, 3),
        "state": state.phase,
        "locustfile": str(getattr(parsed, "locustfile", "") or ""),
        "user_classes": sorted(cls.__name__ for cls in getattr(environment, "user_classes", []) or []),
        "embedded_target": state.embedded is not None,
        "sample_interval_s": sample_interval_s(environment),
        "points": state.aggregate.points,
        "options": shown,
    }


# -- files ------------------------------------------------------------------------------------------
def output_paths(state: PluginState) -> list[str]:
    """Return every file this run writes (its plain names)."""
    s = state.settings
    paths = [p for p in (s.summary_path, s.report_path, s.junit_path) if p]
    if s.csv_prefix:
        paths += [f"{s.csv_prefix}_ws_{name}.csv" for name in (*csv_files.TABLE_FIELDS, "history")]
    return paths


def numbered(path: str, index: int) -> str:
    """Return ``path`` with the run number before its extension (``run.json`` -> ``run-1.json``)."""
    stem, ext = os.path.splitext(path)
    return f"{stem}-{index}{ext}"


def _number_previous_outputs(state: PluginState) -> None:
    for path in output_paths(state):
        if os.path.exists(path):
            try:
                os.replace(path, numbered(path, state.run_index))
            except OSError as exc:
                logger.error("could not rename %s for the next test: %s", path, exc.strerror)


def _write_files(environment: Any, state: PluginState, result: dict[str, Any]) -> int:
    """Write every requested file; a failure is logged and never stops the others. Return failures."""
    s = state.settings
    writers: list[tuple[str, Any]] = []
    if s.summary_path:
        writers.append((s.summary_path, lambda: summary.write(result, s.summary_path)))
    if s.csv_prefix:
        writers.append((f"{s.csv_prefix}_ws_*.csv", lambda: csv_files.write_tables(s.csv_prefix, result)))
    if s.junit_path:
        rules = baseline.verdicts(result["baseline"]) if "baseline" in result else []
        junit = checks.junit([*result["checks"], *rules], duration_s=result["duration_s"])
        writers.append((s.junit_path, lambda: _write_text(s.junit_path, junit)))
    if s.report_path:

        def report() -> None:
            from loadtest.report import html

            earlier = (s.baseline or {}).get("series") or []
            document = html.render(environment, result, list(state.aggregate.series), baseline_series=earlier)
            _write_text(s.report_path, document)

        writers.append((s.report_path, report))
    if state.history is not None:
        writers.append((state.history.path, state.history.close))
        state.history = None
    failures = 0
    for path, write in writers:
        try:
            write()
        except OSError as exc:
            failures += 1
            logger.error("loadtest: could not write %s: %s", path, exc.strerror or exc)
        else:
            logger.info("WebSocket output written to %s", path)
    return failures


def _write_text(path: str, text: str) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
