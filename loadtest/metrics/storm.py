"""Reconnect storms: how a fleet of sessions comes back after losing its connections at once.

A storm starts when the clients drop their sessions on purpose (``--ws-storm-at/every``) or is
detected when many sessions end unexpectedly within one second (a server restart, a drop-all).
For every session lost in a storm we record the time from its loss to its next open and how
many handshakes that took; for the storm, the time until as many sessions are open as before,
the peak handshake rate (attempts per 100 ms window, as a rate per second), handshake failures
by class, and the sessions that gave up. Bounded: histograms and counters, at most MAX_STORMS.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from loadtest.metrics.histogram import Histogram

MAX_STORMS = 100
#: Detection: this share of the connected sessions lost within DETECT_WINDOW_NS is a storm.
DETECT_SHARE = 0.5
DETECT_MIN = 3
DETECT_WINDOW_NS = 1_000_000_000
_BUCKET_NS = 100_000_000


class Storm:
    """One storm's measurements (mergeable across workers)."""

    def __init__(self, index: int, started_ns: int, trigger: str, sessions_before: int) -> None:
        self.index = index
        self.started_ns = started_ns
        self.trigger = trigger
        self.sessions_before = sessions_before
        self.dropped = 0
        self.recovered = 0
        self.gave_up = 0
        self.recovery = Histogram(scale=1000.0)  # µs, reported in ms
        self.attempts = Histogram(highest=1_000_000)
        self.failures: Counter[str] = Counter()
        self.fleet_back_ns: int | None = None
        self.peak_attempts_per_bucket = 0
        self._bucket = -1
        self._bucket_attempts = 0

    def on_attempt(self, now_ns: int) -> None:
        """Count a handshake attempt in its 100 ms window."""
        bucket = (now_ns - self.started_ns) // _BUCKET_NS
        if bucket != self._bucket:
            self._bucket, self._bucket_attempts = bucket, 0
        self._bucket_attempts += 1
        self.peak_attempts_per_bucket = max(self.peak_attempts_per_bucket, self._bucket_attempts)

    def state(self, elapsed_s_at_start: float) -> dict[str, Any]:
        """Return this storm's numbers (histograms encoded) for the summary or the master."""
        return {
            "index": self.index,
            "started_s": round(elapsed_s_at_start, 3),
            "trigger": self.trigger,
            "sessions_before": self.sessions_before,
            "dropped": self.dropped,
            "recovered": self.recovered,
            "gave_up": self.gave_up,
            "recovery": self.recovery.encode(),
            "attempts": self.attempts.encode(),
            "handshake_failures": dict(self.failures),
            "fleet_back_s": None
            if self.fleet_back_ns is None
            else round((self.fleet_back_ns - self.started_ns) / 1e9, 3),
            "peak_handshake_rate_per_s": self.peak_attempts_per_bucket * (1_000_000_000 // _BUCKET_NS),
        }


class StormTracker:
    """Per-process storm bookkeeping, fed by the users' lifecycle events."""

    def __init__(self) -> None:
        self.storms: list[Storm] = []
        self.current: Storm | None = None
        self.origin_ns = 0
        self._recent_losses: list[int] = []

    def reset(self, origin_ns: int = 0) -> None:
        """Forget every storm (a new test or a stats reset); users keep this same tracker."""
        self.storms.clear()
        self.current = None
        self.origin_ns = origin_ns
        self._recent_losses = []

    def begin(self, now_ns: int, trigger: str, connected: int, index: int | None = None) -> Storm:
        """Start a storm (``index`` given by the master keeps workers' storms aligned)."""
        storm = Storm(len(self.storms) if index is None else index, now_ns, trigger, connected)
        if len(self.storms) < MAX_STORMS:
            self.storms.append(storm)
        self.current = storm
        return storm

    def on_lost(self, now_ns: int, connected_before: int) -> Storm | None:
        """Record an unexpected session end; return the storm it belongs to (maybe just detected)."""
        if self.current is not None and self.current.fleet_back_ns is None:
            self.current.dropped += 1
            return self.current
        self._recent_losses = [t for t in self._recent_losses if now_ns - t < DETECT_WINDOW_NS] + [now_ns]
        losses = len(self._recent_losses)
        if losses >= DETECT_MIN and losses >= DETECT_SHARE * (connected_before + losses - 1):
            storm = self.begin(self._recent_losses[0], "server", connected_before + losses - 1)
            storm.dropped = losses
            self._recent_losses = []
            return storm
        return None

    def on_open(self, now_ns: int, connected: int) -> None:
        """Check whether the fleet is back to its size before the current storm."""
        storm = self.current
        if storm is not None and storm.fleet_back_ns is None and connected >= storm.sessions_before:
            storm.fleet_back_ns = now_ns

    def summary(self) -> list[dict[str, Any]]:
        """Return every storm's state (histograms encoded)."""
        return [storm.state((storm.started_ns - self.origin_ns) / 1e9) for storm in self.storms]


def merge(storm_states: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Merge the storms of several processes by index into reportable rows.

    Counters add up; recovery and attempts histograms merge exactly; the fleet is back when the
    last process's fleet is back (max); the peak handshake rate adds the processes' peaks (an
    upper bound: their peaks may fall in different 100 ms windows).
    """
    merged: dict[int, dict[str, Any]] = {}
    for states in storm_states:
        for state in states:
            row = merged.setdefault(
                state["index"],
                {
                    "index": state["index"],
                    "started_s": state["started_s"],
                    "trigger": state["trigger"],
                    "sessions_before": 0,
                    "dropped": 0,
                    "recovered": 0,
                    "gave_up": 0,
                    "_recovery": Histogram(scale=1000.0),
                    "_attempts": Histogram(highest=1_000_000),
                    "handshake_failures": Counter(),
                    "fleet_back_s": 0.0,
                    "peak_handshake_rate_per_s": 0,
                },
            )
            for key in ("sessions_before", "dropped", "recovered", "gave_up", "peak_handshake_rate_per_s"):
                row[key] += state[key]
            row["_recovery"].merge_encoded(state["recovery"])
            row["_attempts"].merge_encoded(state["attempts"])
            row["handshake_failures"].update(state["handshake_failures"])
            back = state["fleet_back_s"]
            row["fleet_back_s"] = (
                None if back is None or row["fleet_back_s"] is None else max(row["fleet_back_s"], back)
            )
            row["started_s"] = min(row["started_s"], state["started_s"])
    rows = []
    for index in sorted(merged):
        row = merged[index]
        recovery, attempts = row.pop("_recovery").summary(), row.pop("_attempts").summary()
        row["recovery_ms"] = {k: recovery[k] for k in ("count", "p50", "p99", "max")}
        row["attempts_per_recovery"] = {k: attempts[k] for k in ("p50", "p99", "max")}
        row["handshake_failures"] = dict(row["handshake_failures"])
        rows.append(row)
    return rows
