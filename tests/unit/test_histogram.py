"""Unit tests for loadtest.metrics.histogram (HdrHistogram wrapper)."""

from __future__ import annotations

import math

import pytest

from loadtest.metrics.histogram import PERCENTILES, Histogram

# HdrHistogram with 3 significant digits: any reported value is within 0.1% of the recorded one.
REL_TOL = 1e-3


def _ms_histogram() -> Histogram:
    return Histogram(scale=1000.0)


def test_percentiles_in_ms_within_three_significant_digits() -> None:
    h = _ms_histogram()
    values_us = list(range(1_000, 1_001_000, 1_000))  # 1 ms .. 1000 ms, 1000 values
    for value in values_us:
        h.record(value)

    assert h.count == 1000
    summary = h.summary()
    assert summary["count"] == 1000
    assert math.isclose(summary["min"], 1.0, rel_tol=REL_TOL)
    assert math.isclose(summary["p50"], 500.0, rel_tol=REL_TOL)
    assert math.isclose(summary["p90"], 900.0, rel_tol=REL_TOL)
    assert math.isclose(summary["p99"], 990.0, rel_tol=REL_TOL)
    assert math.isclose(summary["p999"], 999.0, rel_tol=REL_TOL)
    assert math.isclose(summary["max"], 1000.0, rel_tol=REL_TOL)
    assert math.isclose(h.percentile(75.0), 750.0, rel_tol=REL_TOL)


def test_large_single_value_reported_in_ms() -> None:
    h = _ms_histogram()
    h.record(1_234_567)  # 1.234567 s

    summary = h.summary()
    for key in ("min", "p50", "p90", "p99", "p999", "max"):
        assert math.isclose(summary[key], 1234.567, rel_tol=REL_TOL), key


def test_sub_millisecond_values_keep_resolution() -> None:
    h = _ms_histogram()
    h.record(137)

    assert h.summary() == {
        "count": 1,
        "min": 0.137,
        "p50": 0.137,
        "p90": 0.137,
        "p99": 0.137,
        "p999": 0.137,
        "max": 0.137,
    }


def test_small_values_are_exact() -> None:
    h = _ms_histogram()
    for value in (1, 2, 3, 999, 2047):
        h.record(value)

    summary = h.summary()
    assert summary["min"] == 0.001
    assert summary["max"] == 2.047
    assert h.percentile(60.0) == 0.003
    assert h.percentile(80.0) == 0.999


def test_negative_value_is_recorded_as_zero() -> None:
    h = _ms_histogram()
    h.record(-5)

    assert h.count == 1
    assert h.summary()["min"] == 0.0
    assert h.summary()["max"] == 0.0
    assert h.clamped == 0


def test_empty_summary_has_count_zero_and_none_values() -> None:
    h = _ms_histogram()

    assert h.count == 0
    assert h.summary() == {
        "count": 0,
        "min": None,
        "p50": None,
        "p90": None,
        "p99": None,
        "p999": None,
        "max": None,
    }
    assert h.encode() == ""


def test_summary_keys_follow_percentiles() -> None:
    h = _ms_histogram()
    h.record(10)

    assert list(h.summary()) == ["count", "min", *[key for key, _ in PERCENTILES], "max"]


def _set_a() -> list[int]:
    return [137, 500, 1_000, 2_500, 10_000, 75_000, 1_234_567]


def _set_b() -> list[int]:
    return [90, 90, 4_000, 33_333, 250_000, 2_000_000, 9_999_999]


def test_merge_equals_single_histogram_of_both_sets() -> None:
    a, b, both = _ms_histogram(), _ms_histogram(), _ms_histogram()
    for value in _set_a():
        a.record(value)
        both.record(value)
    for value in _set_b():
        b.record(value)
        both.record(value)

    a.merge(b)

    assert a.count == both.count == len(_set_a()) + len(_set_b())
    assert a.summary() == both.summary()
    for pct in (0.0, 10.0, 25.0, 33.3, 50.0, 66.6, 75.0, 90.0, 99.0, 99.9, 100.0):
        assert a.percentile(pct) == both.percentile(pct), pct
    # b is untouched by the merge
    assert b.count == len(_set_b())


def test_encode_merge_encoded_round_trip() -> None:
    source = _ms_histogram()
    for value in _set_a() + _set_b():
        source.record(value)

    encoded = source.encode()
    assert isinstance(encoded, str)
    assert encoded.isascii()

    target = _ms_histogram()
    target.merge_encoded(encoded)

    assert target.count == source.count
    assert target.summary() == source.summary()


def test_merge_encoded_adds_to_existing_values() -> None:
    a, b, both = _ms_histogram(), _ms_histogram(), _ms_histogram()
    for value in _set_a():
        a.record(value)
        both.record(value)
    for value in _set_b():
        b.record(value)
        both.record(value)

    a.merge_encoded(b.encode())

    assert a.count == both.count
    assert a.summary() == both.summary()


def test_merge_encoded_of_empty_string_is_a_no_op() -> None:
    h = _ms_histogram()
    h.record(137)
    h.merge_encoded(_ms_histogram().encode())

    assert h.count == 1
    assert h.summary()["max"] == 0.137


def test_clamping_above_highest_is_counted() -> None:
    h = Histogram(highest=1_000)
    h.record(999)
    h.record(1_000)
    h.record(1_001)
    h.record(50_000)

    assert h.count == 4
    assert h.clamped == 2
    assert h.summary()["max"] == 1_000.0


def test_merge_adds_clamped_counts() -> None:
    a, b = Histogram(highest=1_000), Histogram(highest=1_000)
    a.record(2_000)
    b.record(3_000)
    b.record(4_000)

    a.merge(b)

    assert a.clamped == 3
    assert a.count == 3


def test_reset_forgets_values_and_clamped() -> None:
    h = Histogram(highest=1_000)
    h.record(10)
    h.record(5_000)

    h.reset()

    assert h.count == 0
    assert h.clamped == 0
    assert h.summary()["p50"] is None


def test_memory_is_bounded() -> None:
    h = _ms_histogram()
    hdr = getattr(h, "_hdr", None)
    counts_len = getattr(hdr, "counts_len", None)
    if hdr is None or counts_len is None:
        pytest.skip("HdrHistogram counts_len not accessible")

    for value in range(1, 100_001):
        h.record(value * 37)  # 1e5 distinct values from 37 µs to 3.7 s

    assert h.count == 100_000
    assert hdr.counts_len == counts_len
    assert len(h.encode()) < 8 * 1024


def test_merge_encoded_keeps_clamped_count() -> None:
    worker = Histogram(highest=1_000)
    worker.record(5_000)

    master = Histogram(highest=1_000)
    master.merge_encoded(worker.encode())

    assert master.count == 1
    assert master.clamped == 1


def test_fast_record_path_matches_hdrhistogram_exactly() -> None:
    """The inlined index arithmetic must put every value where HdrHistogram.record_value does."""
    import random

    from hdrh.histogram import HdrHistogram

    ours, reference = Histogram(), HdrHistogram(1, 3_600_000_000, 3)
    rng = random.Random(7)
    values = [0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 10**6, 3_600_000_000]
    values += [int(rng.expovariate(1 / 500)) for _ in range(20_000)]
    values += [rng.randrange(0, 3_600_000_000) for _ in range(20_000)]
    for value in values:
        ours.record(value)
        reference.record_value(value)
    assert list(ours._hdr.counts) == list(reference.counts)
    assert (ours._hdr.total_count, ours._hdr.min_value, ours._hdr.max_value) == (
        reference.total_count,
        reference.min_value,
        reference.max_value,
    )
