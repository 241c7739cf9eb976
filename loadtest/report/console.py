"""The short table printed at the end of every run: close codes and handshake failures, with hints."""

from __future__ import annotations

from typing import Any

from loadtest.metrics import close_codes
from loadtest.metrics.handshake import hint as handshake_hint


def _fmt_int(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(summary: dict[str, Any]) -> str:
    """Return the end-of-run table for a summary built by :func:`loadtest.report.summary.build`."""
    sessions, closes = summary["sessions"], summary["closes"]
    lines = [
        f"WebSocket run against {summary['target']} ({summary['duration_s']:.1f} s): "
        f"{sessions['opened']} sessions opened, peak {sessions['peak_concurrent']} concurrent, "
        f"{sessions['ended']} ended, {sessions['open_at_end']} open at the end",
    ]
    total = closes["total"]
    rows: list[tuple[str, int, int]] = [("server", int(c), n) for c, n in closes["server"].items()]
    rows += [("client", int(c), n) for c, n in closes["client"].items()]
    if closes["abnormal"]:
        rows.append(("nobody", close_codes.ABNORMAL_CODE, closes["abnormal"]))
    if rows:
        lines.append(f" {'closed by':<9} {'code':>5}  {'meaning':<34} {'count':>7} {'share':>6}  hint")
        for who, code, count in sorted(rows, key=lambda row: -row[2]):
            share = f"{100.0 * count / total:.1f}%" if total else "-"
            meaning = close_codes.meaning(code)[:34]
            lines.append(
                f" {who:<9} {code:>5}  {meaning:<34} {count:>7} {share:>6}  {close_codes.hint(code)}"
            )
        for reason, count in closes["abnormal_reasons"].items():
            lines.append(f"   1006 {reason}: {count} ({close_codes.ABNORMAL_REASONS.get(reason, reason)})")
    failures = {k: v for k, v in summary["handshake_failures"].items() if k != "total"}
    if failures:
        lines.append(f" {'handshake failure':<18} {'count':>7}  hint")
        for name, count in sorted(failures.items(), key=lambda item: -item[1]):
            lines.append(f" {name:<18} {count:>7}  {handshake_hint(name)}")
    keys = (("rtt_ms", "RTT"), ("rtt_scheduled_ms", "RTT from schedule"), ("ping_rtt_ms", "ping RTT"))
    for key, label in (*keys, ("connect_ms", "connect")):
        h = summary.get(key)
        if h is None:
            continue
        if h["count"]:
            lines.append(
                f" {label:<9} ms  n={h['count']} p50={_fmt(h['p50'])} p90={_fmt(h['p90'])} "
                f"p99={_fmt(h['p99'])} p99.9={_fmt(h['p999'])} max={_fmt(h['max'])}"
            )
    bp = summary["backpressure"]
    queue, stall = bp["send_queue_bytes"], bp["send_stall_ms"]
    lines.append(
        f" send queue bytes p50={_fmt_int(queue['p50'])} p99={_fmt_int(queue['p99'])}"
        f" max={_fmt_int(queue['max'])};"
        f" send stall ms p99={_fmt(stall['p99'])} max={_fmt(stall['max'])};"
        f" over {bp['threshold_bytes']} B: {bp['over_threshold']}"
    )
    if "throughput" in summary:
        t = summary["throughput"]
        lines.append(
            f" throughput: {t['messages_sent_per_s']:.1f} msg/s sent,"
            f" {t['messages_received_per_s']:.1f} msg/s received,"
            f" {t['bytes_sent_per_s'] / 1024:.1f} KiB/s sent"
        )
    lines += protocol_lines(summary.get("protocols", {}))
    lines += [f" {line}" for line in findings(summary)]
    errors = {k: v for k, v in summary["errors"].items() if v}
    if errors:
        lines.append(" errors: " + ", ".join(f"{k}={v}" for k, v in errors.items()))
    return "\n".join(lines)


def protocol_lines(protocols: dict[str, Any]) -> list[str]:
    """Return one line per protocol that was spoken: its non-zero counts, then its histograms."""
    lines: list[str] = []
    for name, section in protocols.items():
        counts = [f"{key}={value}" for key, value in section.items() if isinstance(value, int) and value]
        if not counts:
            continue
        hists = [
            f"{key} p50={_fmt(h['p50'])} p99={_fmt(h['p99'])} max={_fmt(h['max'])}"
            for key, h in section.items()
            if isinstance(h, dict) and h.get("count")
        ]
        lines.append(f" {name}: {', '.join(counts)}" + "".join(f"; {h}" for h in hists))
    return lines


def findings(summary: dict[str, Any]) -> list[str]:
    """Return one line per storm, suspected idle timeout and lost worker (console and HTML)."""
    found: list[str] = []
    for storm in summary.get("storms", []):
        recovery, attempts = storm["recovery_ms"], storm["attempts_per_recovery"]
        back = "never" if storm["fleet_back_s"] is None else f"{storm['fleet_back_s']:.2f} s"
        storm_failures = ", ".join(f"{k}={v}" for k, v in storm["handshake_failures"].items()) or "none"
        found.append(
            f"storm {storm['index']} ({storm['trigger']}) at {storm['started_s']:.1f} s:"
            f" {storm['dropped']} dropped,"
            f" {storm['recovered']} back (recovery ms p50={_fmt(recovery['p50'])} p99={_fmt(recovery['p99'])}"
            f" max={_fmt(recovery['max'])}), fleet back after {back}, attempts p50={_fmt(attempts['p50'])}"
            f" max={_fmt(attempts['max'])}, peak {storm['peak_handshake_rate_per_s']} handshakes/s,"
            f" failures: {storm_failures}, gave up: {storm['gave_up']}"
        )
    for suspect in summary.get("idle_timeout_suspects", []):
        found.append(f"idle timeout? {suspect['message']}")
    for worker in summary.get("workers", {}).get("lost", []):
        found.append(
            f"worker lost: {worker['worker']} at {worker['lost_at']} ({worker['elapsed_s']:.1f} s in)"
        )
    return found
