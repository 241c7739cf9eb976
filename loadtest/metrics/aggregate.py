"""Run totals and a time series, fed by deltas from one recorder (local) or many (workers).

Every source (the local recorder, or a worker) sends what it recorded since its last report;
counters and histograms are added exactly. Concurrency is a gauge per source: connected now is
the sum of the sources' latest values, and the peak is the largest sum of per-source interval
peaks seen at a sample, exact for one source and an upper bound within one report interval
for several.

Rates in the time series are computed per source over the time its own deltas cover
(``span_s``), then added: workers report on their own clocks (Locust's 3 s report interval),
so a point taken on the master between two reports of a worker would otherwise read 0 for it
and the next point double. A source with no delta since the last point keeps its last rate
until it reports again (or is forgotten as lost), so a steady load draws a steady line.
"""

from __future__ import annotations

from typing import Any

from loadtest.metrics.recorder import Recorder
from loadtest.metrics.series import Series

#: Time-series points kept in memory (the CSV history file keeps every point).
MAX_POINTS = 3600

SERIES_FIELDS = (
    "t",
    "elapsed_s",
    "sessions_connected",
    "sessions_opened",
    "rtt_p50_ms",
    "rtt_p99_ms",
    "ping_rtt_p99_ms",
    "closes_server_per_s",
    "closes_client_per_s",
    "closes_abnormal_per_s",
    "handshake_failures_per_s",
    "messages_sent_per_s",
    "messages_received_per_s",
    "send_queue_bytes_p99",
    "send_stall_ms_p99",
)

#: Rate fields of a point: name -> what it counts in a delta (a counter, or the sum of a keyed map).
RATES: dict[str, tuple[str, str]] = {
    "closes_server_per_s": ("keyed", "closes_server"),
    "closes_client_per_s": ("keyed", "closes_client"),
    "closes_abnormal_per_s": ("keyed", "abnormal_reasons"),
    "handshake_failures_per_s": ("keyed", "handshake_failures"),
    "messages_sent_per_s": ("counters", "messages_sent"),
    "messages_received_per_s": ("counters", "messages_received"),
}


def _counts(delta: dict[str, Any]) -> dict[str, float]:
    return {
        name: float(sum(delta[kind][key].values()) if kind == "keyed" else delta[kind].get(key, 0))
        for name, (kind, key) in RATES.items()
    }


class Aggregate:
    """Cumulative totals (``total``), the interval since the last sample, and the series."""

    def __init__(self, *, backpressure_threshold_bytes: int = 1 << 20, max_points: int = MAX_POINTS) -> None:
        self.total = Recorder(backpressure_threshold_bytes=backpressure_threshold_bytes)
        self.interval = Recorder(backpressure_threshold_bytes=backpressure_threshold_bytes)
        self.series = Series(SERIES_FIELDS, max_points)
        self._concurrent: dict[str, int] = {}
        self._interval_peak: dict[str, int] = {}
        #: per source: counts and covered seconds since the last point, and the last rates
        self._pending: dict[str, tuple[dict[str, float], float]] = {}
        self._rates: dict[str, dict[str, float]] = {}
        self.sources_seen: set[str] = set()
        self.points = 0  # every point taken since the last reset (``series`` keeps the latest)

    def ingest(self, source: str, delta: dict[str, Any]) -> None:
        """Add one source's delta (from :meth:`Recorder.take_delta` or ``drain_into``)."""
        self.total.merge_state(delta)
        self.interval.merge_state(delta)
        self.sources_seen.add(source)
        self._concurrent[source] = delta["concurrent"]
        self._interval_peak[source] = max(self._interval_peak.get(source, 0), delta["peak_concurrent"])
        self.total.concurrent = sum(self._concurrent.values())
        peak_now = sum(self._interval_peak.values())
        if peak_now > self.total.peak_concurrent:
            self.total.peak_concurrent = peak_now
        counts, span_s = self._pending.get(source, ({}, 0.0))
        for name, count in _counts(delta).items():
            counts[name] = counts.get(name, 0.0) + count
        self._pending[source] = (counts, span_s + float(delta.get("span_s", 0.0)))

    def forget_source(self, source: str) -> None:
        """Stop counting a lost source's open sessions as connected (its totals stay)."""
        self._concurrent.pop(source, None)
        self._interval_peak.pop(source, None)
        self._pending.pop(source, None)
        self._rates.pop(source, None)
        self.total.concurrent = sum(self._concurrent.values())

    def _rates_now(self, min_span_s: float) -> dict[str, float | None]:
        if min_span_s and all(span_s < min_span_s for _, span_s in self._pending.values()):
            self._pending = {}  # a stop just after a point: a few ms are no rate, only noise
            return dict.fromkeys(RATES)
        for source, (counts, span_s) in self._pending.items():
            if span_s > 0:
                self._rates[source] = {name: count / span_s for name, count in counts.items()}
        self._pending = {}
        if not self._rates:
            return dict.fromkeys(RATES)
        return {name: round(sum(r.get(name, 0.0) for r in self._rates.values()), 3) for name in RATES}

    def sample(self, now_s: float, elapsed_s: float, min_span_s: float = 0.0) -> dict[str, Any]:
        """Close the current interval: return (and keep) one time-series point.

        With ``min_span_s`` (the last point, at the stop), the rates are None unless some source
        reported over at least that long: three messages in the 4 ms between the last point and
        the stop are not 750 messages per second.
        """
        hist = self.interval.histograms

        def pct(name: str, percent: float) -> float | None:
            h = hist[name]
            return round(h.percentile(percent), 4) if h.count else None

        point = {
            "t": round(now_s, 3),
            "elapsed_s": round(elapsed_s, 3),
            "sessions_connected": self.total.concurrent,
            "sessions_opened": self.total.counters["sessions_opened"],
            "rtt_p50_ms": pct("rtt", 50),
            "rtt_p99_ms": pct("rtt", 99),
            "ping_rtt_p99_ms": pct("ping_rtt", 99),
            **self._rates_now(min_span_s),
            "send_queue_bytes_p99": pct("send_queue_bytes", 99),
            "send_stall_ms_p99": pct("send_stall", 99),
        }
        self.series.append(point)
        self.points += 1
        self.interval.reset()
        self._interval_peak = dict(self._concurrent)
        return point

    def reset(self) -> None:
        """Start the totals, the series and the rates over (sessions still open stay counted)."""
        concurrent = self.total.concurrent
        for recorder in (self.total, self.interval):
            recorder.reset()  # histograms in place (end classes too: empty ones are not reported)
        self.total.concurrent = self.total.peak_concurrent = concurrent
        self.series.clear()
        self.points = 0
        self._pending.clear()
        self._rates.clear()
        self._interval_peak = dict(self._concurrent)
