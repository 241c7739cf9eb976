"""Everything that plugs into Locust: options, the user class, the embedded target, the run's life.

Importing this module registers the listeners on Locust's global events, which is what a
locustfile does when it imports :class:`WebSocketUser`.
"""

from __future__ import annotations

import logging
import resource
import sys
from typing import Any

import gevent
from locust import events

from loadtest import option_values
from loadtest import options as ws_options
from loadtest.config import validate_target_url
from loadtest.engine import LoopLag
from loadtest.errors import ConfigError
from loadtest.plugin import barrier, distributed, locust_outputs, lost, run, scale, settings, storms
from loadtest.plugin.state import PluginState, set_state, state_for
from loadtest.plugin.user import WebSocketUser
from loadtest.plugin.web_form import loaded_user_classes

logger = logging.getLogger("loadtest")

# gevent records, for every greenlet, who spawned it (a _Frame per level of the spawn tree: ~10
# records per user). Nothing here reads that tree; an idle session should not pay for it.
gevent.config.track_greenlet_tree = False

#: Exit status when the options are unusable (before any user starts).
EXIT_CONFIG = 2


def _add_options(parser: Any, **_: Any) -> None:
    ws_options.add_arguments(parser)


def _fail_config(message: str) -> None:
    sys.stderr.write(f"loadtest: {message}\n")
    sys.stderr.flush()
    sys.exit(EXIT_CONFIG)


def _on_init(environment: Any, **kwargs: Any) -> None:
    parsed = environment.parsed_options
    if parsed is None or not hasattr(parsed, "ws_summary"):
        return  # an Environment built in-process: defaults from state_for()
    worker = distributed.is_worker(environment)
    try:
        run_settings = settings.from_parsed(parsed, outputs=not worker)
        embedded_args = option_values.embedded_args(parsed)
        if environment.host:
            validate_target_url(environment.host)
        unknown = ws_options.unknown_groups(loaded_user_classes(environment))
        if unknown:
            known = ", ".join(ws_options.SCENARIO_GROUPS)
            raise ConfigError(f"scenario_options names unknown groups ({'; '.join(unknown)}): use {known}")
    except ConfigError as exc:
        _fail_config(str(exc))
        return
    state = PluginState(settings=run_settings)
    if worker:
        # What the master sends replaces a worker's options; a worker's own source addresses stay.
        state.worker_own = ws_options.explicit(parsed, scope="worker")
    set_state(environment, state)
    _ENVIRONMENTS.append(environment)
    _warn_about_ignored_options(environment, parsed, worker)
    barrier.install(environment)  # first: its test_stopping listener must not wait behind the master's
    distributed.install(environment)
    storms.install(environment)
    _LAG_SAMPLERS.append(LoopLag(state.loop_lag.record))  # lives as long as the process
    lost.install(environment)
    _raise_open_files(environment)
    # Locust arms its -t timer right after this event with gevent.spawn_later, which counts from
    # the event loop's cached clock; after a slow start-up (imports, a loaded machine) that clock
    # is seconds stale and the run would end early by as much. Refresh it.
    gevent.get_hub().loop.update_now()
    if worker:
        return
    if web_ui := kwargs.get("web_ui"):
        from loadtest.plugin import web, web_form

        web.install(environment, web_ui)
        web_form.install(environment, web_ui)
    if not environment.host:
        try:
            embedded_args = _with_dialect(embedded_args, loaded_user_classes(environment))
        except ConfigError as exc:
            _fail_config(str(exc))
            return
        _start_embedded(environment, state, embedded_args)


def _warn_about_ignored_options(environment: Any, parsed: Any, worker: bool) -> None:
    """Say once, at start-up, which given options will have no effect in this process."""
    for option in ws_options.undeclared_in_use(parsed, loaded_user_classes(environment)):
        logger.warning(
            "loadtest: %s is set but no loaded user class declares the %r scenario options "
            "(scenario_options); it has no effect here",
            option.flag,
            option.group,
        )
    if worker:
        for dest in ws_options.explicit(parsed, scope="master"):
            logger.warning(
                "loadtest: %s has no effect on a worker: give it to the master", ws_options.BY_DEST[dest].flag
            )


def _raise_open_files(environment: Any) -> None:
    """Raise the open-files soft limit to what the sessions need, or say how to raise the hard one."""
    if distributed.is_worker(environment):  # a worker does not know its share of -u: take all it may
        wanted = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    else:
        parsed = environment.parsed_options
        users = int(getattr(parsed, "num_users", None) or 0)
        wanted = scale.nofile_wanted(users * max(1, int(getattr(parsed, "ws_sessions_per_user", 1) or 1)))
    warning = scale.raise_nofile(wanted)
    if warning:
        logger.warning(warning)


def _with_dialect(args: list[str], user_classes: list[type]) -> list[str]:
    """Add ``--dialect`` for user classes that speak a protocol (``embedded_dialect``), unless given."""
    wanted = sorted({d for cls in user_classes if (d := getattr(cls, "embedded_dialect", ""))})
    if not wanted or any(arg == "--dialect" or arg.startswith("--dialect=") for arg in args):
        return args
    if len(wanted) > 1:
        raise ConfigError(
            f"the user classes speak {' and '.join(wanted)}, and the embedded target speaks one "
            "protocol: give --host, or run them separately"
        )
    return ["--dialect", wanted[0], *args]


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
    extra = f" with {option_values.redact_args(args)}" if args else ""
    logger.info(
        "No --host given: started the embedded target at %s%s; it stops when the run ends", server.url, extra
    )


def _on_test_start(environment: Any, **_: Any) -> None:
    run.begin(environment)


def _on_reset_stats(**_: Any) -> None:
    for environment in _ENVIRONMENTS:  # Locust's reset event carries no environment
        run.reset(environment)


def _on_spawning_complete(environment: Any = None, **_: Any) -> None:
    for env in [environment] if environment is not None else _ENVIRONMENTS:
        if getattr(env, "reset_stats", False):  # --reset-stats: Locust resets its numbers now, so do we
            run.reset(env)


def _on_test_stop(environment: Any, **_: Any) -> None:
    run.end(environment)


#: Environments initialised in this process (Locust's quit and reset events do not carry one).
_ENVIRONMENTS: list[Any] = []
#: The event-loop lag samplers of those environments.
_LAG_SAMPLERS: list[LoopLag] = []


def _on_quitting(environment: Any, **_: Any) -> None:
    # Before Locust computes its exit code: stop a run still going, so its files are written.
    run.finish(environment)


def _on_quit(**_: Any) -> None:
    for environment in _ENVIRONMENTS:
        run.finish(environment)  # a no-op when quitting already finished the run
        locust_outputs.write_html(environment)
        state = state_for(environment)
        if state.embedded is not None:
            state.embedded.stop()
            state.embedded = None


def build_summary(environment: Any) -> dict[str, Any]:
    """Return the run summary as it stands (final once the run has stopped)."""
    state = state_for(environment)
    return state.result if state.result is not None else run.build_summary(environment)


distributed.cache_default_args()  # a worker's spawn messages cost a parser each otherwise
locust_outputs.install()
events.init_command_line_parser.add_listener(_add_options)
events.init.add_listener(_on_init)
events.test_start.add_listener(_on_test_start)
events.reset_stats.add_listener(_on_reset_stats)
events.spawning_complete.add_listener(_on_spawning_complete)
events.test_stop.add_listener(_on_test_stop)
events.quitting.add_listener(_on_quitting)
events.quit.add_listener(_on_quit)

__all__ = ["WebSocketUser", "build_summary"]
