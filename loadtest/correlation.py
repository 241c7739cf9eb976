"""Matching replies to requests by a correlation id, without I/O.

A request registers its id and send time; the reader matches the reply's id and gets the round
trip. Ids are small increasing integers per session. Pending entries are bounded: a request that
times out is forgotten by its waiter, so a reply arriving later is counted as uncorrelated, not
as a round trip. A request whose requester stopped waiting (its user was stopped) is abandoned:
it is counted once as outstanding by the caller, and its late reply is recognised and dropped
(neither a round trip nor an uncorrelated reply).
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

    __slots__ = ("_next_id", "_pending", "_abandoned", "max_pending")

    def __init__(self, max_pending: int = 100_000) -> None:
        self._next_id = 0
        self._pending: dict[int, tuple[int, W]] = {}
        self._abandoned: set[int] | None = None  # created on first use: most sessions never need it
        self.max_pending = max_pending

    def __len__(self) -> int:
        return len(self._pending)

    def register(self, sent_ns: int, waiter: W) -> int:
        """Return a new id for a request sent (or scheduled) at ``sent_ns``."""
        if len(self._pending) + len(self._abandoned or ()) >= self.max_pending:
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

    def abandon(self, request_id: int) -> bool:
        """Stop waiting for a pending request's reply; return False if it was not pending."""
        if self._pending.pop(request_id, None) is None:
            return False
        if self._abandoned is None:
            self._abandoned = set()
        self._abandoned.add(request_id)
        return True

    def was_abandoned(self, request_id: object) -> bool:
        """Return True (once) if ``request_id`` is an abandoned request: its reply is dropped."""
        abandoned = self._abandoned
        if not abandoned or type(request_id) is not int or request_id not in abandoned:
            return False
        abandoned.discard(request_id)
        return True

    def fail_all(self, fail: Callable[[W], None]) -> int:
        """Call ``fail`` for every pending waiter (the session ended); return how many."""
        self._abandoned = None
        pending, self._pending = self._pending, {}
        for _, waiter in pending.values():
            fail(waiter)
        return len(pending)
