"""A seat: one of a user's sessions, through its reconnects.

A ``WebSocketUser`` holds ``sessions_per_user`` seats. Each seat has at most one session at a
time and its own reconnect state (consecutive failures, the storm its loss belongs to), so
reconnects, storms, counts and close accounting stay per session whatever the number of seats.
A seat exists per session for the whole run: it has ``__slots__`` and holds a greenlet only while
it opens, authenticates or backs off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gevent
    from gevent.event import Event

    from loadtest.metrics.storm import Storm
    from loadtest.plugin.user import WebSocketUser
    from loadtest.session import Session
    from loadtest.traffic import Loop


class Seat:
    """One session slot of a user and its reconnect state.

    Attributes:
        user: the user holding the seat.
        index: its place among the user's seats (0 is ``user.ws``).
        ws: its current session (None before the first attempt).
        lifecycle: the greenlet opening it or backing off, while there is one.
        handshaking: set once the handshake under way is answered or failed (while there is one).
        failures: consecutive failed handshakes and refused authentications.
        auth_failed: the current session's auth message was refused or unanswered.
        gave_up: True once it gave up reconnecting.
        lost_storm, lost_ns, lost_attempts: the storm its last loss belongs to, when it was lost
            and the attempts since (for the storm's recovery numbers).
        loop: the traffic the engine sends on its session (a class with ``traffic``).
    """

    __slots__ = (
        "user",
        "index",
        "ws",
        "lifecycle",
        "handshaking",
        "failures",
        "auth_failed",
        "gave_up",
        "lost_storm",
        "lost_ns",
        "lost_attempts",
        "loop",
    )

    def __init__(self, user: WebSocketUser, index: int) -> None:
        self.user = user
        self.index = index
        self.ws: Session | None = None
        self.lifecycle: gevent.Greenlet | None = None
        self.handshaking: Event | None = None
        self.failures = 0
        self.auth_failed = False
        self.gave_up = False
        self.lost_storm: Storm | None = None
        self.lost_ns = 0
        self.lost_attempts = 0
        self.loop: Loop | None = None  # the engine-driven traffic of its session, if the class has one

    def on_end(self, session: Session) -> None:
        """The seat's session ended (called by the session, from the hub or a greenlet)."""
        self.user._on_session_end(self, session)

    def push(self, message: Any) -> None:
        """A push arrived on the seat's session (called from the hub: never blocks)."""
        self.user._push(self, message)


__all__ = ["Seat"]
