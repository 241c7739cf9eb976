"""The run's time series, kept compact: one array of doubles per field, at most N points.

A point is a dict of numbers (or None where an interval had no sample). Kept as dicts, an
hour of points at one every 2 s is ~2.5 MiB that grows all hour long; kept as columns of 8-byte
doubles (NaN for None) it is ~0.2 MiB, so a soak's memory stays flat while the series fills.
Points are rebuilt as dicts only when read (the web page, the report, the CSV).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from typing import Any


class Series:
    """At most ``max_points`` points spanning the run, field by field."""

    __slots__ = ("fields", "max_points", "_columns")

    def __init__(self, fields: tuple[str, ...], max_points: int) -> None:
        self.fields = fields
        self.max_points = max_points
        self._columns = {name: array("d") for name in fields}

    def append(self, point: dict[str, Any]) -> None:
        """Add one point (None fields are kept as gaps); thin the older half when full.

        Past ``max_points``, every second point of the older half goes, so the series still
        spans the whole run (at a coarser step for its start, as Locust's chart history is
        thinned: ``loadtest/plugin/locust_memory.py``) and never holds more than ``max_points``.

        Raises:
            KeyError: the point's fields are not the series' (a field added to the point but
                not to the series would be dropped silently otherwise).
        """
        if point.keys() != self._columns.keys():
            raise KeyError(f"point fields {sorted(point)} are not the series' {sorted(self._columns)}")
        for name, column in self._columns.items():
            value = point.get(name)
            column.append(math.nan if value is None else float(value))
            if len(column) > self.max_points:
                del column[1 : len(column) // 2 : 2]  # the first point stays: the run starts there

    def __len__(self) -> int:
        return len(self._columns[self.fields[0]]) if self.fields else 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        columns = [self._columns[name] for name in self.fields]
        for values in zip(*columns, strict=True):
            yield {name: _plain(value) for name, value in zip(self.fields, values, strict=True)}

    def clear(self) -> None:
        """Forget every point."""
        for name in self.fields:
            self._columns[name] = array("d")


def _plain(value: float) -> float | int | None:
    if math.isnan(value):
        return None
    return int(value) if value.is_integer() and abs(value) < 2**53 else value
