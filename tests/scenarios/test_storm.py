"""reconnect_storm: the strategy matters, and server-side storms are detected."""

from __future__ import annotations

from pathlib import Path

from tests.integration.sessions import settled_stats
from tests.scenarios.runner import run_scenario


def _storm(tmp_path: Path, server_url: str, *strategy: str) -> dict:
    s, _ = run_scenario(
        "reconnect_storm",
        tmp_path,
        "--host",
        server_url,
        "-u",
        "60",
        "-r",
        "20",
        "-t",
        "12s",
        "--ws-storm-at",
        "5",
        *strategy,
    )
    assert len(s["storms"]) == 1
    return s


def test_jitter_beats_immediate_against_a_handshake_rate_cap(tmp_path: Path, serve) -> None:
    """The guide's advice, measured: full jitter spreads the fleet's reconnects under the cap."""
    immediate_server = serve("--max-handshake-rate", "30")
    immediate = _storm(tmp_path, immediate_server.url, "--ws-reconnect", "immediate")
    jitter_server = serve("--max-handshake-rate", "30")
    jitter = _storm(
        tmp_path,
        jitter_server.url,
        "--ws-reconnect",
        "exponential-jitter",
        "--ws-reconnect-base",
        "2",
        "--ws-reconnect-cap",
        "4",
    )
    a, b = immediate["storms"][0], jitter["storms"][0]
    assert a["dropped"] == b["dropped"] == 60
    rejected_a = a["handshake_failures"].get("http_503", 0)
    rejected_b = b["handshake_failures"].get("http_503", 0)
    assert b["peak_handshake_rate_per_s"] < a["peak_handshake_rate_per_s"]
    assert rejected_b < rejected_a
    # the 503s of the storm are the server's own rejections
    for s, server in ((immediate, immediate_server), (jitter, jitter_server)):
        stats = settled_stats(server)
        assert s["handshake_failures"].get("http_503", 0) == stats["handshakes"]["rejected"].get("503", 0)
        assert s["sessions"]["opened"] == stats["sessions"]["opened"]


def test_a_server_drop_all_is_detected_and_the_fleet_comes_back(tmp_path: Path, serve) -> None:
    server = serve("--drop-all-at", "3")
    s, _ = run_scenario(
        "reconnect_storm",
        tmp_path,
        "--host",
        server.url,
        "-u",
        "20",
        "-r",
        "20",
        "-t",
        "7s",
        "--ws-reconnect",
        "exponential-jitter",
        "--ws-reconnect-base",
        "0.5",
        "--ws-reconnect-cap",
        "1",
    )
    storms = s["storms"]
    assert len(storms) == 1
    storm = storms[0]
    assert storm["trigger"] == "server"
    assert storm["dropped"] == storm["recovered"] == 20
    assert storm["fleet_back_s"] is not None and storm["fleet_back_s"] < 3
    assert storm["recovery_ms"]["count"] == 20 and storm["recovery_ms"]["max"] <= 2000
    assert storm["attempts_per_recovery"]["max"] >= 1
    assert s["closes"]["abnormal"] == settled_stats(server)["closes"]["abnormal"] == 20


def test_no_reconnect_after_a_normal_close_unless_asked(tmp_path: Path, serve) -> None:
    server = serve("--close-every", "1", "--close-code", "1000", "--close-after", "0.5")
    s, _ = run_scenario(
        "reconnect_storm",
        tmp_path,
        "--host",
        server.url,
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "3s",
        "--ws-reconnect-base",
        "0.1",
    )
    assert s["sessions"]["opened"] == 4 and s["closes"]["server"] == {"1000": 4}
    asked, _ = run_scenario(
        "reconnect_storm",
        tmp_path,
        "--host",
        server.url,
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "3s",
        "--ws-reconnect-base",
        "0.1",
        "--ws-reconnect-after-normal",
    )
    assert asked["sessions"]["opened"] > 8
