"""What the plugin keeps per Locust environment: the run's settings, recorder, aggregate, outputs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from loadtest.config import SessionOptions
from loadtest.metrics.aggregate import Aggregate
from loadtest.metrics.backoff import Backoff
from loadtest.metrics.histogram import Histogram
from loadtest.metrics.recorder import Recorder
from loadtest.metrics.storm import StormTracker
from loadtest.plugin.rows import Rows
from loadtest.plugin.scale import SourceIPs
from loadtest.plugin.settings import RunSettings

_ATTRIBUTE = "_loadtest_state"

#: What ``phase`` can be: before the first test, while a test runs, after it stopped.
IDLE, RUNNING, STOPPED = "idle", "running", "stopped"


@dataclass
class PluginState:
    """Per-environment state; created by the ``init`` listener or on first use.

    ``recorder`` is this process's hot-path recorder (users hold a reference to it, so it is
    reset in place, never replaced); ``aggregate`` holds the run's totals and time series on a
    local or master runner, fed by deltas from the recorder or from workers. The run's numbers
    follow Locust's own: a new test and a stats reset start them over, a stop freezes them.
    """

    settings: RunSettings = field(default_factory=RunSettings)
    recorder: Recorder = field(default_factory=Recorder)
    aggregate: Aggregate = field(default_factory=Aggregate)
    storms: StormTracker = field(default_factory=StormTracker)
    #: the latest storm states of each source (a worker, or "local"), merged for the summary
    storm_states: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: the latest process cost reported by each worker
    worker_process: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: options given on this worker's own command line that win over the master's (scope "worker")
    worker_own: dict[str, Any] = field(default_factory=dict)
    embedded: Any = None  # loadtest.server.EmbeddedServer when we started one
    phase: str = IDLE
    run_index: int = 0  # 1 for the first test of this process, 2 for the next (web UI "New")
    generation: int = 0  # bumped by every test start and stats reset; stale worker deltas are dropped
    started_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    stopped_monotonic: float | None = None
    cpu_at_start_s: float = 0.0
    sampler: Any = None
    history: Any = None  # the open CSV history writer
    worker_finals: set[str] = field(default_factory=set)
    #: how much longer than usual a master waits for its workers' final counts (fan-out drains)
    stop_extra_s: float = 0.0
    lost_workers: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None  # the final summary, once the run has stopped
    quitting: bool = False
    rows: Rows | None = None  # Locust's rows fed in batches (created by the first user)
    #: this process's event-loop lag since the run started, in µs (reported in ms)
    loop_lag: Histogram = field(default_factory=lambda: Histogram(highest=600_000_000, scale=1000.0))

    # The attributes users and sessions read (kept as names of their own for them).
    @property
    def session_options(self) -> SessionOptions:
        """Return how sessions connect in this run."""
        return self.settings.session_options

    @property
    def backoff(self) -> Backoff:
        """Return the reconnect strategy of this run."""
        return self.settings.backoff

    @property
    def source_ips(self) -> SourceIPs:
        """Return the source addresses sessions are spread over."""
        return self.settings.source_ips

    @property
    def finished(self) -> bool:
        """Return True once the current run has stopped (its numbers are final)."""
        return self.phase == STOPPED

    def rows_for(self, environment: Any) -> Rows:
        """Return the batches of Locust's rows for ``environment`` (created on first use)."""
        if self.rows is None:
            self.rows = Rows(environment)
        return self.rows

    def flush_rows(self) -> None:
        """Apply the pending samples to Locust's rows now (before they are read or sent)."""
        if self.rows is not None:
            self.rows.flush()

    def elapsed_s(self) -> float:
        """Return the run's duration so far, frozen at its stop (0 before the first test)."""
        if self.phase == IDLE:
            return 0.0
        end = self.stopped_monotonic if self.stopped_monotonic is not None else time.monotonic()
        return end - self.started_monotonic


def state_for(environment: Any) -> PluginState:
    """Return the environment's plugin state, creating defaults (for in-process use) if needed."""
    state: PluginState | None = getattr(environment, _ATTRIBUTE, None)
    if state is None:
        state = PluginState()
        setattr(environment, _ATTRIBUTE, state)
    return state


def set_state(environment: Any, state: PluginState) -> None:
    """Attach ``state`` to ``environment``."""
    setattr(environment, _ATTRIBUTE, state)
