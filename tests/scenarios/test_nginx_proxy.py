"""heartbeat_idle behind a real nginx on loopback: idle timeouts and a proxy that does not upgrade."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nginx import NGINX
from tests.scenarios.runner import run_scenario

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx is not installed (.ci/run installs it)"
)


def test_idle_sessions_die_at_the_proxy_timeout_and_the_run_names_it(tmp_path: Path, serve, nginx) -> None:
    server = serve()
    url = nginx(server.port, read_timeout="3s")
    s, _ = run_scenario(
        "heartbeat_idle",
        tmp_path,
        "--host",
        url,
        "-u",
        "5",
        "-r",
        "5",
        "-t",
        "7s",
        "--ws-heartbeat-interval",
        "0",
        "--ws-reconnect",
        "fixed",
        "--ws-reconnect-base",
        "0.5",
    )
    assert s["closes"]["abnormal"] >= 5  # every first session died, without a close frame
    suspects = s["idle_timeout_suspects"]
    assert len(suspects) == 1, s["session_ends"]
    assert 2.7 <= suspects[0]["idle_age_s"] <= 3.5
    assert "proxy" in suspects[0]["message"]
    ends = {(e["who"], e["reason"]): e for e in s["session_ends"]}
    died = [e for (who, _), e in ends.items() if who in ("abnormal", "server")]
    assert all(2.7 <= e["idle_age_s"]["p50"] <= 3.5 for e in died)


def test_a_one_second_heartbeat_keeps_them_alive(tmp_path: Path, serve, nginx) -> None:
    server = serve()
    url = nginx(server.port, read_timeout="3s")
    s, _ = run_scenario(
        "heartbeat_idle",
        tmp_path,
        "--host",
        url,
        "-u",
        "5",
        "-r",
        "5",
        "-t",
        "7s",
        "--ws-heartbeat-interval",
        "1",
        "--ws-heartbeat-kind",
        "protocol",
    )
    assert s["sessions"]["opened"] == 5
    assert s["closes"] == {
        "server": {},
        "client": {"1000": 5},
        "abnormal": 0,
        "abnormal_reasons": {},
        "total": 5,
        "abnormal_ratio": 0.0,
    }
    assert s["ping_rtt_ms"]["count"] >= 5 * 5
    assert s["idle_timeout_suspects"] == []
    app, _ = run_scenario(
        "heartbeat_idle",
        tmp_path,
        "--host",
        url,
        "-u",
        "3",
        "-r",
        "3",
        "-t",
        "5s",
        "--ws-heartbeat-interval",
        "1",
        "--ws-heartbeat-kind",
        "app",
    )
    assert app["closes"]["abnormal"] == 0 and app["ping_rtt_ms"]["count"] >= 3 * 3


def test_a_proxy_without_upgrade_headers_is_named(tmp_path: Path, serve, nginx) -> None:
    server = serve()
    url = nginx(server.port, upgrade=False)
    s, proc = run_scenario(
        "heartbeat_idle",
        tmp_path,
        "--host",
        url,
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "3s",
        "--ws-reconnect-base",
        "0.5",
    )
    failures = {k: v for k, v in s["handshake_failures"].items() if k != "total"}
    assert s["sessions"]["opened"] == 0
    assert len(failures) == 1
    status = next(iter(failures))
    assert status in ("http_400", "http_426", "http_200", "http_404")
    assert "not upgrading" in proc.stdout
