"""The ``--ws-*`` options: one table, from which every route is built.

Each :class:`Option` becomes a Locust command-line option with its ``LOCUST_WS_*`` environment
variable (Locust reads a variable for a custom option only when it is declared with
``env_var``), which also makes it a ``locust.conf`` / ``[tool.locust]`` key and, unless the
table says why not, a field of the web UI form. ``scope`` says where an option takes effect:

* ``session``: how every session connects and measures. Read again at every test start, so the
  web UI form and, on workers, the master's values apply (Locust sends the master's options to
  its workers with every spawn message).
* ``worker``: the same, except that a worker's own explicit value wins over the master's (a
  source address exists only on the host that owns it).
* ``master``: outputs and checks, used where the summary is built (local or master runner); on
  a worker they have no effect and a worker given one says so.
* ``init``: used once at start-up, before the web UI exists (the embedded target's arguments),
  so never in the form.

Scenario options belong to a ``group``; a user class that uses a group declares it in its
``scenario_options`` class attribute, and the web UI form shows only the groups of the loaded
user classes. The table is also what ``loadtest options`` prints and what the option-route
test iterates over; :mod:`loadtest.option_values` builds what a run uses from the parsed values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loadtest.config import COMPRESSION_MODES, TOKEN_MODES
from loadtest.metrics.backoff import STRATEGIES

#: Groups always shown; every other group is a scenario's and is declared by its user class.
CORE_GROUPS = ("session", "reconnect", "output")
SCOPES = ("session", "worker", "master", "init")


@dataclass(frozen=True)
class Option:
    """One ``--ws-*`` option and the routes it takes.

    Attributes:
        flag: the long option, e.g. ``--ws-summary``.
        help: one line for ``--help``, the web UI and ``loadtest options``.
        default: the value when the option is not given.
        type: ``str``, ``int``, ``float`` or ``bool`` (a flag); list options have ``repeat``.
        group: ``session``, ``reconnect``, ``output`` or a scenario group
            (``heartbeat``, ``burst``, ``storm``, ``fanout``, ``har``).
        scope: see the module docstring.
        metavar: the placeholder in ``--help``.
        choices: the allowed values, if any.
        repeat: the option may be given several times (a list).
        secret: never logged, never sent to the browser.
        web_ui_excluded: why the option is not in the web UI form ("" when it is).
    """

    flag: str
    help: str
    default: Any
    type: type = str
    group: str = "session"
    scope: str = "session"
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    repeat: bool = False
    secret: bool = False
    web_ui_excluded: str = ""

    @property
    def dest(self) -> str:
        """Return the attribute name in Locust's parsed options (``ws_summary``)."""
        return self.flag[2:].replace("-", "_")

    @property
    def env_var(self) -> str:
        """Return the environment variable (``LOCUST_WS_SUMMARY``)."""
        return "LOCUST_" + self.dest.upper()

    @property
    def config_key(self) -> str:
        """Return the key in ``locust.conf`` and ``[tool.locust]`` (``ws-summary``)."""
        return self.flag[2:]

    @property
    def in_web_ui(self) -> bool:
        """Return True when the option is a field of the web UI form."""
        return not self.web_ui_excluded

    def argparse_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of ``add_argument`` for this option (a fresh default)."""
        kwargs: dict[str, Any] = {
            "default": list(self.default) if self.repeat else self.default,
            "help": self.help.replace("%", "%%"),  # argparse formats help with %
        }
        if self.type is bool:
            kwargs["action"] = "store_true"
            return kwargs
        if self.repeat:
            kwargs["action"] = "append"
        if self.type is not str:
            kwargs["type"] = self.type
        if self.metavar:
            kwargs["metavar"] = self.metavar
        if self.choices:
            kwargs["choices"] = self.choices
        return kwargs


_CREDENTIALS = "headers and cookies can carry credentials, and the form would show them in its page source"
_INIT = "the embedded target is started before the web UI exists"

OPTIONS: tuple[Option, ...] = (
    # -- sessions ------------------------------------------------------------------------------
    Option("--ws-connect-timeout", "Handshake deadline (DNS+TCP+TLS+upgrade).", 5.0, float, metavar="S"),
    Option("--ws-reply-timeout", "A request without a reply by then fails.", 10.0, float, metavar="S"),
    Option("--ws-send-timeout", "A send blocked longer ends the session.", 10.0, float, metavar="S"),
    Option("--ws-close-timeout", "Wait this long for the close handshake.", 2.0, float, metavar="S"),
    Option(
        "--ws-header",
        "Extra handshake header 'Name: value' (repeatable).",
        [],
        metavar="'NAME: VALUE'",
        repeat=True,
        web_ui_excluded=_CREDENTIALS,
    ),
    Option("--ws-origin", "Origin header of the handshake.", ""),
    Option("--ws-subprotocol", "Subprotocols to offer, comma-separated.", "", metavar="A,B"),
    Option(
        "--ws-cookie",
        "Cookie name=value sent on every handshake (repeatable).",
        [],
        metavar="NAME=VALUE",
        repeat=True,
        web_ui_excluded=_CREDENTIALS,
    ),
    Option("--ws-token", "Auth token (never logged or shown); see --ws-token-mode.", "", secret=True),
    Option(
        "--ws-token-mode",
        "query: ?token=; header: Authorization: Bearer; message: {'type':'auth'} after open.",
        "query",
        choices=TOKEN_MODES,
    ),
    Option("--ws-ca-file", "CA bundle (PEM) to verify wss:// servers.", "", metavar="PEM"),
    Option("--ws-client-cert", "Client certificate (PEM) for wss://.", "", metavar="PEM"),
    Option("--ws-client-key", "Key (PEM) of the client certificate.", "", metavar="PEM"),
    Option("--ws-insecure", "Skip TLS verification (explicit opt-in).", False, bool),
    Option(
        "--ws-sndbuf",
        "SO_SNDBUF per socket; 0 keeps autotuning (which hides backpressure until several MB).",
        0,
        int,
        metavar="BYTES",
    ),
    Option(
        "--ws-backpressure-threshold",
        "Send-queue size counted as a threshold crossing (the guide's 1 MiB bufferedAmount).",
        1 << 20,
        int,
        metavar="BYTES",
    ),
    Option(
        "--ws-max-message-bytes",
        "A server message larger than this ends the session with 1009 (message too big).",
        64 << 20,
        int,
        metavar="BYTES",
    ),
    Option("--ws-compression", "Offer permessage-deflate (RFC 7692).", "off", choices=COMPRESSION_MODES),
    Option(
        "--ws-request-events",
        "Fire Locust's request event once per request, for listeners that need each one; by default "
        "its statistics are fed in batches (the same numbers, a fraction of the CPU).",
        False,
        bool,
    ),
    Option(
        "--ws-source-ips",
        "Local source addresses to spread sessions over, e.g. 127.0.0.2-127.0.0.9 or a,b (one address "
        "reaches one target through at most ~28,000 ephemeral ports); a worker's own value wins.",
        "",
        scope="worker",
        metavar="ADDRS",
    ),
    Option(
        "--ws-sessions-per-user",
        "Sessions each user holds, each reconnecting on its own (a class's sessions_per_user wins).",
        1,
        int,
        metavar="N",
    ),
    # -- reconnects ----------------------------------------------------------------------------
    Option(
        "--ws-reconnect", "Reconnect strategy.", "exponential-jitter", group="reconnect", choices=STRATEGIES
    ),
    Option("--ws-reconnect-base", "First reconnect delay.", 1.0, float, group="reconnect", metavar="S"),
    Option("--ws-reconnect-cap", "Longest reconnect delay.", 30.0, float, group="reconnect", metavar="S"),
    Option(
        "--ws-reconnect-max-attempts",
        "Consecutive failed attempts before a user gives up; 0: never.",
        0,
        int,
        group="reconnect",
        metavar="N",
    ),
    # -- outputs and checks --------------------------------------------------------------------
    Option(
        "--ws-summary",
        "Write the run summary as JSON to PATH when the run stops.",
        "",
        group="output",
        scope="master",
        metavar="PATH",
    ),
    Option(
        "--ws-report",
        "Write a self-contained HTML report to PATH when the run stops.",
        "",
        group="output",
        scope="master",
        metavar="PATH",
    ),
    Option(
        "--ws-junit",
        "Write the --ws-check verdicts as JUnit XML to PATH.",
        "",
        group="output",
        scope="master",
        metavar="PATH",
    ),
    Option(
        "--ws-check",
        "Pass condition on the summary, e.g. 'rtt_ms.p99<250' (repeatable; comma-separated in the web "
        "UI); a failed check exits 3.",
        [],
        group="output",
        scope="master",
        metavar="EXPR",
        repeat=True,
    ),
    Option(
        "--ws-baseline",
        "Compare this run with an earlier run's --ws-summary file (side by side, and with --ws-regression).",
        "",
        group="output",
        scope="master",
        metavar="PATH",
    ),
    Option(
        "--ws-regression",
        "Fail (exit 3) when a metric got worse than the baseline by more than N%: 'rtt_ms.p99:+20%' "
        "(higher is worse), 'sessions.peak_concurrent:-10%' (lower is worse); repeatable.",
        [],
        group="output",
        scope="master",
        metavar="METRIC:±N%",
        repeat=True,
    ),
    Option(
        "--ws-sample-interval",
        "Seconds between time-series points (on a master: rounded up to the workers' report interval).",
        2.0,
        float,
        group="output",
        scope="master",
        metavar="S",
    ),
    Option(
        "--ws-embedded-args",
        "Options for the embedded target started when there is no --host (see `loadtest serve --help`).",
        "",
        group="output",
        scope="init",
        metavar="'ARGS'",
        web_ui_excluded=_INIT,
    ),
    # -- scenario: heartbeat_idle ----------------------------------------------------------------
    Option(
        "--ws-heartbeat-interval",
        "heartbeat_idle: seconds between heartbeats; 0 turns them off.",
        30.0,
        float,
        group="heartbeat",
        metavar="S",
    ),
    Option(
        "--ws-heartbeat-kind",
        "heartbeat_idle: protocol ping/pong frames, or app {'type':'ping'} -> {'type':'pong'}.",
        "protocol",
        group="heartbeat",
        choices=("protocol", "app"),
    ),
    Option(
        "--ws-pong-timeout",
        "heartbeat_idle: a pong missing after this declares the session dead (half-open).",
        10.0,
        float,
        group="heartbeat",
        metavar="S",
    ),
    # -- scenario: burst_send --------------------------------------------------------------------
    Option("--ws-burst-size", "burst_send: messages per burst.", 10, int, group="burst", metavar="N"),
    Option("--ws-message-size", "echo, burst_send: message size.", 64, int, group="message", metavar="BYTES"),
    Option(
        "--ws-burst-interval", "burst_send: seconds between bursts.", 1.0, float, group="burst", metavar="S"
    ),
    Option(
        "--ws-rate",
        "burst_send: a steady rate per session instead of bursts (0: bursts).",
        0.0,
        float,
        group="burst",
        metavar="PER_S",
    ),
    Option("--ws-binary", "burst_send: binary messages instead of JSON text.", False, bool, group="burst"),
    Option(
        "--ws-fragment-size",
        "burst_send: split messages into frames of at most this size (0: one frame).",
        0,
        int,
        group="burst",
        metavar="BYTES",
    ),
    Option(
        "--ws-batch",
        "burst_send: the guide's batcher: up to 10 messages per WebSocket message, within 100 ms.",
        False,
        bool,
        group="burst",
    ),
    # -- scenario: reconnect_storm ---------------------------------------------------------------
    Option(
        "--ws-storm-at",
        "reconnect_storm: every session drops at once S seconds into the run (0: never).",
        0.0,
        float,
        group="storm",
        scope="master",
        metavar="S",
    ),
    Option(
        "--ws-storm-every",
        "reconnect_storm: and again every S seconds (0: once).",
        0.0,
        float,
        group="storm",
        scope="master",
        metavar="S",
    ),
    Option(
        "--ws-reconnect-after-normal",
        "reconnect_storm: reconnect even after a 1000 close (the guide says not to).",
        False,
        bool,
        group="storm",
    ),
    # -- scenario: fanout -------------------------------------------------------------------------
    Option(
        "--ws-topics",
        "fanout: topics fanout-0, fanout-1...; each subscriber takes one, publishers publish on all in turn.",
        1,
        int,
        group="fanout",
        metavar="N",
    ),
    Option(
        "--ws-publishers",
        "fanout: publishers among the -u users (the rest subscribe); they start when all subscribed.",
        1,
        int,
        group="fanout",
        metavar="N",
    ),
    Option(
        "--ws-publish-rate",
        "fanout: messages per second per publisher.",
        10.0,
        float,
        group="fanout",
        metavar="PER_S",
    ),
    Option(
        "--ws-publish-size",
        "fanout: size of each publish message, its stamp included.",
        128,
        int,
        group="fanout",
        metavar="BYTES",
    ),
    Option(
        "--ws-subscribe-settle",
        "fanout: the server acknowledges no subscription: count one in place S after it was sent "
        "(0: wait for the acknowledgement, exact).",
        0.0,
        float,
        group="fanout",
        metavar="S",
    ),
    Option(
        "--ws-fanout-grace",
        "fanout: when the run ends, wait up to S after publishing stopped for deliveries in flight.",
        2.0,
        float,
        group="fanout",
        metavar="S",
    ),
    # -- scenario: HAR replay (loadtest har) -----------------------------------------------------
    Option(
        "--ws-har-speed",
        "har: replay recorded messages this many times faster (2: twice; 0: back to back, no waits).",
        1.0,
        float,
        group="har",
        metavar="FACTOR",
    ),
    # -- protocols over WebSocket (loadtest.protocols) ------------------------------------------
    Option(
        "--ws-socketio-path",
        "socketio: the Engine.IO endpoint under --host (?EIO=4&transport=websocket is added).",
        "/socket.io/",
        group="socketio",
        metavar="PATH",
    ),
    Option(
        "--ws-socketio-namespace", "socketio: the namespace to connect.", "/", group="socketio", metavar="NS"
    ),
    Option(
        "--ws-socketio-event",
        "socketio_chat: the event emitted with an ack (its round trip is the RTT).",
        "echo",
        group="socketio",
        metavar="NAME",
    ),
    Option(
        "--ws-graphql-path",
        "graphql: the endpoint under --host.",
        "/graphql",
        group="graphql",
        metavar="PATH",
    ),
    Option(
        "--ws-graphql-document",
        "graphql_subscription: the operation each task runs: a subscription (followed to its complete) "
        "or a query or mutation (its result is the reply).",
        "subscription { ticks(count: 10, intervalMs: 100) }",
        group="graphql",
        metavar="GRAPHQL",
    ),
    Option("--ws-stomp-path", "stomp: the endpoint under --host.", "/ws", group="stomp", metavar="PATH"),
    Option(
        "--ws-stomp-destination",
        "stomp: the destination subscribed to and sent to.",
        "/topic/loadtest",
        group="stomp",
        metavar="DEST",
    ),
    Option(
        "--ws-stomp-vhost",
        "stomp: the host header of CONNECT (RabbitMQ's virtual host).",
        "/",
        group="stomp",
        metavar="HOST",
    ),
    Option("--ws-stomp-login", "stomp: the login of CONNECT.", "", group="stomp", metavar="USER"),
    Option(
        "--ws-stomp-passcode",
        "stomp: the passcode of CONNECT (never logged or shown).",
        "",
        group="stomp",
        secret=True,
        metavar="PASS",
    ),
    Option(
        "--ws-stomp-heartbeat",
        "stomp: the heart-beat header of CONNECT: send every CX ms, expect every CY ms (0: none).",
        "10000,10000",
        group="stomp",
        metavar="CX,CY",
    ),
)

BY_DEST: dict[str, Option] = {option.dest: option for option in OPTIONS}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(option.group for option in OPTIONS))
SCENARIO_GROUPS: tuple[str, ...] = tuple(group for group in GROUPS if group not in CORE_GROUPS)


def add_arguments(parser: Any) -> None:
    """Add every option of the table to Locust's parser (an argument group per option group)."""
    titles = {
        "session": "WebSocket sessions",
        "reconnect": "WebSocket reconnects",
        "output": "WebSocket outputs and checks",
    }
    for group in GROUPS:
        title = titles.get(group, f"WebSocket scenario options: {group}")
        section = parser.add_argument_group(title)
        for option in (o for o in OPTIONS if o.group == group):
            kwargs = option.argparse_kwargs()
            kwargs["env_var"] = option.env_var
            action = section.add_argument(option.flag, **kwargs)  # configargparse knows env_var
            # What LocustArgumentParser.add_argument would set; an argument group does not call it.
            action.include_in_web_ui = option.in_web_ui
            action.is_secret = option.secret
            action.is_required = False
            action.is_multiple = False


def explicit(parsed: Any, scope: str | None = None) -> dict[str, Any]:
    """Return the options of ``parsed`` (of ``scope``, if given) whose value is not the default."""
    values = {}
    for option in OPTIONS:
        if scope is not None and option.scope != scope:
            continue
        value = getattr(parsed, option.dest, option.default)
        if value != option.default:
            values[option.dest] = value
    return values


def declared_groups(user_classes: Iterable[type]) -> set[str]:
    """Return the scenario groups the user classes declare in ``scenario_options``."""
    groups: set[str] = set()
    for cls in user_classes:
        groups.update(getattr(cls, "scenario_options", ()) or ())
    return groups


def unknown_groups(user_classes: Iterable[type]) -> list[str]:
    """Return "Class: group" for every declared group that is not a scenario group of the table."""
    return [
        f"{cls.__name__}: {group!r}"
        for cls in user_classes
        for group in getattr(cls, "scenario_options", ()) or ()
        if group not in SCENARIO_GROUPS
    ]


def undeclared_in_use(parsed: Any, user_classes: Iterable[type]) -> list[Option]:
    """Return scenario options set away from their default that no loaded user class declares."""
    groups = declared_groups(user_classes)
    return [
        option
        for option in OPTIONS
        if option.group in SCENARIO_GROUPS
        and option.group not in groups
        and getattr(parsed, option.dest, option.default) != option.default
    ]
