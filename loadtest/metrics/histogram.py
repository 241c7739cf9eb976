"""Mergeable latency and size histograms with bounded memory.

HdrHistogram keeps three significant digits over the whole range in a fixed counts array
(~190 KiB), records in ~1.6 µs and merges exactly, which is what distributed runs need: the
master adds the workers' histograms instead of averaging their percentiles.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from hdrh.histogram import HdrHistogram

#: Percentiles every summary reports, with their key names.
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9))

_SIGNIFICANT_DIGITS = 3


class Histogram:
    """A histogram of non-negative integers (microseconds, or bytes).

    Args:
        highest: largest value kept exactly; larger values are clamped to it and counted.
        scale: divisor applied when reporting (1000 turns microseconds into milliseconds).
    """

    __slots__ = ("_hdr", "_highest", "scale", "clamped", "_counts", "_mask", "_unit", "_shift", "_base")

    def __init__(self, *, highest: int = 3_600_000_000, scale: float = 1.0) -> None:
        self._highest = highest
        self._hdr = HdrHistogram(1, highest, _SIGNIFICANT_DIGITS)
        self.scale = scale
        self.clamped = 0
        # HdrHistogram.record_value's index arithmetic, folded into constants: recording is on
        # the hot path of every message (a benchmark showed it at ~10% of the generator's CPU).
        hdr = self._hdr
        self._counts = hdr.counts
        self._mask = hdr.sub_bucket_mask
        self._unit = hdr.unit_magnitude
        self._shift = hdr.sub_bucket_half_count_magnitude
        self._base = hdr.unit_magnitude + hdr.sub_bucket_half_count_magnitude + 1

    def record(self, value: int) -> None:
        """Record one value; values above the range are clamped and counted in ``clamped``."""
        if value > self._highest:
            value = self._highest
            self.clamped += 1
        elif value < 0:
            value = 0
        bucket = (value | self._mask).bit_length() - self._base
        index = ((bucket + 1) << self._shift) + (value >> (bucket + self._unit)) - (1 << self._shift)
        self._counts[index] += 1
        hdr = self._hdr
        hdr.total_count += 1
        if value < hdr.min_value:
            hdr.min_value = value
        if value > hdr.max_value:
            hdr.max_value = value

    def record_zeros(self, count: int) -> None:
        """Record the value 0 ``count`` times (one update, for counts kept aside on the hot path)."""
        self._counts[0] += count
        hdr = self._hdr
        hdr.total_count += count
        hdr.min_value = 0

    @property
    def count(self) -> int:
        """Return how many values were recorded."""
        return int(self._hdr.get_total_count())

    def merge(self, other: Histogram) -> None:
        """Add every value of ``other`` to this histogram (exact, not an average)."""
        if not other.count:
            return  # HdrHistogram.add of an empty histogram would set min to 0
        self._hdr.add(other._hdr)
        self.clamped += other.clamped

    def reset(self) -> None:
        """Forget every value (a C memset: HdrHistogram's own reset loops in Python, ~2 ms)."""
        counts = self._counts
        ctypes.memset(ctypes.addressof(counts), 0, ctypes.sizeof(counts))
        hdr = self._hdr
        hdr.total_count = 0
        hdr.min_value = sys.maxsize
        hdr.max_value = 0
        self.clamped = 0

    def encode(self) -> str:
        """Return a compact text form (``clamped:hdr``) for sending to the Locust master."""
        return f"{self.clamped}:{self._hdr.encode().decode('ascii')}" if self.count else ""

    def merge_encoded(self, encoded: str) -> None:
        """Merge a histogram produced by :meth:`encode`."""
        if encoded:
            clamped, _, hdr = encoded.partition(":")
            self._hdr.add(HdrHistogram.decode(hdr.encode("ascii")))
            self.clamped += int(clamped)

    def percentile(self, percent: float) -> float:
        """Return the value at ``percent`` in reporting units."""
        return float(self._hdr.get_value_at_percentile(percent)) / self.scale

    def summary(self) -> dict[str, Any]:
        """Return ``{count, min, p50, p90, p99, p999, max}`` in reporting units (None when empty)."""
        count = self.count
        out: dict[str, Any] = {"count": count}
        if not count:
            out.update({"min": None, **{k: None for k, _ in PERCENTILES}, "max": None})
            return out
        out["min"] = round(self._hdr.get_min_value() / self.scale, 4)
        for key, pct in PERCENTILES:
            out[key] = round(self.percentile(pct), 4)
        out["max"] = round(self._hdr.get_max_value() / self.scale, 4)
        return out
