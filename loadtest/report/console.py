"""The short table printed at the end of every run: close codes and handshake failures, with hints."""

from __future__ import annotations

from typing import Any

from loadtest.metrics import close_codes
from loadtest.metrics.handshake import hint as handshake_hint

#: Event-loop lag (p99, ms) above which the generator itself is a bottleneck: a reply read this
#: late adds this much to the RTT it measures, so latencies are partly the generator's own.
LOOP_LAG_WARNING_MS = 20.0


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
    lines += compression_lines(summary.get("compression") or {})
    lines += fanout_lines(summary.get("fanout") or {})
    lag = _loop_lag(summary)
    process = summary.get("process") or {}
    if lag is not None:
        total = process.get("total", {})
        lines.append(
            f" generator: {total.get('cpu_s', process.get('cpu_s', 0.0)):.1f} CPU-s in "
            f"{total.get('processes', 1)} process(es), event-loop lag p99={_fmt(lag['p99'])} ms"
            f" max={_fmt(lag['max'])} ms"
        )
    lines += protocol_lines(summary.get("protocols", {}))
    lines += [f" {line}" for line in findings(summary)]
    errors = {k: v for k, v in summary["errors"].items() if v}
    if errors:
        lines.append(" errors: " + ", ".join(f"{k}={v}" for k, v in errors.items()))
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.1f}%"


def compression_lines(compression: dict[str, Any]) -> list[str]:
    """Return the permessage-deflate line: sessions that negotiated it, payload vs wire bytes."""
    if not compression.get("offered"):
        return []
    return [
        f" compression: permessage-deflate in {compression['negotiated']} of {compression['offered']}"
        f" sessions; sent {compression['bytes_payload_sent']} B -> {compression['bytes_wire_sent']} B"
        f" on the wire ({_ratio(compression['ratio_sent'])}), received"
        f" {compression['bytes_payload_received']} B <- {compression['bytes_wire_received']} B"
        f" ({_ratio(compression['ratio_received'])})"
    ]


def fanout_lines(fanout: dict[str, Any]) -> list[str]:
    """Return the fan-out lines: what was published and what arrived, the delivery latency, the barrier."""
    if fanout.get("published") is None:
        return []
    subs = fanout["subscriptions"]
    lines = [
        f" fan-out: {fanout['published']} published ({_count(fanout['publishers'], 'publisher')},"
        f" {_count(fanout['topics'], 'topic')});"
        f" {fanout['expected']} expected, {fanout['delivered']} delivered, {fanout['lost']} lost,"
        f" {fanout['duplicated']} duplicated, {fanout['reordered']} reordered"
        f" ({subs['acknowledged']} subscriptions: {subs['ordinal']} by ordinal,"
        f" {subs['sequence']} by sequence, {subs['ended_early']} ended early)"
    ]
    h = fanout["latency_ms"]
    if h["count"]:
        lines.append(
            f" delivery ms n={h['count']} p50={_fmt(h['p50'])} p90={_fmt(h['p90'])} p99={_fmt(h['p99'])}"
            f" p99.9={_fmt(h['p999'])} max={_fmt(h['max'])}"
        )
    if fanout["latency_other_host"]:
        lines.append(
            f" delivery latency not measured for {fanout['latency_other_host']} deliveries:"
            " their publisher ran on another host (its clock is not ours)"
        )
    barrier = fanout["barrier"]
    if barrier.get("timed_out"):
        lines.append(
            f" fan-out barrier timed out: publishing started with {barrier['acknowledged']} of"
            f" {barrier['subscribers']} subscriptions in place"
        )
    return lines


def _loop_lag(summary: dict[str, Any]) -> dict[str, Any] | None:
    """Return the worst process's event-loop lag ``{p99, max}`` (ms), if it was measured."""
    process = summary.get("process") or {}
    lag: dict[str, Any] | None = process.get("total", {}).get("loop_lag_ms") or process.get("loop_lag_ms")
    return lag


def saturation(summary: dict[str, Any]) -> str | None:
    """Return a warning when the generator's event loop lagged (p99) over the threshold."""
    lag = _loop_lag(summary)
    if lag is None or lag.get("p99") is None or lag["p99"] <= LOOP_LAG_WARNING_MS:
        return None
    return (
        f"generator saturated: event-loop lag p99 {lag['p99']:.1f} ms (over {LOOP_LAG_WARNING_MS:.0f} ms):"
        " replies were read that late, so latencies include the generator's own delay;"
        " add processes (--processes, workers) or fewer users per process"
    )


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
    """Return one line per storm, suspected idle timeout, lost worker and saturation (console, HTML)."""
    found: list[str] = []
    warning = saturation(summary)
    if warning:
        found.append(warning)
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
