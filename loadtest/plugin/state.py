"""What the plugin keeps per Locust environment: options, the recorder, the embedded target."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from loadtest.config import SessionOptions
from loadtest.metrics.backoff import Backoff
from loadtest.metrics.recorder import Recorder

_ATTRIBUTE = "_loadtest_state"


@dataclass
class PluginState:
    """Per-environment state; created by the ``init`` listener or on first use."""

    session_options: SessionOptions = field(default_factory=SessionOptions)
    backoff: Backoff = field(default_factory=Backoff)
    recorder: Recorder = field(default_factory=Recorder)
    summary_path: str = ""
    embedded: Any = None  # loadtest.server.EmbeddedServer when we started one
    started_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
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
