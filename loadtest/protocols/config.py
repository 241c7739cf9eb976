"""The protocol options checked before any user starts (a bad value is exit 2, one sentence)."""

from __future__ import annotations

from typing import Any

from loadtest.errors import ConfigError
from loadtest.protocols import graphql_messages, stomp_frames


def check(parsed: Any) -> None:
    """Raise ``ConfigError`` for the first unusable protocol option of ``parsed`` (Locust's options)."""
    for dest in ("ws_socketio_path", "ws_socketio_namespace", "ws_graphql_path", "ws_stomp_path"):
        value = str(getattr(parsed, dest, "/") or "/")
        if not value.startswith("/"):
            flag = "--" + dest.replace("_", "-")
            raise ConfigError(f"{flag} {value!r} must start with '/', e.g. /{value}")
    try:
        stomp_frames.parse_heart_beat(str(getattr(parsed, "ws_stomp_heartbeat", "0,0")))
    except stomp_frames.FrameError as exc:
        raise ConfigError(f"--ws-stomp-heartbeat: {exc}: write it as CX,CY in ms, e.g. 10000,10000") from exc
    document = str(getattr(parsed, "ws_graphql_document", "{ __typename }"))
    try:
        graphql_messages.operation_type(document)
    except graphql_messages.MessageError as exc:
        raise ConfigError(f"--ws-graphql-document: {exc}, e.g. 'subscription {{ ticks }}'") from exc
