"""Run totals and a time series, fed by deltas from one recorder (local) or many (workers).

Every source (the local recorder, or a worker) sends what it recorded since its last report;
counters and histograms are added exactly. Concurrency is a gauge per source: connected now is
the sum of the sources' latest values, and the peak is the largest sum of per-source interval
peaks seen at a sample, exact for one source and an upper bound within one report interval
for several.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from loadtest.metrics.recorder import Recorder

#: Time-series points kept in memory (the CSV history file keeps every point).
MAX_POINTS = 3600


class Aggregate:
    """Cumulative totals (``total``), the interval since the last sample, and the series."""

    def __init__(self, *, backpressure_threshold_bytes: int = 1 << 20, max_points: int = MAX_POINTS) -> None:
        self.total = Recorder(backpressure_threshold_bytes=backpressure_threshold_bytes)
        self.interval = Recorder(backpressure_threshold_bytes=backpressure_threshold_bytes)
        self.series: deque[dict[str, Any]] = deque(maxlen=max_points)
        self._concurrent: dict[str, int] = {}
        self._interval_peak: dict[str, int] = {}
        self.sources_seen: set[str] = set()
        self._last_sample_s: float | None = None

    def begin(self, now_s: float) -> None:
        """Start the first interval at ``now_s`` (so the first point has rates)."""
        self._last_sample_s = now_s

    def ingest(self, source: str, delta: dict[str, Any]) -> None:
        """Add one source's delta (from :meth:`Recorder.take_delta`)."""
        self.total.merge_state(delta)
        self.interval.merge_state(delta)
        self.sources_seen.add(source)
        self._concurrent[source] = delta["concurrent"]
        self._interval_peak[source] = max(self._interval_peak.get(source, 0), delta["peak_concurrent"])
        self.total.concurrent = sum(self._concurrent.values())
        peak_now = sum(self._interval_peak.values())
        if peak_now > self.total.peak_concurrent:
            self.total.peak_concurrent = peak_now

    def forget_source(self, source: str) -> None:
        """Stop counting a lost source's open sessions as connected (its totals stay)."""
        self._concurrent.pop(source, None)
        self._interval_peak.pop(source, None)
        self.total.concurrent = sum(self._concurrent.values())

    def sample(self, now_s: float, elapsed_s: float) -> dict[str, Any]:
        """Close the current interval: return (and keep) one time-series point."""
        span_s = max(1e-9, now_s - self._last_sample_s) if self._last_sample_s is not None else None
        counters, keyed, hist = self.interval.counters, self.interval.keyed, self.interval.histograms

        def rate(count: int) -> float | None:
            return round(count / span_s, 3) if span_s else None

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
            "closes_server_per_s": rate(sum(keyed["closes_server"].values())),
            "closes_client_per_s": rate(sum(keyed["closes_client"].values())),
            "closes_abnormal_per_s": rate(sum(keyed["abnormal_reasons"].values())),
            "handshake_failures_per_s": rate(sum(keyed["handshake_failures"].values())),
            "messages_sent_per_s": rate(counters["messages_sent"]),
            "messages_received_per_s": rate(counters["messages_received"]),
            "send_queue_bytes_p99": pct("send_queue_bytes", 99),
            "send_stall_ms_p99": pct("send_stall", 99),
        }
        self.series.append(point)
        self.interval.reset()
        self._interval_peak = dict(self._concurrent)
        self._last_sample_s = now_s
        return point


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
