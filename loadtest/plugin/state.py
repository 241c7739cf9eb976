"""What the plugin keeps per Locust environment: options, recorder, aggregate, outputs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from loadtest.config import SessionOptions
from loadtest.metrics.aggregate import Aggregate
from loadtest.metrics.backoff import Backoff
from loadtest.metrics.recorder import Recorder
from loadtest.metrics.storm import StormTracker
from loadtest.plugin.scale import SourceIPs
from loadtest.report.checks import Check

_ATTRIBUTE = "_loadtest_state"


@dataclass
class PluginState:
    """Per-environment state; created by the ``init`` listener or on first use.

    ``recorder`` is this process's hot-path recorder (users write to it); ``aggregate`` holds
    the run's totals and time series on a local or master runner, fed by deltas from the
    recorder or from workers.
    """

    session_options: SessionOptions = field(default_factory=SessionOptions)
    backoff: Backoff = field(default_factory=Backoff)
    recorder: Recorder = field(default_factory=Recorder)
    aggregate: Aggregate = field(default_factory=Aggregate)
    checks: list[Check] = field(default_factory=list)
    storms: StormTracker = field(default_factory=StormTracker)
    #: the latest storm states of each source (a worker, or "local"), merged for the summary
    storm_states: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)
    source_ips: SourceIPs = field(default_factory=SourceIPs)
    summary_path: str = ""
    report_path: str = ""
    junit_path: str = ""
    csv_prefix: str = ""
    sample_interval_s: float = 2.0
    embedded: Any = None  # loadtest.server.EmbeddedServer when we started one
    started_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    sampler: Any = None
    history: Any = None  # the open CSV history writer
    worker_finals: set[str] = field(default_factory=set)
    lost_workers: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None  # the final summary, once the run is finished
    finished: bool = False


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
