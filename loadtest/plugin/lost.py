"""Notice workers that stop sending heartbeats, and say so in the run summary.

Locust's master counts down each worker's heartbeat once a second and marks a worker
``missing`` after ``HEARTBEAT_LIVENESS`` (3) silent seconds; it then redistributes that worker's
users to the others and carries on. A lost worker's counts up to its last report stay in the
totals (they were merged when they arrived); what it did after its last report is gone with it.
Here a greenlet on the master polls the workers once a second and, on each transition to
``missing``:

- appends ``{"worker", "lost_at", "elapsed_s"}`` to the plugin state's ``lost_workers`` (the
  summary's ``workers.lost``),
- stops counting that worker's open sessions as connected (``Aggregate.forget_source``),
- logs one warning line.

A worker that comes back (its heartbeats resume) is logged; losing it again is a new entry.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import gevent
from locust.runners import HEARTBEAT_LIVENESS, STATE_MISSING, MasterRunner

from loadtest.plugin.state import state_for

__all__ = ["POLL_INTERVAL_S", "check_workers", "install"]

_ATTRIBUTE = "_loadtest_lost_watcher"

logger = logging.getLogger("loadtest")

#: How often the master looks at its workers' states (Locust's heartbeat interval).
POLL_INTERVAL_S = 1.0


def install(environment: Any) -> gevent.Greenlet | None:
    """Start watching the workers when ``environment`` runs a master; return the watcher greenlet.

    The watcher lives in the runner's greenlet group (killed when the runner quits) and ends
    by itself when the process quits (a web UI session may run several tests). Call it after
    the plugin state is set (in the ``init`` listener); a second call returns the first watcher.

    Args:
        environment: The Locust environment.

    Returns:
        The watcher greenlet, or None when this process is not a master.
    """
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return None
    existing: gevent.Greenlet | None = getattr(environment, _ATTRIBUTE, None)
    if existing is not None:
        return existing  # installed already: one watcher per environment
    lost_now: set[str] = set()

    def watch() -> None:
        while not state_for(environment).quitting:
            gevent.sleep(POLL_INTERVAL_S)
            check_workers(environment, lost_now)

    greenlet: gevent.Greenlet = runner.greenlet.spawn(watch)
    setattr(environment, _ATTRIBUTE, greenlet)
    return greenlet


def check_workers(environment: Any, lost_now: set[str]) -> list[dict[str, Any]]:
    """Record every worker that went missing since the last call; return the new entries.

    Args:
        environment: The master's Locust environment.
        lost_now: Ids of workers currently known as missing (updated in place).

    Returns:
        The entries appended to ``lost_workers`` by this call.
    """
    state = state_for(environment)
    clients = environment.runner.clients
    missing = {client.id for client in clients.all if client.state == STATE_MISSING}
    for worker in sorted(lost_now - missing):
        if worker in clients:
            logger.info("worker %s is back (its heartbeats resumed)", worker)
    lost_now &= missing
    added: list[dict[str, Any]] = []
    for worker in sorted(missing - lost_now):
        lost_now.add(worker)
        entry = {
            "worker": worker,
            "lost_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "elapsed_s": round(time.monotonic() - state.started_monotonic, 3),
        }
        state.lost_workers.append(entry)
        state.aggregate.forget_source(worker)
        added.append(entry)
        logger.warning(
            "worker %s lost at %s (%.1f s into the run, no heartbeat for %d s): its counts up to its last "
            "report are kept, what it did since is not counted",
            worker,
            entry["lost_at"],
            entry["elapsed_s"],
            HEARTBEAT_LIVENESS,
        )
    return added
