"""heartbeat_idle behind a real nginx on loopback: idle timeouts and a proxy that does not upgrade."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ports import free_port
from tests.scenarios.runner import run_scenario

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx is not installed (.ci/run installs it)"
)

CONFIG = """
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      {upgrade}
      proxy_read_timeout {read_timeout};
    }}
  }}
}}
"""
UPGRADE = 'proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";'


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start nginx in front of an upstream port; return its ws:// URL."""
    started: list[Path] = []

    def start(upstream: int, *, upgrade: bool = True, read_timeout: str = "3s") -> str:
        folder = tmp_path / f"nginx{len(started)}"
        folder.mkdir()
        port = free_port()
        conf = folder / "nginx.conf"
        conf.write_text(
            CONFIG.format(
                folder=folder,
                port=port,
                upstream=upstream,
                upgrade=UPGRADE if upgrade else "",
                read_timeout=read_timeout,
            )
        )
        subprocess.run(
            [NGINX, "-c", str(conf), "-p", str(folder)], check=True, timeout=10, capture_output=True
        )
        started.append(folder)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        return f"ws://127.0.0.1:{port}"

    yield start
    for folder in started:
        subprocess.run(
            [NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder), "-s", "stop"],
            timeout=10,
            capture_output=True,
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
