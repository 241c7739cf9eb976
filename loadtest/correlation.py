"""Matching replies to requests by a correlation id, without I/O.

A request registers its id and send time; the reader matches the reply's id and gets the round
trip. Ids are small increasing integers per session. Pending entries are bounded: a request that
times out is forgotten by its waiter, so a reply arriving later is counted as uncorrelated, not
as a round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

W = TypeVar("W")


class Correlator(Generic[W]):
    """Pending requests of one session: id -> (send time in ns, waiter).

    Args:
        max_pending: more outstanding requests than this is a scenario bug; refuse them.
    """

    __slots__ = ("_next_id", "_pending", "max_pending")

    def __init__(self, max_pending: int = 100_000) -> None:
        self._next_id = 0
        self._pending: dict[int, tuple[int, W]] = {}
        self.max_pending = max_pending

    def __len__(self) -> int:
        return len(self._pending)

    def register(self, sent_ns: int, waiter: W) -> int:
        """Return a new id for a request sent (or scheduled) at ``sent_ns``."""
        if len(self._pending) >= self.max_pending:
            raise OverflowError(f"more than {self.max_pending} requests awaiting replies")
        self._next_id += 1
        self._pending[self._next_id] = (sent_ns, waiter)
        return self._next_id

    def match(self, request_id: object, received_ns: int) -> tuple[int, W] | None:
        """Return ``(rtt_ns, waiter)`` for a reply, or None when the id is unknown or expired."""
        if type(request_id) is not int:
            return None
        entry = self._pending.pop(request_id, None)
        if entry is None:
            return None
        return received_ns - entry[0], entry[1]

    def forget(self, request_id: int) -> bool:
        """Drop a request that timed out; return False if it was already matched."""
        return self._pending.pop(request_id, None) is not None

    def fail_all(self, fail: Callable[[W], None]) -> int:
        """Call ``fail`` for every pending waiter (the session ended); return how many."""
        pending, self._pending = self._pending, {}
        for _, waiter in pending.values():
            fail(waiter)
        return len(pending)
