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
#: Chart points kept at most: 30 minutes at Locust's 5 s step before the first thinning, then
#: 270 to 360 points over the whole run (one per ~10 s in an hour, ~40 s in four), plenty for a
#: chart. Each point is ~1 KiB (a dict of six [time, value] lists): at 2,880 points (4 hours) the
#: history alone grew the generator's RSS 0.73 MiB an hour for 4 hours, 1% an hour of a
#: 1,000-session soak (bench/README.md); at 360 it stops growing after 30 minutes at ~0.36 MiB.
MAX_HISTORY = 360


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
