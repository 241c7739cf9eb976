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

from loadtest.config import validate_target_url
from loadtest.errors import ConfigError
from loadtest.metrics.aggregate import Aggregate
from loadtest.metrics.recorder import Recorder
from loadtest.plugin import lost, run, scale, storms
from loadtest.plugin import options as ws_options
from loadtest.plugin.state import PluginState, set_state, state_for
from loadtest.plugin.user import WebSocketUser
from loadtest.report import checks, csv_files, summary

logger = logging.getLogger("loadtest")

#: Exit status when the options are unusable (before any user starts).
EXIT_CONFIG = 2


def _add_options(parser: Any, **_: Any) -> None:
    ws_options.add_arguments(parser)
    ws_options.add_scenario_arguments(parser)


def _fail_config(message: str) -> None:
    sys.stderr.write(f"loadtest: {message}\n")
    sys.stderr.flush()
    sys.exit(EXIT_CONFIG)


def _on_init(environment: Any, **kwargs: Any) -> None:
    parsed = environment.parsed_options
    if parsed is None or not hasattr(parsed, "ws_summary"):
        return  # an Environment built in-process: defaults from state_for()
    try:
        session_options = ws_options.session_options(parsed)
        threshold = session_options.backpressure_threshold_bytes
        template = summary.build(Recorder(), target="", duration_s=0.0)
        state = PluginState(
            session_options=session_options,
            backoff=ws_options.backoff(parsed),
            recorder=Recorder(backpressure_threshold_bytes=threshold),
            aggregate=Aggregate(backpressure_threshold_bytes=threshold),
            checks=[checks.parse(text, template) for text in parsed.ws_check],
            summary_path=parsed.ws_summary,
            report_path=parsed.ws_report,
            junit_path=parsed.ws_junit,
            csv_prefix=parsed.csv_prefix or "",
            sample_interval_s=ws_options.positive(parsed.ws_sample_interval, "--ws-sample-interval"),
            source_ips=scale.SourceIPs.parse(parsed.ws_source_ips),
        )
        embedded_args = ws_options.embedded_args(parsed)
        if environment.host:
            validate_target_url(environment.host)
    except ConfigError as exc:
        _fail_config(str(exc))
        return
    set_state(environment, state)
    _ENVIRONMENTS.append(environment)
    run.install_distributed(environment)
    storms.install(environment)
    lost.install(environment)
    _raise_open_files(environment)
    if run.is_worker(environment):
        return
    if state.csv_prefix:
        state.history = csv_files.HistoryWriter(state.csv_prefix)
    if web_ui := kwargs.get("web_ui"):
        from loadtest.plugin import web

        web.install(environment, web_ui)
    if not environment.host:
        _start_embedded(environment, state, embedded_args)


def _raise_open_files(environment: Any) -> None:
    """Raise the open-files soft limit to what the sessions need, or say how to raise the hard one."""
    if run.is_worker(environment):  # a worker does not know its share of -u: take all it may
        wanted = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    else:
        wanted = scale.nofile_wanted(int(getattr(environment.parsed_options, "num_users", None) or 0))
    warning = scale.raise_nofile(wanted)
    if warning:
        logger.warning(warning)


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
    if not state.storms.origin_ns:
        state.storms.origin_ns = time.perf_counter_ns()
    if state.sampler is None:
        storms.start(environment)
    run.start_sampler(environment)


#: Environments initialised in this process (Locust's quit event does not carry one).
_ENVIRONMENTS: list[Any] = []


def _on_quitting(environment: Any, **_: Any) -> None:
    # Before Locust computes its exit code: stop users, collect, summarise, check, write.
    run.finish(environment)


def _on_quit(**_: Any) -> None:
    for environment in _ENVIRONMENTS:
        run.finish(environment)  # a no-op when quitting already finished the run
        state = state_for(environment)
        if state.embedded is not None:
            state.embedded.stop()
            state.embedded = None


def build_summary(environment: Any) -> dict[str, Any]:
    """Return the run summary as it stands (final once the run has finished)."""
    state = state_for(environment)
    return state.result if state.result is not None else run.build_summary(environment)


events.init_command_line_parser.add_listener(_add_options)
events.init.add_listener(_on_init)
events.test_start.add_listener(_on_test_start)
events.quitting.add_listener(_on_quitting)
events.quit.add_listener(_on_quit)

__all__ = ["WebSocketUser", "build_summary"]
