"""Keep Locust's own per-run structures bounded in a soak of hours (the master's, or a local run's).

Locust keeps two things per run that only grow: every ``StatsEntry`` has a dict with one key
per second that had a request (``num_reqs_per_sec``, ``num_fail_per_sec``), of which it only
ever reads the last 12 s (``current_rps``, ``current_fail_per_sec``; a worker's are reset at
every report), and ``stats.history`` gets a point for its charts every 5 s. Over an hour with
a handful of rows that was ~2.7 MiB of the generator's growth (bench/README.md, the soak).

:func:`prune` drops the seconds older than :data:`KEEP_SECONDS`, which nothing reads, and thins
the chart history once it holds more than :data:`MAX_HISTORY` points: every second point of its
older half goes, so the charts still span the whole run, at a coarser step for its start, and
the history stays under :data:`MAX_HISTORY` points however long the run.
"""

from __future__ import annotations

from typing import Any

#: Seconds of per-second counts kept: Locust reads the last 12.
KEEP_SECONDS = 60
#: Chart points kept at most (4 hours at Locust's 5 s step before the first thinning).
MAX_HISTORY = 2880


def prune(stats: Any, now_s: float) -> None:
    """Drop what Locust will never read again from ``stats`` (a ``RequestStats``)."""
    oldest = int(now_s) - KEEP_SECONDS
    for entry in (*stats.entries.values(), stats.total):
        for per_sec in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            if per_sec and min(per_sec) < oldest:  # usually nothing to do: one key per second
                for second in [s for s in per_sec if s < oldest]:
                    del per_sec[second]
    history = stats.history
    if len(history) > MAX_HISTORY:
        half = len(history) // 2
        history[:half] = history[:half:2]  # in place: Locust's web UI holds this very list
