"""What the target server did, counted exactly, as served at ``GET /stats``."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

#: Distinct source addresses counted one by one; more are counted under "other" (bounded memory).
MAX_SOURCES = 64

if TYPE_CHECKING:
    from loadtest.server.app import TargetConnection
    from loadtest.server.compression import DeflateCounts
    from loadtest.server.dialects import Dialect


class ServerStats:
    """Count handshakes, sessions, closes, messages and auth results exactly (and the dialect's counts)."""

    def __init__(self, dialect: Dialect | None = None, deflate: DeflateCounts | None = None) -> None:
        """Start with every counter at zero (``deflate``: the permessage-deflate counts, if enabled)."""
        self.current = 0
        self.dialect = dialect
        self.deflate = deflate
        self.reset()

    def reset(self) -> None:
        """Zero every counter; ``current`` stays a true gauge and ``peak_concurrent`` restarts from it."""
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.opened = 0
        self.peak = self.current
        self.closes_server: Counter[str] = Counter()
        self.closes_client: Counter[str] = Counter()
        self.abnormal = 0
        self.dropped = 0
        self.received = 0
        self.sent = 0
        self.bytes_received = 0
        self.binary_received = 0
        self.fragmented_received = 0
        self.sources: Counter[str] = Counter()
        self.subprotocols: Counter[str] = Counter()
        self.bytes_sent = 0
        self.auth_ok = 0
        self.auth_failed = 0
        if self.dialect is not None:
            self.dialect.reset()
        if self.deflate is not None:
            self.deflate.reset()

    def session_opened(self, remote: Any = None, subprotocol: str | None = None) -> None:
        """Count an upgrade answered 101 and the session it opened (by source address and subprotocol)."""
        self.accepted += 1
        self.opened += 1
        self.current += 1
        self.peak = max(self.peak, self.current)
        if remote:
            source = str(remote[0])
            known = source in self.sources or len(self.sources) < MAX_SOURCES
            self.sources[source if known else "other"] += 1
        if subprotocol:
            self.subprotocols[str(subprotocol)] += 1

    def session_closed(self, connection: TargetConnection) -> None:
        """Count how a finished session ended, from its closing-handshake state."""
        self.current -= 1
        proto = connection.protocol
        if connection.aborted_by_server:
            self.abnormal += 1
            self.dropped += 1
        elif proto.close_rcvd is not None and (proto.close_sent is None or proto.close_rcvd_then_sent):
            self.closes_client[str(int(proto.close_rcvd.code))] += 1
        elif proto.close_sent is not None:
            self.closes_server[str(int(proto.close_sent.code))] += 1
        else:
            self.abnormal += 1

    def snapshot(self) -> dict[str, Any]:
        """Return the counters in the documented ``/stats`` JSON shape."""
        snapshot: dict[str, Any] = {
            "handshakes": {
                "accepted": self.accepted,
                "rejected": dict(self.rejected),
                "subprotocols": dict(self.subprotocols),
            },
            "sessions": {
                "opened": self.opened,
                "current": self.current,
                "peak_concurrent": self.peak,
                "by_source": dict(self.sources),
            },
            "closes": {
                "server": dict(self.closes_server),
                "client": dict(self.closes_client),
                "abnormal": self.abnormal,
                "dropped": self.dropped,
            },
            "messages": {
                "received": self.received,
                "sent": self.sent,
                "bytes_received": self.bytes_received,
                "bytes_sent": self.bytes_sent,
                "binary_received": self.binary_received,
                "fragmented_received": self.fragmented_received,
            },
            "auth": {"ok": self.auth_ok, "failed": self.auth_failed},
        }
        if self.dialect is not None:
            snapshot[self.dialect.name] = self.dialect.snapshot()
        if self.deflate is not None:
            snapshot["compression"] = self.deflate.snapshot()
        return snapshot
