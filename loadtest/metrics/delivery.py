"""Which published messages a subscription got: exact loss, duplicates and reordering, no I/O.

Publishers stamp each message's data with a :class:`Stamp` (publisher id, sequence number per
topic from 1, send time, host). A subscriber keeps one :class:`Subscription` per subscribed
session and topic, from the server's acknowledgement to the session's end, and hands it every
delivery. At the end, :meth:`Subscription.settle` says what the subscription was entitled to and
what it got, as counts that add up across subscribers, workers and the master
(:mod:`loadtest.report.fanout` does the adding).

Two ways to know the entitlement:

* **ordinal** (the embedded target, and any server that numbers the publishes of a topic in its
  acknowledgements and events): the acknowledgement says the topic had ``A`` publishes, so the
  subscription is entitled to the publishes numbered ``A+1`` up to its end. The end is the
  ordinal a *fence* answers (subscribing again once publishing is over), or, for a session that
  ended during the run, the last ordinal that arrived. Exact at both edges.
* **sequence** (other servers): per publisher, its sequence numbers. A subscription in place
  before publishing started (the barrier) is entitled to every message from number 1; one
  acknowledged later starts at the first number that arrived (a message lost just after a
  mid-run subscription cannot be told from one published before it).

Memory is bounded: per stream, the highest number seen, the gaps below it still waiting for a
late arrival (at most :data:`MAX_PENDING`; beyond, the oldest gaps are given up as lost) and a few
counters. Never a list of the messages.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from loadtest.metrics.recorder import Recorder

__all__ = ["MAX_PENDING", "STAMP_KEY", "Settlement", "Stamp", "Stream", "Subscription", "read_stamp"]

#: The key of the stamp inside a published message's data.
STAMP_KEY = "lt"
#: Gaps kept per stream waiting for a late arrival; an older gap is given up (counted lost, and a
#: copy that still arrives is counted as a duplicate: it cannot be told from one).
MAX_PENDING = 1024


@dataclass(frozen=True)
class Stamp:
    """What a publisher puts in each message: who, which, when, and on which host's clock."""

    publisher: str
    seq: int
    sent_ns: int  # time.monotonic_ns() on the publisher's host
    host: str  # the boot id: monotonic clocks compare only within one boot of one host

    def as_data(self) -> dict[str, Any]:
        """Return the stamp as it travels (short keys: it rides on every message)."""
        return {"p": self.publisher, "s": self.seq, "t": self.sent_ns, "h": self.host}


def read_stamp(data: Any) -> Stamp | None:
    """Return the stamp in a message's data, or None when it has none (not one of ours)."""
    stamp = data.get(STAMP_KEY) if isinstance(data, dict) else None
    if not isinstance(stamp, dict):
        return None
    publisher, seq, sent_ns, host = stamp.get("p"), stamp.get("s"), stamp.get("t"), stamp.get("h")
    if not (isinstance(publisher, str) and isinstance(host, str)):
        return None
    if type(seq) is not int or type(sent_ns) is not int:
        return None
    return Stamp(publisher, seq, sent_ns, host)


class Stream:
    """Numbers ``start, start+1, ...`` as one subscriber received them, in any order, maybe twice."""

    __slots__ = ("delivered", "duplicated", "given_up", "reordered", "start", "top", "_gaps", "_order")

    def __init__(self, start: int) -> None:
        """Expect numbers from ``start`` on (numbers below it are not this subscriber's)."""
        self.start = start
        self.top = start - 1  # the highest number received
        self.delivered = 0  # distinct numbers received
        self.duplicated = 0
        self.reordered = 0  # numbers that arrived after a higher one
        self.given_up = 0  # gaps dropped from the pending set (see MAX_PENDING)
        self._gaps: set[int] = set()  # numbers up to top not received yet (and not given up)
        self._order: deque[int] = deque()  # the gaps, oldest first (filled ones removed lazily)

    def arrive(self, number: int) -> bool:
        """Count one arrival; return True for the first copy of a number this stream expects."""
        if number > self.top:
            self._open_gaps(self.top + 1, number)
            self.top = number
        elif number in self._gaps:
            self._gaps.discard(number)
            self.reordered += 1
            if not self._gaps:
                self._order.clear()
        elif number < self.start:
            return False  # published before this subscription: not ours, not a duplicate
        else:
            self.duplicated += 1
            return False
        self.delivered += 1
        return True

    @property
    def missing(self) -> int:
        """Return the numbers up to ``top`` not received (gaps still pending and given up)."""
        return len(self._gaps) + self.given_up

    def _open_gaps(self, low: int, high: int) -> None:
        """Record the numbers ``low .. high-1`` as missing, giving up the oldest beyond the bound."""
        if high - low >= MAX_PENDING:  # a jump: everything pending before it is given up
            self.given_up += len(self._gaps) + (high - MAX_PENDING - low)
            self._gaps.clear()
            self._order.clear()
            low = high - MAX_PENDING
        for number in range(low, high):
            self._gaps.add(number)
            self._order.append(number)
        while len(self._gaps) > MAX_PENDING:
            oldest = self._order.popleft()
            if oldest in self._gaps:
                self._gaps.discard(oldest)
                self.given_up += 1
        if len(self._order) > 2 * MAX_PENDING:  # filled gaps linger in the deque: compact it
            self._order = deque(n for n in self._order if n in self._gaps)


@dataclass
class Settlement:
    """What one subscription adds to the run's counts when it ends (see the module docstring).

    ``expected`` holds what the subscription could count itself; a subscription still open at
    the end in sequence mode is entitled to every message its publishers sent after its start,
    which only the master knows: ``from_start`` (entitled to all of them) or, per heard
    publisher, ``open_starts`` (the number before its first entitled one).
    """

    delivered: int = 0
    expected: int = 0
    duplicated: int = 0
    reordered: int = 0
    from_start: bool = False
    open_starts: dict[str, int] = field(default_factory=dict)
    ended_early: bool = False
    mode: str = "sequence"

    def record(self, recorder: Recorder, topic: str) -> None:
        """Add this settlement of a subscription to ``topic`` to the recorder's fan-out counts."""
        for name, value in (
            ("fanout_delivered", self.delivered),
            ("fanout_expected", self.expected),
            ("fanout_duplicated", self.duplicated),
            ("fanout_reordered", self.reordered),
            ("fanout_ended_early", int(self.ended_early)),
        ):
            recorder.count(name, value)
        recorder.count_keyed("fanout_modes", self.mode)
        if self.from_start:
            recorder.count_keyed("fanout_from_start", topic)
        for publisher, before in self.open_starts.items():
            key = f"{publisher}|{topic}"
            recorder.count_keyed("fanout_open_streams", key)
            recorder.count_keyed("fanout_open_start", key, before)


class Subscription:
    """One session's subscription to one topic, from its acknowledgement to its end."""

    def __init__(self, topic: str, *, ordinal: int | None, from_start: bool) -> None:
        """Start counting; ``ordinal`` is the acknowledgement's (None: sequence mode)."""
        self.topic = topic
        self.ack_ordinal = ordinal
        self.from_start = from_start  # in place before any publisher started (the barrier)
        self.fence: int | None = None  # the ordinal a fence answered: the window's end
        self.ordinals = Stream(ordinal + 1) if ordinal is not None else None
        self.streams: dict[str, Stream] = {}  # per publisher (sequence mode: the accounting)
        self._last_seq: dict[str, int] = {}  # per publisher (ordinal mode: reordering only)
        self._reordered = 0
        #: per publisher, the first number that arrived (ordinal mode: the lowest in the window)
        self.first_seqs: dict[str, int] = {}

    @property
    def mode(self) -> str:
        """Return ``ordinal`` or ``sequence``."""
        return "sequence" if self.ordinals is None else "ordinal"

    def deliver(self, stamp: Stamp, ordinal: int | None) -> bool:
        """Count one delivery; return True for a first delivery inside the window (its latency counts)."""
        if self.ordinals is None:
            stream = self.streams.get(stamp.publisher)
            if stream is None:
                self.first_seqs[stamp.publisher] = stamp.seq
                stream = self.streams[stamp.publisher] = Stream(1 if self.from_start else stamp.seq)
            return stream.arrive(stamp.seq)
        if ordinal is None or (self.fence is not None and ordinal > self.fence):
            return False  # not numbered, or after the window closed: nothing to count it against
        first = self.ordinals.arrive(ordinal)
        if first:  # reordering is judged per publisher, as in sequence mode
            lowest = self.first_seqs.get(stamp.publisher, stamp.seq)
            self.first_seqs[stamp.publisher] = min(lowest, stamp.seq)
            last = self._last_seq.get(stamp.publisher, 0)
            if stamp.seq < last:
                self._reordered += 1
            else:
                self._last_seq[stamp.publisher] = stamp.seq
        return first

    def complete(self, totals: dict[str, int]) -> bool:
        """Return True when every message of ``totals`` (publisher -> sent) arrived, none pending."""
        for publisher, sent in totals.items():
            stream = self.streams.get(publisher)
            if sent and (stream is None or stream.top < sent or stream.missing):
                return False
        return True

    def settle(self, *, open_at_end: bool) -> Settlement:
        """Return what this subscription adds to the run; ``open_at_end``: its session lasted the run."""
        if self.ordinals is not None:
            ordinals = self.ordinals
            if self.fence is not None:  # the window is known to its end: exact
                expected = self.fence - (ordinals.start - 1)
            elif open_at_end:  # no fence answer: fall back on the publishers' sequences
                return self._by_sequence(ordinals.delivered, ordinals.duplicated, self._reordered, True)
            else:
                expected = max(0, ordinals.top - (ordinals.start - 1))
            return Settlement(
                delivered=ordinals.delivered,
                expected=expected,
                duplicated=ordinals.duplicated,
                reordered=self._reordered,
                ended_early=not open_at_end,
                mode="ordinal",
            )
        streams = self.streams.values()
        return self._by_sequence(
            sum(s.delivered for s in streams),
            sum(s.duplicated for s in streams),
            sum(s.reordered for s in streams),
            open_at_end,
        )

    def _by_sequence(self, delivered: int, duplicated: int, reordered: int, open_at_end: bool) -> Settlement:
        out = Settlement(delivered=delivered, duplicated=duplicated, reordered=reordered, mode=self.mode)
        if not open_at_end:  # ended during the run: entitled up to the last arrival of each publisher
            out.ended_early = True
            for publisher, first in self.first_seqs.items():
                start = 1 if self.from_start else first
                top = self.streams[publisher].top if publisher in self.streams else self._last_seq[publisher]
                out.expected += max(0, top - start + 1)
        elif self.from_start:
            out.from_start = True
        else:
            out.open_starts = {p: first - 1 for p, first in self.first_seqs.items()}
        return out
