"""Medians, ratios and issue 10's targets, read from the samples (console, markdown, JSON)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from bench.peers.run import Sample

PEER_ORDER = ("ours", "k6", "naive", "floor")
RATIOS = (("ours", "k6"), ("ours", "naive"), ("ours", "floor"))


@dataclass(frozen=True)
class Row:
    """One line of the table: a workload and one of its units."""

    workload: str
    metric: str
    label: str


ROWS = (
    Row("a", "cpu_us_per_rt", "CPU µs per round trip"),
    Row("al", "cpu_us_per_rt", "CPU µs per round trip"),
    Row("a10", "cpu_us_per_rt", "CPU µs per round trip"),
    Row("b", "rss_kib_per_session", "gross RSS KiB per session"),
    Row("b", "cpu_ms_hold", "CPU ms over the hold"),
    Row("bs", "rss_kib_per_session", "gross RSS KiB per session"),
    Row("bs", "cpu_ms_hold", "CPU ms over the hold"),
    Row("c", "cpu_ms_per_handshake", "CPU ms per handshake"),
)


@dataclass(frozen=True)
class Target:
    """A goal of issue 10: ``ours / other <= limit`` on one row."""

    what: str
    workload: str
    metric: str
    other: str
    limit: float


TARGETS = (
    Target("A, plain @task with session.request: CPU per round trip", "a", "cpu_us_per_rt", "k6", 1.5),
    Target(
        "A, engine-driven closed loop (one in flight): CPU per round trip", "al", "cpu_us_per_rt", "k6", 1.0
    ),
    Target(
        "A, engine-driven closed loop (one in flight): CPU per round trip",
        "al",
        "cpu_us_per_rt",
        "floor",
        2.0,
    ),
    Target("B: gross RSS per idle session", "b", "rss_kib_per_session", "naive", 0.75),
    Target("B: CPU over the hold, pings included", "b", "cpu_ms_hold", "naive", 0.5),
    Target(
        "B, ours with 100 sessions per user: gross RSS per idle session",
        "bs",
        "rss_kib_per_session",
        "naive",
        0.75,
    ),
    Target("B, ours with 100 sessions per user: CPU over the hold", "bs", "cpu_ms_hold", "naive", 0.5),
    Target("C: CPU per handshake", "c", "cpu_ms_per_handshake", "k6", 1.2),
)


def medians(samples: Iterable[Sample]) -> dict[tuple[str, str, str], list[float]]:
    """Return every value by ``(workload, metric, peer)``, failed runs left out."""
    values: dict[tuple[str, str, str], list[float]] = {}
    for sample in samples:
        for metric, value in sample.metrics.items():
            values.setdefault((sample.workload, metric, sample.peer), []).append(value)
    return values


def _median(values: dict[tuple[str, str, str], list[float]], key: tuple[str, str, str]) -> float | None:
    found = values.get(key)
    return statistics.median(found) if found else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"


def _ratio(mine: float | None, other: float | None) -> str:
    return "—" if mine is None or other is None or other <= 0 else f"{mine / other:.2f}x"


def table(samples: list[Sample], titles: dict[str, str], peers: list[str]) -> list[list[str]]:
    """Return the table's rows (header first): medians per peer, then the ratios."""
    values = medians(samples)
    shown = [peer for peer in PEER_ORDER if peer in peers]
    ratios = [(a, b) for a, b in RATIOS if a in peers and b in peers]
    rows = [["workload", "unit", *shown, *(f"{a}/{b}" for a, b in ratios)]]
    for row in ROWS:
        if row.workload not in titles:
            continue
        cells = [titles[row.workload], row.label]
        cells += [_fmt(_median(values, (row.workload, row.metric, peer))) for peer in shown]
        for a, b in ratios:
            cells.append(
                _ratio(
                    _median(values, (row.workload, row.metric, a)),
                    _median(values, (row.workload, row.metric, b)),
                )
            )
        rows.append(cells)
    return rows


def spreads(samples: list[Sample], peers: list[str]) -> list[str]:
    """Return one line per cell with more than one run: its runs and (max - min) / median."""
    lines = []
    for (workload, metric, peer), found in sorted(medians(samples).items()):
        if len(found) > 1 and peer in peers:
            middle = statistics.median(found)
            spread = (max(found) - min(found)) / middle if middle else 0.0
            runs = ", ".join(_fmt(value) for value in found)
            lines.append(f"{workload:>3} {metric:<21} {peer:<5} runs {runs}: spread {spread:.0%}")
    return lines


def targets(samples: list[Sample]) -> list[str]:
    """Return one line per target: the ratio measured today and met / not met."""
    values = medians(samples)
    lines = []
    for target in TARGETS:
        mine = _median(values, (target.workload, target.metric, "ours"))
        other = _median(values, (target.workload, target.metric, target.other))
        if mine is None or other is None or other <= 0:
            verdict = f"not measured in this run (needs ours and {target.other})"
        else:
            ratio = mine / other
            verdict = f"{ratio:.2f}x {target.other}: {'met' if ratio <= target.limit else 'NOT met'}"
        lines.append(f"{target.what} <= {target.limit}x {target.other}: {verdict}")
    return lines


def render_text(rows: list[list[str]]) -> str:
    """Return the rows as an aligned plain-text table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def render_markdown(rows: list[list[str]]) -> str:
    """Return the rows as a markdown table."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def as_json(samples: list[Sample], context: dict[str, Any]) -> dict[str, Any]:
    """Return the run's context, every sample and the medians, for a file."""
    values = medians(samples)
    return {
        **context,
        "samples": [asdict(sample) for sample in samples],
        "medians": {f"{w}/{m}/{p}": statistics.median(v) for (w, m, p), v in values.items()},
    }
