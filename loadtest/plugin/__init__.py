"""Everything that plugs into Locust: options, the user class, the embedded target, the summary.

Importing this module registers the listeners on Locust's global events, which is what a
locustfile does when it imports :class:`WebSocketUser`.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from typing import Any

from locust import events
from locust.runners import WorkerRunner

from loadtest.config import redact_url, validate_target_url
from loadtest.errors import ConfigError
from loadtest.plugin import options as ws_options
from loadtest.plugin.state import PluginState, set_state, state_for
from loadtest.plugin.user import WebSocketUser
from loadtest.report import console, summary

logger = logging.getLogger("loadtest")

#: Exit status when the options are unusable (before any user starts).
EXIT_CONFIG = 2


def _add_options(parser: Any, **_: Any) -> None:
    ws_options.add_arguments(parser)


def _fail_config(message: str) -> None:
    sys.stderr.write(f"loadtest: {message}\n")
    sys.stderr.flush()
    sys.exit(EXIT_CONFIG)


def _on_init(environment: Any, **_: Any) -> None:
    parsed = environment.parsed_options
    if parsed is None or not hasattr(parsed, "ws_summary"):
        return  # an Environment built in-process: defaults from state_for()
    try:
        state = PluginState(
            session_options=ws_options.session_options(parsed),
            backoff=ws_options.backoff(parsed),
            summary_path=parsed.ws_summary,
        )
        state.recorder.backpressure_threshold_bytes = state.session_options.backpressure_threshold_bytes
        embedded_args = ws_options.embedded_args(parsed)
        if environment.host:
            validate_target_url(environment.host)
    except ConfigError as exc:
        _fail_config(str(exc))
        return
    set_state(environment, state)
    _ENVIRONMENTS.append(environment)
    if not environment.host and not isinstance(environment.runner, WorkerRunner):
        _start_embedded(environment, state, embedded_args)


def _start_embedded(environment: Any, state: PluginState, args: list[str]) -> None:
    from loadtest.server.process import EmbeddedServer  # plain subprocess + sockets: gevent-safe

    server = EmbeddedServer(args)
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        _fail_config(f"no --host given and the embedded target did not start: {exc}")
        return
    state.embedded = server
    environment.host = server.url
    extra = f" with {' '.join(args)}" if args else ""
    logger.info(
        "No --host given: started the embedded target at %s%s; it stops when the run ends", server.url, extra
    )


def _on_test_start(environment: Any, **_: Any) -> None:
    state = state_for(environment)
    state.started_at = time.time()
    state.started_monotonic = time.monotonic()


def _locust_totals(environment: Any) -> dict[str, Any]:
    total = environment.stats.total
    return {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "fail_ratio": round(total.fail_ratio, 6),
    }


def _process_usage() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def build_summary(environment: Any) -> dict[str, Any]:
    """Return the run summary of this process's recorder."""
    state = state_for(environment)
    return summary.build(
        state.recorder,
        target=redact_url(environment.host or ""),
        duration_s=time.monotonic() - state.started_monotonic,
        locust_totals=_locust_totals(environment),
        process=_process_usage(),
    )


#: Environments initialised in this process (Locust's quit event does not carry one).
_ENVIRONMENTS: list[Any] = []


def _on_quit(**_: Any) -> None:
    # Locust fires quit after runner.quit(): users have closed their sessions, counts are final.
    for environment in _ENVIRONMENTS:
        _finish(environment)


def _finish(environment: Any) -> None:
    """Write the summary and print the table once, then stop the embedded target."""
    state = state_for(environment)
    if state.finished:
        return
    state.finished = True
    try:
        if not isinstance(environment.runner, WorkerRunner):
            result = build_summary(environment)
            print(console.render(result), flush=True)
            if state.summary_path:
                summary.write(result, state.summary_path)
                logger.info("WebSocket summary written to %s", state.summary_path)
    finally:
        if state.embedded is not None:
            state.embedded.stop()
            state.embedded = None


events.init_command_line_parser.add_listener(_add_options)
events.init.add_listener(_on_init)
events.test_start.add_listener(_on_test_start)
events.quit.add_listener(_on_quit)

__all__ = ["WebSocketUser", "build_summary"]
