"""How sessions ended: lifetime and idle age by end class, and idle-timeout detection.

A proxy or load balancer that closes idle connections (nginx ``proxy_read_timeout``, 60 s by
default; cloud LB idle timeouts) leaves a signature: many sessions of one end class, all ending
at nearly the same idle age. We report such a cluster with its age, so the user knows which
timeout to raise or which heartbeat interval to pick (shorter than the age).

Not crying wolf: an idle timeout drops the connection (1006: EOF or reset) or closes it as going
away (1001), and only after the session was idle for a while. A server close that names another
cause (1008 auth, 1009 too big, 1011 after a reply...) or sessions that were busy until they
ended (idle for under :data:`MIN_IDLE_S`) are never suspects, however tightly they cluster.
"""

from __future__ import annotations

from typing import Any

from loadtest.metrics.histogram import Histogram

#: A cluster needs at least this many sessions...
MIN_SESSIONS = 3
#: ...and their idle ages must lie within this fraction of the median (or 0.5 s, if larger).
SPREAD = 0.15
#: Ends we caused ourselves (a storm's drop, a missing pong, a stuck send, a stop): never a proxy's timeout.
OWN_DROPS = frozenset({"storm", "dead", "send_timeout", "stopped", "stopped_mid_send"})
#: The one server close code an idle timeout sends (going away); an abnormal end is the other form.
IDLE_CLOSE_CODES = frozenset({1001})
#: Sessions idle for less than this when they ended were not dropped for being idle.
MIN_IDLE_S = 1.0


def end_rows(ends: dict[str, tuple[Histogram, Histogram]]) -> list[dict[str, Any]]:
    """Return one row per end class: count, lifetime and idle age percentiles in seconds."""
    rows = []
    for key, (lifetime, idle) in sorted(ends.items(), key=lambda item: -item[1][0].count):
        if not lifetime.count:
            continue  # a class seen before a reset (its histograms are reset in place, not dropped)
        who, _, what = key.partition(":")
        rows.append(
            {
                "who": who,
                "code": int(what) if what.isdigit() else 1006,
                "reason": "" if what.isdigit() else what,
                "count": lifetime.count,
                "lifetime_s": _short(lifetime),
                "idle_age_s": _short(idle),
            }
        )
    return rows


def _short(histogram: Histogram) -> dict[str, float | None]:
    summary = histogram.summary()
    return {
        "min": summary["min"],
        "p10": round(histogram.percentile(10), 3) if histogram.count else None,
        "p50": summary["p50"],
        "p90": summary["p90"],
        "max": summary["max"],
    }


def idle_timeout_suspects(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return end classes whose sessions cluster at one idle age: a likely proxy/LB idle timeout."""
    suspects = []
    for row in rows:
        if row["count"] < MIN_SESSIONS or row["who"] == "client":
            continue
        if row["who"] == "abnormal" and row["reason"] in OWN_DROPS:
            continue
        if row["who"] == "server" and row["code"] not in IDLE_CLOSE_CODES:
            continue
        idle = row["idle_age_s"]
        p10, p50, p90 = idle["p10"], idle["p50"], idle["p90"]
        if p10 is None or p50 is None or p90 is None or p10 < MIN_IDLE_S:
            continue
        if p90 - p10 <= max(0.5, SPREAD * p50):
            closed = "without a close frame" if row["who"] == "abnormal" else f"with {row['code']}"
            suspects.append(
                {
                    "idle_age_s": round(p50, 1),
                    "sessions": row["count"],
                    "end": f"{row['who']}:{row['reason'] or row['code']}",
                    "message": (
                        f"{row['count']} sessions ended {closed} after ~{p50:.1f} s idle: likely an idle "
                        f"timeout of a proxy or load balancer (nginx proxy_read_timeout, LB idle timeout); "
                        f"raise it or send heartbeats more often than every {p50:.1f} s"
                    ),
                }
            )
    return suspects
