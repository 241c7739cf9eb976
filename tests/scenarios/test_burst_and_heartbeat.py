"""burst_send and heartbeat_idle end to end against the embedded target, counts equal the server's."""

from __future__ import annotations

from pathlib import Path

from tests.integration.sessions import settled_stats
from tests.scenarios.runner import run_scenario


def test_bursts_measure_from_the_schedule_and_match_the_server(tmp_path: Path, serve) -> None:
    server = serve()
    s, _ = run_scenario(
        "burst_send",
        tmp_path,
        "--host",
        server.url,
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "3s",
        "--ws-burst-size",
        "10",
        "--ws-message-size",
        "200",
        "--ws-burst-interval",
        "0.2",
    )
    stats = settled_stats(server)
    assert s["messages"]["sent"] == stats["messages"]["received"] >= 4 * 10 * 10
    assert s["messages"]["bytes_sent"] == stats["messages"]["bytes_received"]
    assert s["rtt_scheduled_ms"]["count"] == s["rtt_ms"]["count"] == s["messages"]["received"]
    assert s["rtt_scheduled_ms"]["p50"] >= s["rtt_ms"]["p50"]  # never earlier than the actual send
    assert s["throughput"]["messages_sent_per_s"] > 0


def test_binary_fragmented_and_batched_messages(tmp_path: Path, serve) -> None:
    server = serve()
    binary, _ = run_scenario(
        "burst_send",
        tmp_path,
        "--host",
        server.url,
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
        "--ws-binary",
        "--ws-message-size",
        "3000",
        "--ws-fragment-size",
        "512",
        "--ws-burst-size",
        "5",
        "--ws-burst-interval",
        "0.2",
    )
    assert binary["rtt_ms"]["count"] == binary["messages"]["received"] > 0
    assert binary["errors"]["uncorrelated"] == 0
    batched, _ = run_scenario(
        "burst_send",
        tmp_path,
        "--host",
        server.url,
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
        "--ws-rate",
        "200",
        "--ws-batch",
    )
    # 20 requests per 100 ms slot go out as 2 array messages of 10: one RTT per request
    assert batched["rtt_ms"]["count"] == 10 * batched["messages"]["received"]
    stats = settled_stats(server)
    total_sent = binary["messages"]["sent"] + batched["messages"]["sent"]
    assert total_sent == stats["messages"]["received"]


def test_a_stopped_reader_shows_backpressure(tmp_path: Path) -> None:
    s, _ = run_scenario(
        "burst_send",
        tmp_path,
        "-u",
        "1",
        "-r",
        "1",
        "-t",
        "4s",
        "--ws-embedded-args=--stop-reading",
        "--ws-sndbuf",
        "65536",
        "--ws-send-timeout",
        "1",
        "--ws-burst-size",
        "50",
        "--ws-message-size",
        "16000",
        "--ws-burst-interval",
        "0.05",
        "--ws-reply-timeout",
        "0.5",
        "--ws-backpressure-threshold",
        "65536",
    )
    bp = s["backpressure"]
    assert bp["send_queue_bytes"]["max"] >= 65536
    assert bp["over_threshold"] >= 1
    assert bp["send_stall_ms"]["max"] >= 500
    assert s["closes"]["abnormal_reasons"].get("send_timeout", 0) >= 1


def test_a_message_over_the_server_limit_is_closed_with_1009(tmp_path: Path) -> None:
    s, proc = run_scenario(
        "burst_send",
        tmp_path,
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
        "--ws-embedded-args",
        "--max-message-size 1000",
        "--ws-message-size",
        "5000",
        "--ws-burst-size",
        "1",
        "--ws-reconnect-base",
        "0.5",
    )
    assert s["closes"]["server"].get("1009", 0) >= 2
    assert "message too big" in proc.stdout and "reduce message size or raise the server limit" in proc.stdout


def test_missing_pongs_declare_sessions_dead(tmp_path: Path) -> None:
    s, _ = run_scenario(
        "heartbeat_idle",
        tmp_path,
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "4s",
        "--ws-embedded-args=--stop-reading",
        "--ws-heartbeat-interval",
        "0.5",
        "--ws-pong-timeout",
        "0.5",
        "--ws-reconnect",
        "fixed",
        "--ws-reconnect-base",
        "0.2",
    )
    assert s["closes"]["abnormal_reasons"].get("dead", 0) >= 2
    assert s["errors"]["ping_timeouts"] >= 2
    assert s["sessions"]["opened"] > 2  # declared dead, then reconnected
