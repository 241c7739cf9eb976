"""The sections every page shows (sessions, closes, handshake failures, latency, backpressure,
compression, storms, fan-out): their columns, headings, what an empty one says, and how each
value is formatted.

The HTML pages (:mod:`loadtest.report.page`), ``page.js`` (which gets :data:`COLUMNS` in its spec
and mirrors :func:`fmt` and :func:`section_rows`) and the web UI's tabs read them from here.
"""

from __future__ import annotations

from typing import Any

#: The sections both pages show, in order (each a table of :data:`COLUMNS`).
SECTIONS = (
    "sessions",
    "closes",
    "handshake_failures",
    "latency",
    "backpressure",
    "compression",
    "storms",
    "fanout",
)

#: Columns of each section: (row key, heading, format). A dotted key reads a nested value.
#: Formats: text, int, ms, share, num, back_s (seconds, "never" for none), pairs (``{k: n}``).
COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "sessions": (
        ("connected", "Connected", "int"),
        ("peak", "Peak", "int"),
        ("opened", "Opened", "int"),
        ("ended", "Ended", "int"),
    ),
    "closes": (
        ("code", "Code", "text"),
        ("who", "Who closed", "text"),
        ("meaning", "Meaning", "text"),
        ("count", "Count", "int"),
        ("share", "Share", "share"),
        ("hint", "Hint", "text"),
    ),
    "handshake_failures": (("class", "Class", "text"), ("count", "Count", "int"), ("hint", "Hint", "text")),
    "latency": (
        ("metric", "Metric", "text"),
        ("count", "Count", "int"),
        ("min", "min", "ms"),
        ("p50", "p50", "ms"),
        ("p90", "p90", "ms"),
        ("p99", "p99", "ms"),
        ("p999", "p99.9", "ms"),
        ("max", "max", "ms"),
    ),
    "backpressure": (
        ("metric", "Metric", "text"),
        ("p50", "p50", "num"),
        ("p99", "p99", "num"),
        ("max", "max", "num"),
        ("over_threshold", "Samples over threshold", "text"),
    ),
    "compression": (
        ("negotiated", "Sessions negotiated", "int"),
        ("offered", "Offered", "int"),
        ("bytes_payload_sent", "Sent (payload bytes)", "int"),
        ("bytes_wire_sent", "Sent (wire bytes)", "int"),
        ("ratio_sent", "Sent ratio", "share"),
        ("bytes_payload_received", "Received (payload bytes)", "int"),
        ("bytes_wire_received", "Received (wire bytes)", "int"),
        ("ratio_received", "Received ratio", "share"),
    ),
    "storms": (
        ("index", "Storm", "int"),
        ("trigger", "Trigger", "text"),
        ("started_s", "Started (s)", "num"),
        ("sessions_before", "Sessions before", "int"),
        ("dropped", "Dropped", "int"),
        ("recovered", "Recovered", "int"),
        ("gave_up", "Gave up", "int"),
        ("recovery_ms.p50", "Recovery p50 (ms)", "ms"),
        ("recovery_ms.p99", "Recovery p99 (ms)", "ms"),
        ("fleet_back_s", "Fleet back after (s)", "back_s"),
        ("attempts_per_recovery.max", "Attempts max", "num"),
        ("peak_handshake_rate_per_s", "Peak handshakes/s", "int"),
        ("handshake_failures", "Handshake failures", "pairs"),
    ),
    "fanout": (
        ("published", "Published", "int"),
        ("expected", "Expected", "int"),
        ("delivered", "Delivered", "int"),
        ("lost", "Lost", "int"),
        ("duplicated", "Duplicated", "int"),
        ("reordered", "Reordered", "int"),
        ("latency_ms.p50", "Latency p50 (ms)", "ms"),
        ("latency_ms.p99", "Latency p99 (ms)", "ms"),
        ("latency_ms.max", "Latency max (ms)", "ms"),
    ),
}

#: Headings of the sections, and what an empty one says.
TITLES = {
    "sessions": "Sessions",
    "closes": "Close codes",
    "handshake_failures": "Handshake failures",
    "latency": "Latency (ms)",
    "backpressure": "Backpressure (bytes, ms)",
    "compression": "Compression (permessage-deflate; ratio = wire / payload)",
    "storms": "Reconnect storms",
    "fanout": "Fan-out",
}
EMPTY = {
    "sessions": "no sessions",
    "closes": "no session has ended",
    "handshake_failures": "no handshake failed",
    "latency": "no samples",
    "backpressure": "no samples",
    "compression": "not offered (--ws-compression off)",
    "storms": "no reconnect storm",
    "fanout": "no fan-out",
}


def cell(row: dict[str, Any], key: str) -> Any:
    """Return ``row[key]``, following a dotted key into nested dicts (None when a part is missing)."""
    value: Any = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def fmt(value: Any, kind: str) -> str:
    """Format one table value: ``ms`` with 3 decimals, ``share`` as a percentage, ``—`` for none."""
    if kind == "back_s":
        return "never" if value is None else f"{float(value):.2f}"
    if kind == "pairs":
        return ", ".join(f"{k}={v}" for k, v in (value or {}).items()) or "none"
    if value is None or (value == "" and kind != "text"):
        return "—"
    if kind == "ms":
        return f"{float(value):.3f}"
    if kind == "share":
        return f"{float(value) * 100:.1f}%"
    if kind == "num" and isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
    if kind in ("num", "int") and isinstance(value, float):
        return str(int(value))
    return str(value)


def section_rows(
    tables: dict[str, list[dict[str, Any]]], sessions: dict[str, Any], storms: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Return the rows of every section of :data:`SECTIONS` (page.js ``sectionRows`` mirrors it)."""
    rows = {name: list(tables.get(name, [])) for name in SECTIONS}
    rows["sessions"] = [sessions]
    rows["storms"] = list(storms)
    return rows
