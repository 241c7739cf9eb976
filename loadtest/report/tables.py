"""The WebSocket tables every output shows (console, CSV, web UI, HTML), built from a summary."""

from __future__ import annotations

from typing import Any

from loadtest.metrics import close_codes
from loadtest.metrics.handshake import hint as handshake_hint

LATENCY_KEYS = ("count", "min", "p50", "p90", "p99", "p999", "max")


def close_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per (who, code), most frequent first, with meaning, share and hint."""
    closes = summary["closes"]
    total = closes["total"]
    rows: list[dict[str, Any]] = []
    for who in (close_codes.SERVER, close_codes.CLIENT):
        for code, count in closes[who].items():
            rows.append({"who": who, "code": int(code), "reason": "", "count": count})
    for reason, count in closes["abnormal_reasons"].items():
        rows.append({"who": "nobody", "code": close_codes.ABNORMAL_CODE, "reason": reason, "count": count})
    for row in rows:
        row["meaning"] = close_codes.meaning(row["code"])
        if row["reason"]:
            row["meaning"] += f": {close_codes.ABNORMAL_REASONS.get(row['reason'], row['reason'])}"
        row["share"] = round(row["count"] / total, 4) if total else 0.0
        row["hint"] = close_codes.hint(row["code"])
    return sorted(rows, key=lambda row: (-row["count"], row["who"], row["code"]))


def handshake_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per handshake failure class, most frequent first, with its hint."""
    failures = {k: v for k, v in summary["handshake_failures"].items() if k != "total"}
    return [
        {"class": name, "count": count, "hint": handshake_hint(name)}
        for name, count in sorted(failures.items(), key=lambda item: (-item[1], item[0]))
    ]


def latency_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the round-trip and connect histograms, one row each, in milliseconds."""
    sources = [
        ("rtt", summary["rtt_ms"]),
        ("ping_rtt", summary["ping_rtt_ms"]),
        ("connect", summary["connect_ms"]),
    ]
    sources += [(f"connect_{phase}", h) for phase, h in summary["connect_phases_ms"].items()]
    return [{"metric": name, **{k: h[k] for k in LATENCY_KEYS}} for name, h in sources]


def backpressure_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Return send-queue bytes and send stall time, with the threshold crossings."""
    bp = summary["backpressure"]
    return [
        {"metric": "send_queue_bytes", **bp["send_queue_bytes"], "over_threshold": bp["over_threshold"]},
        {"metric": "send_stall_ms", **bp["send_stall_ms"], "over_threshold": ""},
    ]


def session_row(summary: dict[str, Any], connected_now: int | None = None) -> dict[str, Any]:
    """Return the sessions line: connected now, peak, opened, ended."""
    sessions = summary["sessions"]
    return {
        "connected": sessions["open_at_end"] if connected_now is None else connected_now,
        "peak": sessions["peak_concurrent"],
        "opened": sessions["opened"],
        "ended": sessions["ended"],
    }


def fanout_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the fan-out line (none when the run had no fan-out)."""
    fanout = summary.get("fanout") or {}
    return [fanout] if fanout.get("published") is not None else []


def compression_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the permessage-deflate line (none when no session offered it)."""
    compression = summary.get("compression") or {}
    return [compression] if compression.get("offered") else []


def all_tables(summary: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return every table by name (``closes``, ``handshake_failures``, ``latency``, ``backpressure``,
    ``compression``, ``fanout``)."""
    return {
        "closes": close_rows(summary),
        "handshake_failures": handshake_rows(summary),
        "latency": latency_rows(summary),
        "backpressure": backpressure_rows(summary),
        "compression": compression_rows(summary),
        "fanout": fanout_rows(summary),
    }
