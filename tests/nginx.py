"""A real nginx on loopback in front of an upstream port, for the tests about proxies."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ports import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
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
