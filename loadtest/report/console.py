"""The short table printed at the end of every run: close codes and handshake failures, with hints."""

from __future__ import annotations

from typing import Any

from loadtest.metrics import close_codes
from loadtest.metrics.handshake import hint as handshake_hint


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
    for key, label in (("rtt_ms", "RTT"), ("ping_rtt_ms", "ping RTT"), ("connect_ms", "connect")):
        h = summary[key]
        if h["count"]:
            lines.append(
                f" {label:<9} ms  n={h['count']} p50={_fmt(h['p50'])} p90={_fmt(h['p90'])} "
                f"p99={_fmt(h['p99'])} p99.9={_fmt(h['p999'])} max={_fmt(h['max'])}"
            )
    bp = summary["backpressure"]
    lines.append(
        f" send queue bytes p50={bp['send_queue_bytes']['p50']} p99={bp['send_queue_bytes']['p99']} "
        f"max={bp['send_queue_bytes']['max']}; send stall ms p99={_fmt(bp['send_stall_ms']['p99'])} "
        f"max={_fmt(bp['send_stall_ms']['max'])}; over {bp['threshold_bytes']} B: {bp['over_threshold']}"
    )
    for suspect in summary.get("idle_timeout_suspects", []):
        lines.append(f" idle timeout? {suspect['message']}")
    errors = {k: v for k, v in summary["errors"].items() if v}
    if errors:
        lines.append(" errors: " + ", ".join(f"{k}={v}" for k, v in errors.items()))
    return "\n".join(lines)
