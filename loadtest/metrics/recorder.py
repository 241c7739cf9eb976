"""The per-process aggregate of every sample a session emits.

Sessions only call the ``on_*`` methods; reports only read :meth:`Recorder.state`. Memory is
bounded by construction: counters keyed by a small set of classes and codes, and histograms.
The state is a plain dict of counters and encoded histograms so that a worker can send it to the
master, which merges it exactly with :meth:`Recorder.merge_state`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from loadtest.metrics import close_codes, protocols
from loadtest.metrics.handshake import bounded_class
from loadtest.metrics.histogram import Histogram

_US_PER_MS = 1000.0
#: Histograms kept per process: name -> (highest value, reporting scale).
HISTOGRAMS: dict[str, tuple[int, float]] = {
    "rtt": (3_600_000_000, _US_PER_MS),  # microseconds, reported in ms
    "rtt_scheduled": (3_600_000_000, _US_PER_MS),  # from the scheduled send time (coordinated omission)
    "ping_rtt": (3_600_000_000, _US_PER_MS),
    "connect": (3_600_000_000, _US_PER_MS),
    "connect_tcp": (3_600_000_000, _US_PER_MS),
    "connect_tls": (3_600_000_000, _US_PER_MS),
    "connect_upgrade": (3_600_000_000, _US_PER_MS),
    "send_stall": (3_600_000_000, _US_PER_MS),
    "send_queue_bytes": (1 << 36, 1.0),  # bytes
    "close": (3_600_000_000, _US_PER_MS),  # our close frame written -> the session ended
    "reconnect_delay": (3_600_000_000, _US_PER_MS),  # the backoff a user waited before reconnecting
    "fanout_latency": (3_600_000_000, _US_PER_MS),  # a published message's stamp -> its arrival
    # the protocol layers' (loadtest.protocols): time to a subscription's first event, events per one
    **{name: (highest, scale) for name, (_, _, highest, scale) in protocols.HISTOGRAMS.items()},
}

#: Counters of things that went wrong (the summary's ``errors`` section, in this order).
ERROR_COUNTERS = (
    "send_on_closed",
    "reply_timeouts",
    "ping_timeouts",
    "uncorrelated",
    "bad_json",
    "bad_utf8",
    "bad_frames",
    "auth_failures",
    "gave_up",
    "outstanding_at_end",  # requests still without a reply when their stopped user's session ended
    "handshakes_at_end",  # handshakes still waiting for the 101 when their user was stopped
    "pushes_at_end",  # messages read but not handed to on_message within the stop's budget
)

#: Fan-out counters (:mod:`loadtest.metrics.delivery`; the summary's ``fanout`` section adds them up).
FANOUT_COUNTERS = (
    "fanout_published",  # messages our publishers sent
    "fanout_subscriptions",  # subscriptions acknowledged (or settled)
    "fanout_delivered",  # first deliveries inside a subscription's window
    "fanout_expected",  # entitlement a subscription could count itself (see Settlement)
    "fanout_duplicated",
    "fanout_reordered",
    "fanout_ended_early",  # subscriptions whose session ended during the run
    "fanout_latency_other_host",  # deliveries whose publisher's clock is another host's
)

#: permessage-deflate counters (the summary's ``compression`` section): sessions that offered it
#: and that negotiated it, and the data messages' bytes of those, before and after compression.
DEFLATE_COUNTERS = (
    "deflate_offered",
    "deflate_negotiated",
    "deflate_payload_sent",
    "deflate_wire_sent",
    "deflate_payload_received",
    "deflate_wire_received",
)

#: Plain counters, all starting at zero.
COUNTERS = (
    "sessions_opened",
    "sessions_ended",
    "messages_sent",
    "messages_received",
    "bytes_sent",
    "bytes_received",
    "over_threshold",
    "request_events",  # Locust request events fired one per request (--ws-request-events)
    *ERROR_COUNTERS,
    *FANOUT_COUNTERS,
    *DEFLATE_COUNTERS,
    *protocols.COUNTER_NAMES,  # the protocol layers' (the summary's protocols section)
)

#: Distinct session-end classes with their own lifetime histograms (beyond: "other").
MAX_END_CLASSES = 24

#: Counters keyed by a class or code.
KEYED = (
    "handshake_failures",
    "closes_server",
    "closes_client",
    "abnormal_reasons",
    # fan-out, bounded by publishers x topics: what the master needs to count what subscriptions
    # still open at the end were entitled to (loadtest.report.fanout)
    "fanout_published_by",  # "publisher|topic" -> messages sent
    "fanout_from_start",  # topic -> subscriptions in place from the start and open at the end
    "fanout_open_streams",  # "publisher|topic" -> later subscriptions open at the end that heard it
    "fanout_open_start",  # "publisher|topic" -> the sum of those subscriptions' numbers before their start
    "fanout_modes",  # "ordinal" or "sequence" -> subscriptions settled that way
)


class Recorder:
    """Counts and histograms for one process (one Locust runner)."""

    def __init__(self, *, backpressure_threshold_bytes: int = 1 << 20) -> None:
        self.backpressure_threshold_bytes = backpressure_threshold_bytes
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTERS})
        self.keyed: dict[str, Counter[str]] = {name: Counter() for name in KEYED}
        self.histograms = {name: Histogram(highest=h, scale=s) for name, (h, s) in HISTOGRAMS.items()}
        self.concurrent = 0
        self.peak_concurrent = 0
        #: "who:code" or "abnormal:reason" -> (lifetime, idle age) histograms in µs, reported in s
        self.ends: dict[str, tuple[Histogram, Histogram]] = {}
        self._delta_started = time.monotonic()
        self._unblocked = 0  # writes that did not block, not yet in the send_stall histogram

    # -- samples ---------------------------------------------------------------------------
    def on_open(self, phases_us: dict[str, int]) -> None:
        """Record a session that completed its handshake, with its phase times."""
        self.counters["sessions_opened"] += 1
        self.concurrent += 1
        if self.concurrent > self.peak_concurrent:
            self.peak_concurrent = self.concurrent
        for phase, value in phases_us.items():
            self.histograms[phase].record(value)

    def on_handshake_failure(self, failure_class: str) -> None:
        """Record a handshake that failed, by its stable class (bounded: unknown classes are ``protocol``)."""
        self.keyed["handshake_failures"][bounded_class(failure_class)] += 1

    def on_close(
        self,
        who: str,
        code: int,
        reason: str = "",
        *,
        lifetime_us: int | None = None,
        idle_us: int | None = None,
    ) -> None:
        """Record how an open session ended (``who`` is server, client or abnormal), how long it
        lived and how long it had been idle (no frame either way) when it ended."""
        self.counters["sessions_ended"] += 1
        self.concurrent -= 1
        if who == close_codes.ABNORMAL:
            reason = close_codes.reason_key(reason)
            self.keyed["abnormal_reasons"][reason] += 1
            key = f"abnormal:{reason}"
        else:
            code_key = close_codes.code_key(code)
            self.keyed["closes_server" if who == close_codes.SERVER else "closes_client"][code_key] += 1
            key = f"{who}:{code_key}"
        if lifetime_us is not None and idle_us is not None:
            ends = self.ends.get(key)
            if ends is None:
                if len(self.ends) >= MAX_END_CLASSES:
                    key = "other"
                ends = self.ends.setdefault(key, (Histogram(scale=1e6), Histogram(scale=1e6)))
            ends[0].record(lifetime_us)
            ends[1].record(idle_us)

    def on_send(self, size: int, stall_us: int = 0, queue_bytes: int = -1) -> None:
        """Record one data message handed to the kernel, with its backpressure readings.

        ``queue_bytes`` is -1 when the send queue was not sampled (a write the kernel took at
        once; see :data:`loadtest.transport.QUEUE_SAMPLE_NS`).
        """
        counters = self.counters
        counters["messages_sent"] += 1
        counters["bytes_sent"] += size
        if stall_us:
            self.histograms["send_stall"].record(stall_us)
        else:
            self._unblocked += 1  # folded into send_stall as zeros when read: a count, not a record
        if queue_bytes >= 0:
            self.histograms["send_queue_bytes"].record(queue_bytes)
            if queue_bytes >= self.backpressure_threshold_bytes:
                counters["over_threshold"] += 1

    def on_send_batch(self, messages: int, size: int, stall_us: int = 0, queue_bytes: int = -1) -> None:
        """Record several data messages written with one ``send`` (one backpressure reading)."""
        counters = self.counters
        counters["messages_sent"] += messages
        counters["bytes_sent"] += size
        if stall_us:
            self.histograms["send_stall"].record(stall_us)
        else:
            self._unblocked += 1
        if queue_bytes >= 0:
            self.histograms["send_queue_bytes"].record(queue_bytes)
            if queue_bytes >= self.backpressure_threshold_bytes:
                counters["over_threshold"] += 1

    def _fold_unblocked(self) -> None:
        if self._unblocked:
            self.histograms["send_stall"].record_zeros(self._unblocked)
            self._unblocked = 0

    def on_send_stall(self, stall_us: int, queue_bytes: int = 0) -> None:
        """Record a send that never completed (it ended the session): time blocked, queue left."""
        self.histograms["send_stall"].record(stall_us)
        if queue_bytes:
            self.histograms["send_queue_bytes"].record(queue_bytes)
            if queue_bytes >= self.backpressure_threshold_bytes:
                self.counters["over_threshold"] += 1

    def on_receive(self, size: int) -> None:
        """Record one data message received."""
        self.counters["messages_received"] += 1
        self.counters["bytes_received"] += size

    def on_rtt(self, rtt_us: int) -> None:
        """Record the round trip of a request matched to its reply."""
        self.histograms["rtt"].record(rtt_us)

    def on_rtt_scheduled(self, delay_us: int) -> None:
        """Record a reply's delay from the time its request was scheduled to be sent."""
        self.histograms["rtt_scheduled"].record(delay_us)

    def on_close_handshake(self, elapsed_us: int) -> None:
        """Record how long our close frame took to be answered (or to time out)."""
        self.histograms["close"].record(elapsed_us)

    def on_reconnect_delay(self, delay_us: int) -> None:
        """Record a backoff delay a user waits before its next handshake."""
        self.histograms["reconnect_delay"].record(delay_us)

    def on_ping_rtt(self, rtt_us: int) -> None:
        """Record the round trip of a ping matched to its pong."""
        self.histograms["ping_rtt"].record(rtt_us)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a plain counter (see :data:`COUNTERS`)."""
        self.counters[name] += n

    def count_keyed(self, name: str, key: str, n: int = 1) -> None:
        """Add ``n`` to one key of a keyed counter (see :data:`KEYED`; the caller bounds the keys)."""
        self.keyed[name][key] += n

    def on_delivery_latency(self, latency_us: int) -> None:
        """Record a fan-out delivery's latency, from its publisher's stamp to its arrival."""
        self.histograms["fanout_latency"].record(latency_us)

    # -- state for reports and for the master ------------------------------------------------
    def state(self, *, encode: bool = True) -> dict[str, Any]:
        """Return every counter and histogram; histograms encoded unless ``encode`` is False.

        Unencoded, the histograms are this recorder's own objects: merge them before the next
        :meth:`reset`.
        """
        self._fold_unblocked()
        return {
            "counters": dict(self.counters),
            "keyed": {name: dict(c) for name, c in self.keyed.items()},
            "peak_concurrent": self.peak_concurrent,
            "concurrent": self.concurrent,
            "histograms": {n: (h.encode() if encode else h) for n, h in self.histograms.items()},
            "ends": {
                k: [(h.encode() if encode else h) for h in pair]
                for k, pair in self.ends.items()
                if pair[0].count
            },
        }

    def merge_state(self, state: dict[str, Any]) -> None:
        """Add the counters and histograms of another :meth:`state` or delta to this one.

        Gauges (``concurrent``, ``peak_concurrent``) are not added: a sum of peaks taken at
        different moments is not a peak. :class:`loadtest.metrics.aggregate.Aggregate` keeps them.
        """
        self.counters.update(state["counters"])
        for name, values in state["keyed"].items():
            self.keyed[name].update(values)
        for name, value in state["histograms"].items():
            _merge(self.histograms[name], value)
        for key, pair in state.get("ends", {}).items():
            mine = self.ends.get(key)
            if mine is None:
                mine = self.ends[key] = (Histogram(scale=1e6), Histogram(scale=1e6))
            _merge(mine[0], pair[0])
            _merge(mine[1], pair[1])

    def take_delta(self) -> dict[str, Any]:
        """Return everything recorded since the last call (histograms encoded), then start over.

        ``peak_concurrent`` in the delta is the peak since the last delta; ``concurrent`` is now;
        ``span_s`` is the time the delta covers (rates over time divide by it).
        """
        delta = self.state(encode=True)
        delta["span_s"] = self._span_s()
        self.reset()
        return delta

    def drain_into(self, sink: Callable[[dict[str, Any]], None]) -> None:
        """Hand everything recorded since the last call to ``sink`` unencoded, then start over.

        The in-process path (no master): ``sink`` must merge the delta before returning, since
        its histograms are reset in place right after (no allocation per sample).
        """
        delta = self.state(encode=False)
        delta["span_s"] = self._span_s()
        sink(delta)
        self.reset()

    def _span_s(self) -> float:
        now = time.monotonic()
        span, self._delta_started = now - self._delta_started, now
        return span

    def reset(self) -> None:
        """Forget counters and histograms, in place (gauges stay: sessions are still open)."""
        self._unblocked = 0
        for name in self.counters:
            self.counters[name] = 0
        for counter in self.keyed.values():
            counter.clear()
        for histogram in self.histograms.values():
            histogram.reset()
        for lifetime, idle in self.ends.values():
            lifetime.reset()
            idle.reset()
        self.peak_concurrent = self.concurrent
        self._delta_started = time.monotonic()


def _merge(histogram: Histogram, value: Histogram | str) -> None:
    if isinstance(value, Histogram):
        histogram.merge(value)
    else:
        histogram.merge_encoded(value)
