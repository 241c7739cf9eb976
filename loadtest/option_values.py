"""Values built from Locust's parsed ``--ws-*`` options: session options, backoff, shown values.

The table itself (:mod:`loadtest.options`) says what each option is; this module turns a parsed
namespace into the objects a run uses, and into what a summary may show of it (no secret).
"""

from __future__ import annotations

import shlex
from typing import Any

from loadtest.config import SessionOptions
from loadtest.errors import ConfigError
from loadtest.metrics.backoff import Backoff
from loadtest.options import BY_DEST, explicit


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
        compression=options.ws_compression,
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


def redact_args(args: list[str]) -> str:
    """Return the embedded target's arguments for people, with its ``--token`` value hidden."""
    shown: list[str] = []
    for arg in args:
        if shown and shown[-1] == "--token":
            arg = "***"
        elif arg.startswith("--token="):
            arg = "--token=***"
        shown.append(arg)
    return " ".join(shown)


def shown_values(parsed: Any) -> dict[str, Any]:
    """Return the options set away from their defaults, as a summary may show them: no secret."""
    shown: dict[str, Any] = {}
    for dest, value in explicit(parsed).items():
        if BY_DEST[dest].secret:
            value = "***"
        elif dest == "ws_embedded_args":
            value = redact_args(embedded_args(parsed))
        elif dest in ("ws_header", "ws_cookie"):  # names only: the values can be credentials
            value = [
                str(item).split(":" if dest == "ws_header" else "=")[0].strip() + " (set)" for item in value
            ]
        shown[dest] = value
    return shown


def positive(value: float, name: str) -> float:
    """Return ``value`` if it is a positive number of seconds."""
    if value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, not {value:g}")
    return value
