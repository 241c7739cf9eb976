"""The run summary (``--ws-summary``): one JSON document built from a recorder's state."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import orjson

from loadtest.metrics import protocols
from loadtest.metrics.aggregate import SERIES_FIELDS
from loadtest.metrics.histogram import Histogram
from loadtest.metrics.recorder import ERROR_COUNTERS, Recorder
from loadtest.report import fanout, lifetimes

SCHEMA = "loadtest.summary/1"


def _short(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary[k] for k in ("p50", "p99", "max")}


def _per_s(count: int, duration_s: float) -> float:
    return round(count / duration_s, 3) if duration_s > 0 else 0.0


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def build(
    recorder: Recorder,
    *,
    target: str,
    duration_s: float,
    locust_totals: Mapping[str, Any] | None = None,
    process: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the summary of everything ``recorder`` holds."""
    state = recorder.state(encode=False)
    counters, keyed = state["counters"], state["keyed"]
    hist: dict[str, Histogram] = state["histograms"]
    failures = dict(sorted(keyed["handshake_failures"].items()))
    server = {k: v for k, v in sorted(keyed["closes_server"].items())}
    client = {k: v for k, v in sorted(keyed["closes_client"].items())}
    abnormal = sum(keyed["abnormal_reasons"].values())
    ended = sum(server.values()) + sum(client.values()) + abnormal
    return {
        "schema": SCHEMA,
        "target": target,
        "duration_s": round(duration_s, 3),
        "sessions": {
            "opened": counters["sessions_opened"],
            "ended": ended,
            "open_at_end": state["concurrent"],
            "peak_concurrent": state["peak_concurrent"],
        },
        "handshake_failures": {**failures, "total": sum(failures.values())},
        "closes": {
            "server": server,
            "client": client,
            "abnormal": abnormal,
            "abnormal_reasons": dict(sorted(keyed["abnormal_reasons"].items())),
            "total": ended,
            "abnormal_ratio": _ratio(abnormal, ended),
        },
        "messages": {
            "sent": counters["messages_sent"],
            "received": counters["messages_received"],
            "bytes_sent": counters["bytes_sent"],
            "bytes_received": counters["bytes_received"],
        },
        "errors": {name: counters[name] for name in ERROR_COUNTERS},
        "rtt_ms": hist["rtt"].summary(),
        "rtt_scheduled_ms": hist["rtt_scheduled"].summary(),
        "ping_rtt_ms": hist["ping_rtt"].summary(),
        "connect_ms": hist["connect"].summary(),
        "connect_phases_ms": {
            "tcp": hist["connect_tcp"].summary(),
            "tls": hist["connect_tls"].summary(),
            "upgrade": hist["connect_upgrade"].summary(),
        },
        "close_ms": hist["close"].summary(),
        "reconnects": {"delay_ms": hist["reconnect_delay"].summary()},
        "backpressure": {
            "send_queue_bytes": _short(hist["send_queue_bytes"].summary()),
            "send_stall_ms": _short(hist["send_stall"].summary()),
            "over_threshold": counters["over_threshold"],
            "threshold_bytes": recorder.backpressure_threshold_bytes,
        },
        "throughput": {
            "messages_sent_per_s": _per_s(counters["messages_sent"], duration_s),
            "messages_received_per_s": _per_s(counters["messages_received"], duration_s),
            "bytes_sent_per_s": _per_s(counters["bytes_sent"], duration_s),
            "bytes_received_per_s": _per_s(counters["bytes_received"], duration_s),
        },
        "compression": compression_section(counters),
        "fanout": fanout.section(recorder),
        "protocols": protocols.section(counters, hist),
        "session_ends": (ends := lifetimes.end_rows(recorder.ends)),
        "idle_timeout_suspects": lifetimes.idle_timeout_suspects(ends),
        "locust": dict(locust_totals or {}),
        "process": dict(process or {}),
    }


def compression_section(counters: Mapping[str, int]) -> dict[str, Any]:
    """Return permessage-deflate's counts: sessions, and payload vs wire bytes of those that negotiated it.

    ``payload`` bytes are the messages as the application sees them, ``wire`` bytes their frames'
    payloads as they crossed the network (compressed, or not when a side sent one uncompressed);
    a ratio is wire / payload (None before any byte), so 0.25 means a quarter of the bytes.
    """
    sent, wire_sent = counters["deflate_payload_sent"], counters["deflate_wire_sent"]
    received, wire_received = counters["deflate_payload_received"], counters["deflate_wire_received"]
    return {
        "offered": counters["deflate_offered"],
        "negotiated": counters["deflate_negotiated"],
        "bytes_payload_sent": sent,
        "bytes_wire_sent": wire_sent,
        "bytes_payload_received": received,
        "bytes_wire_received": wire_received,
        "ratio_sent": round(wire_sent / sent, 4) if sent else None,
        "ratio_received": round(wire_received / received, 4) if received else None,
    }


def process_section(own: Mapping[str, Any], workers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return the load generator's own cost: this process, each worker, and their total.

    ``own`` and each worker carry ``cpu_s`` (CPU seconds during the run), ``max_rss_mib`` (the
    process's peak resident memory) and ``loop_lag_ms`` (its event loop's lag, p99 and max);
    ``total`` adds the CPU and the memory of all of them and keeps the worst lag.
    """
    workers = sorted(workers or [], key=lambda w: str(w.get("worker", "")))
    everyone = [own, *workers]
    section: dict[str, Any] = {
        "cpu_s": own["cpu_s"],
        "max_rss_mib": own["max_rss_mib"],
        "workers": workers,
        "total": {
            "cpu_s": round(sum(float(p["cpu_s"]) for p in everyone), 3),
            "max_rss_mib": round(sum(float(p["max_rss_mib"]) for p in everyone), 1),
            "processes": len(everyone),
        },
    }
    lags = [p["loop_lag_ms"] for p in everyone if "loop_lag_ms" in p]
    if "loop_lag_ms" in own:
        section["loop_lag_ms"] = own["loop_lag_ms"]
    if lags:
        section["total"]["loop_lag_ms"] = {
            key: max((lag[key] for lag in lags if lag.get(key) is not None), default=None)
            for key in ("p99", "max")
        }
    return section


def schema() -> dict[str, Any]:
    """Return a summary with every section and one element in every list: the shape checks use."""
    from loadtest.metrics.storm import Storm, merge

    template = build(
        Recorder(),
        target="",
        duration_s=0.0,
        locust_totals={"requests": 0, "failures": 0, "fail_ratio": 0.0, "request_events": 0},
        process=process_section(
            {"cpu_s": 0.0, "max_rss_mib": 0.0, "loop_lag_ms": {"p99": 0.0, "max": 0.0}},
            [{"worker": "", "cpu_s": 0.0, "max_rss_mib": 0.0, "loop_lag_ms": {"p99": 0.0, "max": 0.0}}],
        ),
    )
    template["storms"] = merge([[Storm(0, 0, "client", 0).state(0.0)]])
    template["session_ends"] = lifetimes.end_rows(
        {"server:1000": (Histogram(scale=1e6), Histogram(scale=1e6))}
    )
    template["idle_timeout_suspects"] = [{"idle_age_s": 0.0, "sessions": 0}]
    template["workers"] = {"reported": 0, "lost": [{"elapsed_s": 0.0}]}
    template["run"] = {"index": 0, "started_at": 0.0, "sample_interval_s": 0.0, "points": 0}
    template["series"] = [dict.fromkeys(SERIES_FIELDS, 0.0)]
    template["baseline"] = {"compared": [{"baseline": 0.0, "now": 0.0, "change_pct": 0.0, "limit_pct": 0.0}]}
    return template


def write(summary: dict[str, Any], path: str) -> None:
    """Write ``summary`` to ``path`` atomically (a reader never sees half a file)."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)
