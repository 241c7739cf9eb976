"""Unit tests for the Recorder, the JSON summary built from it, and the console table."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from loadtest.metrics import close_codes
from loadtest.metrics.aggregate import Aggregate
from loadtest.metrics.handshake import hint as handshake_hint
from loadtest.metrics.recorder import COUNTERS, HISTOGRAMS, KEYED, Recorder
from loadtest.report import console, summary

THRESHOLD = 1_000
TARGET = "ws://127.0.0.1:8765/echo"


def _feed_first(rec: Recorder) -> None:
    """3 opens (peak 2), 2 handshake failures, one close of each kind, sends, receives, RTTs."""
    rec.on_open({"connect": 1_500, "connect_tcp": 400, "connect_upgrade": 1_100})
    rec.on_open({"connect": 1_800, "connect_tcp": 500, "connect_tls": 700, "connect_upgrade": 600})
    rec.on_handshake_failure("http_403")
    rec.on_close(close_codes.SERVER, 1011)
    rec.on_open({"connect": 2_000, "connect_tcp": 600, "connect_upgrade": 1_400})
    rec.on_handshake_failure("refused")
    rec.on_close(close_codes.CLIENT, 1000)
    rec.on_close(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE, "eof")
    rec.on_send(100, 50, 500)  # below the threshold
    rec.on_send(200, 80, 1_000)  # at the threshold: counted
    rec.on_send(300, 2_000, 1_500)  # above the threshold
    rec.on_receive(40)
    rec.on_receive(60)
    rec.on_rtt(137)
    rec.on_rtt(1_000)
    rec.on_rtt(1_900)
    rec.count("reply_timeouts", 2)


def _feed_second(rec: Recorder) -> None:
    """2 opens still open at the end, one refused handshake, one ping, more traffic."""
    rec.on_open({"connect": 900, "connect_tcp": 300, "connect_upgrade": 600})
    rec.on_open({"connect": 1_000, "connect_tcp": 300, "connect_upgrade": 700})
    rec.on_handshake_failure("refused")
    rec.on_handshake_failure("timeout")
    rec.on_send(10, 5, 2_000)
    rec.on_receive(10)
    rec.on_rtt(250)
    rec.on_rtt(1_234_567)
    rec.on_ping_rtt(333)
    rec.count("uncorrelated")


def _none_summary() -> dict[str, Any]:
    return {"count": 0, "min": None, "p50": None, "p90": None, "p99": None, "p999": None, "max": None}


def _exact(*values: float) -> dict[str, Any]:
    """Summary of exactly recordable values already in ms, sorted; p50 is the middle of 3."""
    assert len(values) == 3
    low, mid, high = values
    return {"count": 3, "min": low, "p50": mid, "p90": high, "p99": high, "p999": high, "max": high}


def test_recorder_starts_at_zero() -> None:
    rec = Recorder()
    state = rec.state()
    assert state["counters"] == {name: 0 for name in COUNTERS}
    assert state["keyed"] == {name: {} for name in KEYED}
    assert state["peak_concurrent"] == 0
    assert state["concurrent"] == 0
    assert state["histograms"] == {name: "" for name in HISTOGRAMS}
    assert rec.backpressure_threshold_bytes == 1 << 20


def test_recorder_counters_and_keyed() -> None:
    rec = Recorder(backpressure_threshold_bytes=THRESHOLD)
    _feed_first(rec)
    state = rec.state(encode=False)

    counters = state["counters"]
    assert counters["sessions_opened"] == 3
    assert counters["sessions_ended"] == 3
    assert counters["messages_sent"] == 3
    assert counters["bytes_sent"] == 600
    assert counters["messages_received"] == 2
    assert counters["bytes_received"] == 100
    assert counters["over_threshold"] == 2
    assert counters["reply_timeouts"] == 2
    assert state["keyed"] == {
        **{name: {} for name in KEYED},
        "handshake_failures": {"http_403": 1, "refused": 1},
        "closes_server": {"1011": 1},
        "closes_client": {"1000": 1},
        "abnormal_reasons": {"eof": 1},
    }
    assert state["peak_concurrent"] == 2
    assert state["concurrent"] == 0
    assert state["histograms"]["connect_tls"].count == 1
    assert state["histograms"]["connect"].count == 3


def test_abnormal_close_without_reason_counts_as_error() -> None:
    rec = Recorder()
    rec.on_open({})
    rec.on_close(close_codes.ABNORMAL, close_codes.ABNORMAL_CODE)

    assert rec.state()["keyed"]["abnormal_reasons"] == {"error": 1}


def test_build_summary_exact() -> None:
    rec = Recorder(backpressure_threshold_bytes=THRESHOLD)
    _feed_first(rec)

    built = summary.build(
        rec,
        target=TARGET,
        duration_s=12.34567,
        locust_totals={"num_requests": 10},
        process={"workers": 1},
    )

    # sections the scenarios added, checked on their own below and in tests of their own
    for key in (
        "rtt_scheduled_ms",
        "throughput",
        "session_ends",
        "idle_timeout_suspects",
        "fanout",
        "protocols",
        "compression",  # tests/unit/test_compression_report.py
    ):
        built.pop(key)
    assert built == {
        "schema": "loadtest.summary/1",
        "target": TARGET,
        "duration_s": 12.346,
        "sessions": {"opened": 3, "ended": 3, "open_at_end": 0, "peak_concurrent": 2},
        "handshake_failures": {"http_403": 1, "refused": 1, "total": 2},
        "closes": {
            "server": {"1011": 1},
            "client": {"1000": 1},
            "abnormal": 1,
            "abnormal_reasons": {"eof": 1},
            "total": 3,
            "abnormal_ratio": 0.333333,
        },
        "messages": {"sent": 3, "received": 2, "bytes_sent": 600, "bytes_received": 100},
        "errors": {
            "send_on_closed": 0,
            "reply_timeouts": 2,
            "ping_timeouts": 0,
            "uncorrelated": 0,
            "bad_json": 0,
            "bad_utf8": 0,
            "bad_frames": 0,
            "auth_failures": 0,
            "gave_up": 0,
            "outstanding_at_end": 0,
            "handshakes_at_end": 0,
            "pushes_at_end": 0,
        },
        "rtt_ms": _exact(0.137, 1.0, 1.9),
        "ping_rtt_ms": _none_summary(),
        "connect_ms": _exact(1.5, 1.8, 2.0),
        "connect_phases_ms": {
            "tcp": _exact(0.4, 0.5, 0.6),
            "tls": {"count": 1, "min": 0.7, "p50": 0.7, "p90": 0.7, "p99": 0.7, "p999": 0.7, "max": 0.7},
            "upgrade": _exact(0.6, 1.1, 1.4),
        },
        "close_ms": _none_summary(),
        "reconnects": {"delay_ms": _none_summary()},
        "backpressure": {
            "send_queue_bytes": {"p50": 1_000.0, "p99": 1_500.0, "max": 1_500.0},
            "send_stall_ms": {"p50": 0.08, "p99": 2.0, "max": 2.0},
            "over_threshold": 2,
            "threshold_bytes": THRESHOLD,
        },
        "locust": {"num_requests": 10},
        "process": {"workers": 1},
    }


def test_build_summary_of_empty_recorder() -> None:
    built = summary.build(Recorder(), target=TARGET, duration_s=0.0)

    assert built["sessions"] == {"opened": 0, "ended": 0, "open_at_end": 0, "peak_concurrent": 0}
    assert built["handshake_failures"] == {"total": 0}
    assert built["closes"]["abnormal_ratio"] == 0.0
    assert built["closes"]["total"] == 0
    assert built["rtt_ms"] == _none_summary()
    assert built["backpressure"]["send_queue_bytes"] == {"p50": None, "p99": None, "max": None}
    assert built["locust"] == {}
    assert built["process"] == {}


def _without_peak(built: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(built))
    del out["sessions"]["peak_concurrent"]
    return out


def test_aggregate_of_two_sources_equals_one_recorder_fed_both() -> None:
    first = Recorder(backpressure_threshold_bytes=THRESHOLD)
    second = Recorder(backpressure_threshold_bytes=THRESHOLD)
    both = Recorder(backpressure_threshold_bytes=THRESHOLD)
    _feed_first(first)
    _feed_second(second)
    _feed_first(both)
    _feed_second(both)

    aggregate = Aggregate(backpressure_threshold_bytes=THRESHOLD)
    aggregate.ingest("worker-1", first.take_delta())
    aggregate.ingest("worker-2", second.take_delta())
    merged = aggregate.total

    assert merged.state(encode=False)["counters"] == both.state(encode=False)["counters"]
    assert merged.state()["keyed"] == both.state()["keyed"]
    assert merged.concurrent == both.concurrent == 2
    for name in HISTOGRAMS:
        assert merged.histograms[name].summary() == both.histograms[name].summary(), name

    merged_summary = summary.build(merged, target=TARGET, duration_s=1.0)
    both_summary = summary.build(both, target=TARGET, duration_s=1.0)
    assert _without_peak(merged_summary) == _without_peak(both_summary)
    assert merged_summary["handshake_failures"] == {"http_403": 1, "refused": 2, "timeout": 1, "total": 4}
    assert merged_summary["rtt_ms"]["count"] == 5
    # Two sources side by side: their interval peaks add (2 + 2), while one recorder fed the
    # sequences one after the other saw 2 at most.
    assert merged_summary["sessions"] == {"opened": 5, "ended": 3, "open_at_end": 2, "peak_concurrent": 4}
    assert both.peak_concurrent == 2
    # a delta starts over: the sources now hold nothing but their gauges
    assert first.counters["sessions_opened"] == 0 and second.concurrent == 2


def test_deltas_survive_json_transport_and_add_up_exactly() -> None:
    worker = Recorder(backpressure_threshold_bytes=THRESHOLD)
    reference = Recorder(backpressure_threshold_bytes=THRESHOLD)
    aggregate = Aggregate(backpressure_threshold_bytes=THRESHOLD)
    for _ in range(3):  # three report intervals
        _feed_first(worker)
        _feed_first(reference)
        aggregate.ingest("w", json.loads(json.dumps(worker.take_delta())))
    aggregate.total.peak_concurrent = reference.peak_concurrent  # gauges are the aggregate's business
    assert _without_peak(summary.build(aggregate.total, target=TARGET, duration_s=1.0)) == _without_peak(
        summary.build(reference, target=TARGET, duration_s=1.0)
    )


def test_series_points_are_rates_and_interval_percentiles() -> None:
    source = Recorder(backpressure_threshold_bytes=THRESHOLD)
    aggregate = Aggregate(backpressure_threshold_bytes=THRESHOLD)
    for rtt_us in (100, 200, 300, 400):
        source.on_rtt(rtt_us)
    source.on_close("server", 1011)
    source.on_close("server", 1011)
    aggregate.ingest("local", {**source.take_delta(), "span_s": 2.0})  # the delta covers 2 s
    point = aggregate.sample(102.0, 2.0)
    assert point["closes_server_per_s"] == 1.0
    assert point["rtt_p50_ms"] == 0.2 and point["rtt_p99_ms"] == 0.4
    aggregate.ingest("local", {**source.take_delta(), "span_s": 2.0})  # 2 quiet seconds
    empty = aggregate.sample(104.0, 4.0)  # the interval starts over; totals do not
    assert empty["rtt_p99_ms"] is None and empty["closes_server_per_s"] == 0.0
    assert aggregate.total.histograms["rtt"].count == 4
    assert len(aggregate.series) == 2


def _delta_with(sent: int, span_s: float) -> dict[str, Any]:
    recorder = Recorder(backpressure_threshold_bytes=THRESHOLD)
    for _ in range(sent):
        recorder.on_send(10, 0, 0)
    return {**recorder.take_delta(), "span_s": span_s}


def test_rates_are_per_source_over_their_own_report_spans() -> None:
    # Two workers sending 100 msg/s each, reporting every 3 s on their own clocks, sampled by
    # the master every 3 s: whatever the phase, every point reads 200 msg/s, never 0 or 400.
    aggregate = Aggregate(backpressure_threshold_bytes=THRESHOLD)
    points = []
    aggregate.ingest("w1", _delta_with(300, 3.0))
    points.append(aggregate.sample(3.0, 3.0))
    aggregate.ingest("w2", _delta_with(300, 3.0))  # w2 reported just after the point
    aggregate.ingest("w1", _delta_with(300, 3.0))
    points.append(aggregate.sample(6.0, 6.0))
    points.append(aggregate.sample(9.0, 9.0))  # neither reported in time: both keep their rate
    aggregate.ingest("w1", _delta_with(300, 3.0))
    aggregate.ingest("w2", _delta_with(600, 6.0))  # two reports of w2 arrive together
    points.append(aggregate.sample(12.0, 12.0))
    assert [p["messages_sent_per_s"] for p in points] == [100.0, 200.0, 200.0, 200.0]
    aggregate.forget_source("w2")  # a lost worker no longer adds its rate
    aggregate.ingest("w1", _delta_with(300, 3.0))
    assert aggregate.sample(15.0, 15.0)["messages_sent_per_s"] == 100.0
    assert aggregate.total.counters["messages_sent"] == 2100  # totals stay exact


def test_write_is_valid_json_and_atomic(tmp_path: Path) -> None:
    rec = Recorder(backpressure_threshold_bytes=THRESHOLD)
    _feed_first(rec)
    built = summary.build(rec, target=TARGET, duration_s=3.0)
    path = tmp_path / "nested" / "dir" / "summary.json"

    summary.write(built, str(path))

    assert json.loads(path.read_text()) == built
    assert os.listdir(path.parent) == ["summary.json"]  # no temporary file left behind


def test_write_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text("old")
    built = summary.build(Recorder(), target=TARGET, duration_s=1.0)

    summary.write(built, str(path))

    assert json.loads(path.read_text()) == built


def test_write_failure_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{"previous": true}')

    def boom(*args: object, **kwargs: object) -> bytes:
        raise TypeError("cannot serialise")

    monkeypatch.setattr("loadtest.report.summary.orjson.dumps", boom)
    with pytest.raises(TypeError):
        summary.write({"x": 1}, str(path))

    assert json.loads(path.read_text()) == {"previous": True}


def test_write_relative_path_without_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    summary.write({"schema": summary.SCHEMA}, "out.json")

    assert json.loads((tmp_path / "out.json").read_text()) == {"schema": "loadtest.summary/1"}


def _rendered() -> str:
    rec = Recorder(backpressure_threshold_bytes=THRESHOLD)
    _feed_first(rec)
    return console.render(summary.build(rec, target=TARGET, duration_s=12.34))


def _line_with(text: str, *fragments: str) -> str:
    matches = [line for line in text.splitlines() if all(f in line for f in fragments)]
    assert len(matches) == 1, (fragments, text)
    return matches[0]


def test_console_header_line() -> None:
    assert _rendered().splitlines()[0] == (
        f"WebSocket run against {TARGET} (12.3 s): 3 sessions opened, peak 2 concurrent, "
        "3 ended, 0 open at the end"
    )


@pytest.mark.parametrize(
    ("who", "code"),
    [("server", 1011), ("client", 1000), ("nobody", 1006)],
)
def test_console_close_code_rows(who: str, code: int) -> None:
    line = _line_with(_rendered(), f" {who} ", f" {code} ", close_codes.meaning(code))
    assert line.endswith(f"  {close_codes.hint(code)}")
    assert "33.3%" in line
    fields = line.split()
    assert fields[:2] == [who, str(code)]


def test_console_abnormal_reason_row() -> None:
    _line_with(_rendered(), "1006 eof: 1", f"({close_codes.ABNORMAL_REASONS['eof']})")


@pytest.mark.parametrize("failure_class", ["http_403", "refused"])
def test_console_handshake_failure_rows(failure_class: str) -> None:
    line = _line_with(_rendered(), f" {failure_class} ")
    assert line.split()[:2] == [failure_class, "1"]
    assert line.endswith(f"  {handshake_hint(failure_class)}")


def test_console_latency_backpressure_and_errors() -> None:
    text = _rendered()
    _line_with(text, "RTT", "n=3 p50=1.000 p90=1.900 p99=1.900 p99.9=1.900 max=1.900")
    _line_with(text, "connect", "n=3 p50=1.800")
    _line_with(
        text,
        "send queue bytes p50=1000 p99=1500 max=1500; send stall ms p99=2.000 max=2.000; over 1000 B: 2",
    )
    assert text.splitlines()[-1] == " errors: reply_timeouts=2"
    _line_with(text, "throughput", "0.2 msg/s sent")
    assert "ping RTT" not in text


def test_console_rows_sorted_by_count() -> None:
    rec = Recorder()
    for _ in range(3):
        rec.on_open({})
    rec.on_close(close_codes.CLIENT, 1000)
    rec.on_close(close_codes.SERVER, 1001)
    rec.on_close(close_codes.SERVER, 1001)
    lines = console.render(summary.build(rec, target=TARGET, duration_s=1.0)).splitlines()

    assert lines[1].split() == ["closed", "by", "code", "meaning", "count", "share", "hint"]
    assert lines[2].split()[:2] == ["server", "1001"]
    assert "66.7%" in lines[2]
    assert lines[3].split()[:2] == ["client", "1000"]


def test_findings_name_storms_idle_timeouts_and_lost_workers() -> None:
    built = summary.build(Recorder(), target=TARGET, duration_s=1.0)
    built["storms"] = [
        {
            "index": 0,
            "trigger": "server",
            "started_s": 3.0,
            "dropped": 20,
            "recovered": 19,
            "gave_up": 1,
            "recovery_ms": {"count": 19, "p50": 250.0, "p99": 900.0, "max": 950.0},
            "attempts_per_recovery": {"p50": 1.0, "p99": 3.0, "max": 3.0},
            "fleet_back_s": None,
            "peak_handshake_rate_per_s": 120,
            "handshake_failures": {"http_503": 7},
        }
    ]
    built["idle_timeout_suspects"] = [
        {"message": "20 sessions ended without a close frame after ~3.0 s idle"}
    ]
    built["workers"] = {
        "reported": 2,
        "lost": [{"worker": "w1", "lost_at": "2026-11-25T16:59:19", "elapsed_s": 12.5}],
    }
    lines = console.findings(built)
    assert lines[0].startswith("storm 0 (server) at 3.0 s: 20 dropped, 19 back")
    assert "fleet back after never" in lines[0] and "http_503=7" in lines[0] and "gave up: 1" in lines[0]
    assert lines[1] == "idle timeout? 20 sessions ended without a close frame after ~3.0 s idle"
    assert lines[2] == "worker lost: w1 at 2026-11-25T16:59:19 (12.5 s in)"
    assert all(f" {line}" in console.render(built) for line in lines)


def test_the_series_is_compact_bounded_and_reads_back_what_went_in() -> None:
    from loadtest.metrics.aggregate import SERIES_FIELDS
    from loadtest.metrics.series import Series

    series = Series(SERIES_FIELDS, max_points=3)
    points = [{name: float(i) if name != "rtt_p99_ms" else None for name in SERIES_FIELDS} for i in range(5)]
    points[4]["t"] = 1_796_000_000.125
    for point in points:
        series.append(point)
    # full at 3: every second point of the older half goes, the run stays spanned
    assert len(series) == 3 and [p["elapsed_s"] for p in series] == [0, 3, 4]
    assert list(series)[-1]["t"] == 1_796_000_000.125 and list(series)[-1]["rtt_p99_ms"] is None
    with pytest.raises(KeyError):
        series.append({"t": 1.0})  # a field the series does not keep is never dropped silently


def test_loop_lag_per_process_the_worst_in_total_and_a_warning_over_the_threshold() -> None:
    own = {"cpu_s": 1.0, "max_rss_mib": 50.0, "loop_lag_ms": {"p99": 3.0, "max": 9.0}}
    workers = [
        {"worker": "w1", "cpu_s": 2.0, "max_rss_mib": 60.0, "loop_lag_ms": {"p99": 35.0, "max": 80.0}},
        {"worker": "w2", "cpu_s": 2.0, "max_rss_mib": 60.0, "loop_lag_ms": {"p99": None, "max": None}},
    ]
    process = summary.process_section(own, workers)
    assert process["loop_lag_ms"] == {"p99": 3.0, "max": 9.0}
    assert process["total"]["loop_lag_ms"] == {"p99": 35.0, "max": 80.0}  # the worst process
    built = summary.build(Recorder(), target="ws://t", duration_s=1.0, process=process)
    text = console.render(built)
    assert "event-loop lag p99=35.000 ms max=80.000 ms" in text
    assert "generator saturated: event-loop lag p99 35.0 ms (over 20 ms)" in text
    calm = summary.build(Recorder(), target="ws://t", duration_s=1.0, process=summary.process_section(own))
    assert console.saturation(calm) is None and "saturated" not in console.render(calm)


def test_protocol_counts_and_histograms_add_up_across_processes_into_the_summary() -> None:
    from loadtest.report import console

    worker_a, worker_b, master = Recorder(), Recorder(), Recorder()
    worker_a.count("stomp_sends", 3)
    worker_a.count("stomp_receipts", 2)
    worker_b.count("stomp_sends", 4)
    worker_b.histograms["graphql_first_next"].record(1500)
    worker_b.count("graphql_subscriptions")
    for worker in (worker_a, worker_b):
        master.merge_state(worker.take_delta())
    protocols = summary.build(master, target=TARGET, duration_s=1.0)["protocols"]
    assert protocols["stomp"] == {
        "connects": 0,
        "subscriptions": 0,
        "sends": 7,
        "receipts": 2,
        "messages": 0,
        "errors": 0,
        "heartbeats_sent": 0,
        "heartbeats_received": 0,
        "invalid": 0,
    }
    assert protocols["graphql"]["first_next_ms"]["max"] == 1.5
    assert protocols["graphql"]["events_per_subscription"]["count"] == 0
    assert protocols["socketio"]["events_sent"] == 0
    assert console.protocol_lines(protocols) == [
        " graphql: subscriptions=1; first_next_ms p50=1.500 p99=1.500 max=1.500",
        " stomp: sends=7, receipts=2",
    ]


def test_every_protocol_metric_is_a_check_path() -> None:
    from loadtest.report import checks

    for metric in (
        "protocols.socketio.acks_received",
        "protocols.graphql.first_next_ms.p99",
        "protocols.stomp.messages",
    ):
        assert checks.parse(f"{metric}>=0").metric == metric


def test_the_last_point_has_no_rates_when_the_stop_came_right_after_a_point() -> None:
    aggregate = Aggregate(backpressure_threshold_bytes=THRESHOLD)
    aggregate.ingest("local", _delta_with(200, 2.0))
    assert aggregate.sample(2.0, 2.0, min_span_s=0.5)["messages_sent_per_s"] == 100.0
    aggregate.ingest("local", _delta_with(3, 0.004))  # the stop, 4 ms after that point
    last = aggregate.sample(2.004, 2.004, min_span_s=0.5)
    assert last["messages_sent_per_s"] is None and last["sessions_connected"] == 0
    assert aggregate.total.counters["messages_sent"] == 203  # the totals keep every message
    aggregate.ingest("local", _delta_with(60, 0.6))  # a stop later in an interval is a rate
    assert aggregate.sample(2.6, 2.6, min_span_s=0.5)["messages_sent_per_s"] == 100.0


def test_a_full_series_is_thinned_and_still_spans_the_run() -> None:
    from loadtest.metrics.aggregate import SERIES_FIELDS
    from loadtest.metrics.series import Series

    series = Series(SERIES_FIELDS, max_points=100)
    for i in range(1_000):  # ten times what it keeps
        series.append(dict.fromkeys(SERIES_FIELDS, float(i)))
    elapsed = [p["elapsed_s"] for p in series]
    assert len(elapsed) <= 100 and elapsed[0] == 0 and elapsed[-1] == 999  # the whole run
    assert elapsed == sorted(elapsed) and len(set(elapsed)) == len(elapsed)
    assert elapsed[-20:] == list(range(980, 1_000))  # the latest points at full resolution
