"""Reconnect delays: immediate, fixed, exponential and exponential with full jitter.

The field guide's rule is ``min(base * 2^attempt, cap)`` with at most 10 attempts; full jitter
(a uniform draw in ``[0, that]``) spreads a fleet's reconnects so a storm does not hit the server
in lock-step.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from loadtest.errors import ConfigError

STRATEGIES = ("immediate", "fixed", "exponential", "exponential-jitter")


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """A reconnect strategy.

    Attributes:
        strategy: one of :data:`STRATEGIES`.
        base_s: the first delay (``fixed``: every delay).
        cap_s: no delay is longer.
        max_attempts: consecutive failed attempts before giving up; 0 means never give up.
    """

    strategy: str = "exponential-jitter"
    base_s: float = 1.0
    cap_s: float = 30.0
    max_attempts: int = 0
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown reconnect strategy {self.strategy!r}: use one of {', '.join(STRATEGIES)}"
            )
        if self.base_s < 0 or self.cap_s < 0 or self.max_attempts < 0:
            raise ConfigError("reconnect base, cap and attempts must not be negative")

    def delay_s(self, attempt: int) -> float:
        """Return how long to wait before reconnect ``attempt`` (0 for the first retry)."""
        if self.strategy == "immediate":
            return 0.0
        if self.strategy == "fixed":
            return float(min(self.base_s, self.cap_s))
        ceiling = min(self.base_s * (2 ** min(attempt, 62)), self.cap_s)
        if self.strategy == "exponential":
            return float(ceiling)
        return float(self.rand() * ceiling)

    def gives_up(self, failures: int) -> bool:
        """Return True when ``failures`` consecutive failures exhaust the attempts."""
        return self.max_attempts > 0 and failures >= self.max_attempts
