"""Exceptions of the loadtest package.

One root, so callers can catch everything of ours in one clause::

    LoadtestError
    ├── ConfigError           bad options, said in one sentence before any user starts
    │   ├── TargetURLError    a target that is not a ws:// or wss:// URL
    │   └── HarError          a HAR file that cannot be replayed (``loadtest har``)
    ├── HandshakeFailure      a session could not be opened; carries a stable class and hint
    └── ConnectionEnded       an open session ended without our asking (EOF, reset, close frame)

A failed handshake or an ended connection during a run is data: the session turns it into a
sample with a class and never lets it kill a Locust user.
"""

from __future__ import annotations


class LoadtestError(Exception):
    """Root of every exception raised by this package."""


class ConfigError(LoadtestError, ValueError):
    """An option has a value we cannot use; the message says how to fix it."""


class TargetURLError(ConfigError):
    """The target is not a usable WebSocket URL."""


class HarError(ConfigError):
    """A HAR file is unreadable, not a HAR, or has no WebSocket connection to replay."""


class HandshakeFailure(LoadtestError):
    """Opening a session failed.

    Attributes:
        failure_class: stable class such as ``http_403``, ``refused`` or ``tls``.
        detail: stable, id-free text (Locust groups failures by message).
        hint: what to do, when the class's own hint would mislead ("" for the class's).
    """

    def __init__(self, failure_class: str, detail: str, hint: str = "") -> None:
        super().__init__(f"{failure_class}: {detail}")
        self.failure_class = failure_class
        self.detail = detail
        self.hint = hint


class ConnectionEnded(LoadtestError):
    """The transport ended: ``reason`` is ``eof``, ``reset``, ``send_timeout``, ``dead`` or ``error``."""

    def __init__(self, reason: str, *, stall_us: int = 0, queue_bytes: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stall_us = stall_us
        self.queue_bytes = queue_bytes
