"""WebSocket load and soak testing on Locust.

The public API. ``WebSocketUser`` is imported lazily because importing Locust monkey-patches the
process with gevent, and the embedded target server (``python -m loadtest.server``) must never be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadtest.config import SessionOptions
from loadtest.errors import ConfigError, ConnectionEnded, HandshakeFailure, LoadtestError, TargetURLError
from loadtest.metrics.backoff import Backoff

if TYPE_CHECKING:
    from loadtest.plugin.user import WebSocketUser
    from loadtest.session import Session
    from loadtest.traffic import Bursts, ClosedLoop

__all__ = [
    "Backoff",
    "Bursts",
    "ClosedLoop",
    "ConfigError",
    "ConnectionEnded",
    "HandshakeFailure",
    "LoadtestError",
    "Session",
    "SessionOptions",
    "TargetURLError",
    "WebSocketUser",
]


def __getattr__(name: str) -> Any:
    if name == "WebSocketUser":
        from loadtest.plugin import WebSocketUser

        return WebSocketUser
    if name == "Session":
        from loadtest.session import Session

        return Session
    if name in ("ClosedLoop", "Bursts"):  # they drive sessions: gevent, never in the target's process
        from loadtest import traffic

        return getattr(traffic, name)
    raise AttributeError(f"module 'loadtest' has no attribute {name!r}")
