"""Start a third-party protocol server of tests/protocols in its own process, on a free port.

Each server module binds a socket on 127.0.0.1 port 0, prints ``listening on PORT`` and serves
until SIGTERM (uvicorn's graceful shutdown). Counts come from ``GET /counts``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class ThirdParty:
    """A server process of ``tests/protocols/<module>.py``."""

    def __init__(self, module: str, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"tests.protocols.{module}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
        self.port = self._port(timeout_s=30.0)
        self.url = f"ws://127.0.0.1:{self.port}"

    def _port(self, timeout_s: float) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        seen = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                seen += line
                if line.startswith(b"listening on "):
                    return int(line.split()[-1])
        self.stop()
        raise RuntimeError(f"the server did not start: {seen.decode(errors='replace')[-2000:]}")

    def counts(self, *, reset: bool = False) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/counts" + ("?reset=1" if reset else "")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=5) as response:
            counts: dict[str, Any] = json.loads(response.read())
        return counts

    def settled(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """Return the counts once they stop changing (the last sessions are being closed)."""
        deadline = time.monotonic() + timeout_s
        previous = self.counts()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            now = self.counts()
            if now == previous:
                return now
            previous = now
        return previous

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return int(self.proc.returncode)
