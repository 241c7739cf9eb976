"""Known inputs for the page tests: a recorder fed known samples, a few series points, a storm."""

from __future__ import annotations

from typing import Any

from locust import User
from locust.env import Environment

from loadtest.metrics.aggregate import Aggregate
from loadtest.metrics.recorder import Recorder
from loadtest.report import checks, summary


def recorded() -> Recorder:
    """Return a recorder fed known samples: opens, every kind of close, handshake failures, RTTs."""
    rec = Recorder(backpressure_threshold_bytes=1000)
    phases = {"connect": 2500, "connect_tcp": 400, "connect_upgrade": 2100}
    for _ in range(10):
        rec.on_open(phases)
    for _ in range(4):
        rec.on_close("server", 1011)
    rec.on_close("server", 1001)
    for _ in range(3):
        rec.on_close("client", 1000)
    rec.on_close("abnormal", 1006, "reset")
    for _ in range(2):
        rec.on_handshake_failure("refused")
    rec.on_handshake_failure("http_503")
    for rtt_us in (180, 250, 420, 900, 1500):
        rec.on_rtt(rtt_us)
    rec.on_send(64, 30, 128)
    rec.on_send(64, 45, 4096)
    return rec


#: The index of the point whose ``rtt_p99_ms`` is null in :func:`series`.
GAP_INDEX = 1


def series() -> list[dict[str, Any]]:
    """Return four time-series points, 2 s apart, from an aggregate fed known samples."""
    agg = Aggregate()
    points = []
    for i in range(4):
        rec = Recorder()
        rec.on_open({"connect": 1000})
        rec.on_rtt(300 + 100 * i)
        rec.on_send(10, 5, 64 * (i + 1))
        if i % 2:
            rec.on_close("server", 1011)
        agg.ingest("local", {**rec.take_delta(), "span_s": 2.0})
        points.append(agg.sample(1_700_000_000.0 + 2 * i, 2.0 * (i + 1)))
    points[GAP_INDEX]["rtt_p99_ms"] = None  # a gap: the line breaks there
    return points


def storm() -> dict[str, Any]:
    """Return one storm row as the summary's ``storms`` list holds it."""
    return {
        "index": 0,
        "started_s": 4.25,
        "trigger": "client",
        "sessions_before": 10,
        "dropped": 10,
        "recovered": 9,
        "gave_up": 1,
        "recovery_ms": {"count": 9, "p50": 120.5, "p99": 480.25, "max": 501.0},
        "attempts_per_recovery": {"p50": 1.0, "p99": 3.0, "max": 3.0},
        "handshake_failures": {"http_503": 4, "refused": 1},
        "fleet_back_s": None,
        "peak_handshake_rate_per_s": 40,
    }


def result_with_checks(rec: Recorder) -> dict[str, Any]:
    """Return a summary of ``rec`` with one failing and one passing check, and one storm."""
    result = summary.build(rec, target="wss://example.test:8443/ws?token=***", duration_s=12.345)
    specs = ["closes.server.1011<=2", "handshake_failures.total<=5"]
    result["checks"] = checks.evaluate([checks.parse(s) for s in specs], result)
    result["passed"] = all(v["passed"] for v in result["checks"])
    result["storms"] = [storm()]
    return result


def locust_environment() -> Environment:
    """Return a Locust environment whose statistics hold two echo requests (one failed) and a connect."""
    env = Environment(user_classes=[User])
    env.create_local_runner()  # the runner is what logs request events into env.stats
    env.events.request.fire(
        request_type="WS", name="echo", response_time=0.42, response_length=30, exception=None, context={}
    )
    env.events.request.fire(
        request_type="WS",
        name="echo",
        response_time=1.5,
        response_length=30,
        exception=TimeoutError("no reply <within> 5 s"),
        context={},
    )
    env.events.request.fire(
        request_type="WSC", name="connect", response_time=2.5, response_length=0, exception=None, context={}
    )
    return env
