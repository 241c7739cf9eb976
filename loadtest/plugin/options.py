"""The ``--ws-*`` command-line options, and turning them into validated option objects.

Every option is also settable as ``LOCUST_WS_*`` in the environment and in ``locust.conf``, and
shows in the web UI (secrets masked), because Locust's own parser carries them.
"""

from __future__ import annotations

import shlex
from typing import Any

from loadtest.config import TOKEN_MODES, SessionOptions
from loadtest.errors import ConfigError
from loadtest.metrics.backoff import STRATEGIES, Backoff


def add_arguments(parser: Any) -> None:
    """Add our options to Locust's parser."""
    add = parser.add_argument  # Locust's own method: it knows include_in_web_ui and is_secret
    add(
        "--ws-summary",
        metavar="PATH",
        default="",
        help="Write the run summary as JSON to PATH at the end of the run.",
    )
    add(
        "--ws-connect-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="Handshake deadline (DNS+TCP+TLS+upgrade).",
    )
    add(
        "--ws-reply-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="A request without a reply by then fails.",
    )
    add(
        "--ws-send-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="A send blocked longer ends the session.",
    )
    add(
        "--ws-close-timeout",
        type=float,
        default=2.0,
        metavar="S",
        help="Wait this long for the close handshake.",
    )
    add(
        "--ws-header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        include_in_web_ui=False,
        help="Extra handshake header (repeatable).",
    )
    add("--ws-origin", default="", help="Origin header of the handshake.")
    add("--ws-subprotocol", default="", metavar="A,B", help="Subprotocols to offer, comma-separated.")
    add(
        "--ws-cookie",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        include_in_web_ui=False,
        help="Cookie sent on every handshake (repeatable).",
    )
    add("--ws-token", default="", is_secret=True, help="Auth token (never logged); see --ws-token-mode.")
    add(
        "--ws-token-mode",
        default="query",
        choices=TOKEN_MODES,
        help="query: ?token=; header: Authorization: Bearer; message: {'type':'auth'} after open.",
    )
    add("--ws-ca-file", default="", metavar="PEM", help="CA bundle to verify wss:// servers.")
    add("--ws-client-cert", default="", metavar="PEM", help="Client certificate for wss://.")
    add("--ws-client-key", default="", metavar="PEM", help="Key of the client certificate.")
    add("--ws-insecure", action="store_true", default=False, help="Skip TLS verification (explicit opt-in).")
    add(
        "--ws-sndbuf",
        type=int,
        default=0,
        metavar="BYTES",
        help="SO_SNDBUF per socket; 0 keeps autotuning (which hides backpressure until several MB).",
    )
    add(
        "--ws-backpressure-threshold",
        type=int,
        default=1 << 20,
        metavar="BYTES",
        help="Send-queue size counted as a threshold crossing (the guide's 1 MiB bufferedAmount).",
    )
    add(
        "--ws-max-message-bytes",
        type=int,
        default=64 << 20,
        metavar="BYTES",
        help="A server message larger than this ends the session with 1009 (message too big).",
    )
    add("--ws-reconnect", default="exponential-jitter", choices=STRATEGIES, help="Reconnect strategy.")
    add("--ws-reconnect-base", type=float, default=1.0, metavar="S", help="First reconnect delay.")
    add("--ws-reconnect-cap", type=float, default=30.0, metavar="S", help="Longest reconnect delay.")
    add(
        "--ws-reconnect-max-attempts",
        type=int,
        default=0,
        metavar="N",
        help="Consecutive failed attempts before a user gives up; 0: never.",
    )
    add(
        "--ws-source-ips",
        default="",
        metavar="ADDRS",
        help="Local source addresses to spread sessions over, e.g. 127.0.0.2-127.0.0.9 or a,b "
        "(one address reaches one target through at most ~28,000 ephemeral ports).",
    )
    add(
        "--ws-check",
        action="append",
        default=[],
        metavar="EXPR",
        include_in_web_ui=False,
        help="Pass condition on the summary, e.g. 'rtt_ms.p99<250' (repeatable); a failed check exits 3.",
    )
    add("--ws-junit", default="", metavar="PATH", help="Write the --ws-check verdicts as JUnit XML to PATH.")
    add(
        "--ws-report",
        default="",
        metavar="PATH",
        help="Write a self-contained HTML report to PATH at the end.",
    )
    add(
        "--ws-sample-interval",
        type=float,
        default=2.0,
        metavar="S",
        help="Seconds between time-series points (web UI charts, CSV history, HTML report).",
    )
    add(
        "--ws-embedded-args",
        default="",
        metavar="'ARGS'",
        help="Options for the embedded target started when there is no --host (see `loadtest serve --help`).",
    )


def add_scenario_arguments(parser: Any) -> None:
    """Add the knobs of the heartbeat, burst and storm scenarios (``scenarios/``)."""
    add = parser.add_argument
    add(
        "--ws-heartbeat-interval",
        type=float,
        default=30.0,
        metavar="S",
        help="heartbeat_idle: seconds between heartbeats; 0 turns them off.",
    )
    add(
        "--ws-heartbeat-kind",
        default="protocol",
        choices=("protocol", "app"),
        help="heartbeat_idle: protocol ping/pong frames, or app {'type':'ping'} -> {'type':'pong'}.",
    )
    add(
        "--ws-pong-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="heartbeat_idle: a pong missing after this declares the session dead (half-open).",
    )
    add("--ws-burst-size", type=int, default=10, metavar="N", help="burst_send: messages per burst.")
    add("--ws-message-size", type=int, default=64, metavar="BYTES", help="burst_send: size of each message.")
    add(
        "--ws-burst-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="burst_send: seconds between bursts.",
    )
    add(
        "--ws-rate",
        type=float,
        default=0.0,
        metavar="PER_S",
        help="burst_send: a steady rate per session instead of bursts (0: bursts).",
    )
    add(
        "--ws-binary",
        action="store_true",
        default=False,
        help="burst_send: binary messages instead of JSON text.",
    )
    add(
        "--ws-fragment-size",
        type=int,
        default=0,
        metavar="BYTES",
        help="burst_send: split messages into frames of at most this size (0: one frame).",
    )
    add(
        "--ws-batch",
        action="store_true",
        default=False,
        help="burst_send: the guide's batcher: up to 10 messages per WebSocket message, within 100 ms.",
    )
    add(
        "--ws-storm-at",
        type=float,
        default=0.0,
        metavar="S",
        help="reconnect_storm: every session drops at once S seconds into the run (0: never).",
    )
    add(
        "--ws-storm-every",
        type=float,
        default=0.0,
        metavar="S",
        help="reconnect_storm: and again every S seconds (0: once).",
    )
    add(
        "--ws-reconnect-after-normal",
        action="store_true",
        default=False,
        help="reconnect_storm: reconnect even after a 1000 close (the guide says not to).",
    )


def _pairs(values: list[str], sep: str, what: str, example: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, found, rest = value.partition(sep)
        if not found or not name.strip():
            raise ConfigError(f"{what} {value.split(sep)[0]!r}... is malformed: write it as {example}")
        out[name.strip()] = rest.strip()
    return out


def session_options(options: Any) -> SessionOptions:
    """Build :class:`SessionOptions` from parsed Locust options (raises ConfigError)."""
    headers = _pairs(options.ws_header, ":", "header", "'Name: value'")
    return SessionOptions(
        connect_timeout_s=options.ws_connect_timeout,
        reply_timeout_s=options.ws_reply_timeout,
        send_timeout_s=options.ws_send_timeout,
        close_timeout_s=options.ws_close_timeout,
        headers=headers,
        origin=options.ws_origin or None,
        subprotocols=tuple(p.strip() for p in options.ws_subprotocol.split(",") if p.strip()),
        cookies=_pairs(options.ws_cookie, "=", "cookie", "name=value"),
        token=options.ws_token or None,
        token_mode=options.ws_token_mode,
        ca_file=options.ws_ca_file or None,
        client_cert=options.ws_client_cert or None,
        client_key=options.ws_client_key or None,
        insecure=options.ws_insecure,
        sndbuf_bytes=options.ws_sndbuf,
        backpressure_threshold_bytes=options.ws_backpressure_threshold,
        max_message_bytes=options.ws_max_message_bytes,
    )


def backoff(options: Any) -> Backoff:
    """Build the reconnect :class:`Backoff` from parsed Locust options."""
    return Backoff(
        strategy=options.ws_reconnect,
        base_s=options.ws_reconnect_base,
        cap_s=options.ws_reconnect_cap,
        max_attempts=options.ws_reconnect_max_attempts,
    )


def embedded_args(options: Any) -> list[str]:
    """Return the embedded server's extra arguments."""
    try:
        return shlex.split(options.ws_embedded_args or "")
    except ValueError as exc:
        raise ConfigError(f"--ws-embedded-args cannot be split into arguments: {exc}") from exc


def positive(value: float, name: str) -> float:
    """Return ``value`` if it is a positive number of seconds."""
    if value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, not {value:g}")
    return value
