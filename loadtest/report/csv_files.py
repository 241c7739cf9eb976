"""WebSocket CSV files next to Locust's own (``--csv PREFIX``): tables at the end, history as it goes."""

from __future__ import annotations

import csv
import io
import os
from typing import IO, Any

from loadtest.metrics.aggregate import SERIES_FIELDS
from loadtest.report.tables import all_tables

TABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "closes": ("who", "code", "reason", "meaning", "count", "share", "hint"),
    "handshake_failures": ("class", "count", "hint"),
    "latency": ("metric", "count", "min", "p50", "p90", "p99", "p999", "max"),
    "backpressure": ("metric", "p50", "p99", "max", "over_threshold"),
}


def table_csv(name: str, summary: dict[str, Any]) -> str:
    """Return one WebSocket table as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TABLE_FIELDS[name], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(all_tables(summary)[name])
    return out.getvalue()


def history_csv(points: list[dict[str, Any]]) -> str:
    """Return time-series points as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SERIES_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(points)
    return out.getvalue()


def write_tables(prefix: str, summary: dict[str, Any]) -> list[str]:
    """Write ``PREFIX_ws_<table>.csv`` for every table; return the paths."""
    paths = []
    for name in TABLE_FIELDS:
        path = f"{prefix}_ws_{name}.csv"
        _ensure_folder(path)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(table_csv(name, summary))
        paths.append(path)
    return paths


def _ensure_folder(path: str) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)


class HistoryWriter:
    """Append one row per sample to ``PREFIX_ws_history.csv`` (every point, flushed as written)."""

    def __init__(self, prefix: str) -> None:
        self.path = f"{prefix}_ws_history.csv"
        _ensure_folder(self.path)
        self._handle: IO[str] = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self._writer = csv.DictWriter(self._handle, fieldnames=SERIES_FIELDS, extrasaction="ignore")
        self._writer.writeheader()
        self._handle.flush()

    def write(self, point: dict[str, Any]) -> None:
        """Append one point."""
        self._writer.writerow(point)
        self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        self._handle.close()
