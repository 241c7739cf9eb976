"""The echo target's process, as the bench drives it: started pinned, asked for its counts."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.peers.measure import pinned_popen

SCRIPT = Path(__file__).with_name("echo_server.py")


class EchoServer:
    """``bench/peers/echo_server.py`` in its own process on ``core`` (see that file for why)."""

    def __init__(self, impl: str, core: int | None, log: Path) -> None:
        self.impl = impl
        self.core = core
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._selector = selectors.DefaultSelector()
        self._pending = b""

    def __enter__(self) -> EchoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the ``ws://`` URL clients connect to."""
        return f"ws://127.0.0.1:{self.port}/"

    def start(self, timeout_s: float = 30.0) -> EchoServer:
        """Start the process and wait for its ``ready PORT`` line."""
        stderr = open(self._log, "wb")  # noqa: SIM115 (the child keeps it; closed with the process)
        argv = [sys.executable, str(SCRIPT), "--impl", self.impl]
        self.process = pinned_popen(
            argv, core=self.core, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        stderr.close()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)
        line = self._readline(timeout_s)
        if not line.startswith("ready "):
            raise RuntimeError(f"the echo server did not start: {line!r}; see {self._log}")
        self.port = int(line.split()[1])
        return self

    def _readline(self, timeout_s: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                raise TimeoutError(f"the echo server said nothing for {timeout_s} s; see {self._log}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"the echo server exited ({self.process.poll()}); see {self._log}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode()

    def stats(self) -> dict[str, Any]:
        """Return the server's counts (``opened``, ``closed``, ``current``, ``messages``, ``pings``)."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(b"stats\n")
        self.process.stdin.flush()
        counts: dict[str, Any] = json.loads(self._readline(10.0))
        return counts

    def cpu_s(self) -> float:
        """Return the server's CPU time so far (utime + stime, 10 ms ticks): is the target the limit?"""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_for(self, predicate: Any, timeout_s: float, step_s: float = 0.1) -> dict[str, Any]:
        """Poll the counts until ``predicate(counts)`` or ``timeout_s``; return the last counts."""
        deadline = time.monotonic() + timeout_s
        while True:
            counts = self.stats()
            if predicate(counts) or time.monotonic() >= deadline:
                return counts
            time.sleep(step_s)

    def stop(self) -> None:
        """End the process (closing its stdin ends it; SIGTERM if it lingers)."""
        if self.process is None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
