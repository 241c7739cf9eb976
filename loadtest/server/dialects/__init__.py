"""What the embedded target speaks besides its plain echo: ``--dialect socketio|graphql-ws|stomp``.

A dialect serves a session after the handshake (in place of the echo) and counts, exactly, what
it received and sent at its protocol's level; ``GET /stats`` shows those counts under the
dialect's name (``socketio``, ``graphql``, ``stomp``) beside the usual ones. Every message a
dialect sends goes through the target's ``send`` so ``messages.sent`` stays exact too. Counters
keyed by a name the client chooses (a namespace, an event) are bounded like the target's others.

The codecs are the ones the load generator uses (:mod:`loadtest.protocols`), so both ends are
tested against third-party implementations: python-socketio, strawberry-graphql, RabbitMQ.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from loadtest.server.app import TargetConnection
    from loadtest.server.options import ServerOptions

__all__ = ["DIALECTS", "Dialect", "SendText", "bump", "create", "default_path"]

#: The target's dialects; ``echo`` is the plain echo server it has always been.
DIALECTS = ("echo", "socketio", "graphql-ws", "stomp")

#: Distinct client-chosen keys counted one by one; more are counted under "other".
MAX_KEYS = 64

SendText = Callable[["TargetConnection", str], Awaitable[None]]


def bump(counter: Counter[str], key: str, n: int = 1) -> None:
    """Add to ``counter[key]``, under ``other`` once ``MAX_KEYS`` distinct keys exist (bounded memory)."""
    counter[key if key in counter or len(counter) < MAX_KEYS else "other"] += n


class Dialect:
    """One protocol served over the target's sessions (subclasses below)."""

    name: ClassVar[str] = ""  # its key in /stats
    path: ClassVar[str] = ""  # where it is served unless --path says otherwise
    subprotocols: ClassVar[tuple[str, ...]] = ()  # offered in the handshake, first preferred

    def __init__(self, options: ServerOptions, send: SendText) -> None:
        """Keep the options and the target's counted ``send``; start the counters at zero."""
        self.options = options
        self.send = send
        self.reset()

    def reset(self) -> None:
        """Zero the counters (``GET /stats?reset=1``)."""

    def snapshot(self) -> dict[str, Any]:
        """Return the counters for ``/stats``."""
        return {}

    async def serve(self, connection: TargetConnection) -> None:
        """Serve one session until it closes (``ConnectionClosed`` may escape)."""
        raise NotImplementedError


def default_path(dialect: str) -> str:
    """Return where a dialect is served by default (``""``: any path, the echo)."""
    cls = _classes().get(dialect)
    return cls.path if cls is not None else ""


def create(options: ServerOptions, send: SendText) -> Dialect | None:
    """Return the dialect of ``options`` (None for the plain echo)."""
    cls = _classes().get(options.dialect)
    return None if cls is None else cls(options, send)


def _classes() -> dict[str, type[Dialect]]:
    from loadtest.server.dialects.graphql_ws import GraphQLDialect
    from loadtest.server.dialects.socketio import SocketIODialect
    from loadtest.server.dialects.stomp import StompDialect

    return {"socketio": SocketIODialect, "graphql-ws": GraphQLDialect, "stomp": StompDialect}
