"""Locust's per-run structures stay bounded, and what Locust reads from them does not change."""

from __future__ import annotations

from locust.stats import RequestStats

from loadtest.plugin import locust_memory


def test_old_seconds_go_and_current_rates_stay() -> None:
    stats = RequestStats()
    entry = stats.get("echo", "WS")
    stats.total.start_time, stats.total.last_request_timestamp = 0.0, 3_599.5
    for entry_or_total in (entry, stats.total):
        for second in range(3_600):
            entry_or_total.num_reqs_per_sec[second] = second % 7 + 1
            entry_or_total.num_fail_per_sec[second] = second % 2
    before = (entry.current_rps, entry.current_fail_per_sec, stats.total.current_rps)
    locust_memory.prune(stats, 3_600.0)
    assert sorted(entry.num_reqs_per_sec) == list(range(3_600 - locust_memory.KEEP_SECONDS, 3_600))
    assert sorted(stats.total.num_fail_per_sec) == sorted(entry.num_reqs_per_sec)
    assert (entry.current_rps, entry.current_fail_per_sec, stats.total.current_rps) == before
    assert before[0] > 0 and before[1] > 0


def test_chart_history_is_thinned_in_place_never_cut() -> None:
    stats = RequestStats()
    history = stats.history
    history.extend({"time": str(i)} for i in range(locust_memory.MAX_HISTORY + 1))
    locust_memory.prune(stats, 0.0)
    assert stats.history is history  # the list Locust's web UI holds
    times = [int(point["time"]) for point in history]
    assert times[0] == 0 and times[-1] == locust_memory.MAX_HISTORY  # the whole run still spanned
    n = locust_memory.MAX_HISTORY + 1
    assert times == sorted(times) and len(times) == n - n // 2 // 2  # every second point of the older half
    assert times[: n // 2 // 2] == list(range(0, n // 2, 2)) and times[n // 2 // 2 :] == list(
        range(n // 2, n)
    )
