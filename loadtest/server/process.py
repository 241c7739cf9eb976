"""Start and control the embedded target server as a subprocess.

Only ``subprocess``, ``socket``, ``select`` and ``urllib`` are used, so this works unchanged in a
gevent-monkey-patched process (Locust workers) as well as in plain Python.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from loadtest.server.options import ServerOptions

__all__ = ["EmbeddedServer"]

_ANNOUNCE = re.compile(
    r"^loadtest-server listening on (?P<scheme>wss?)://(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d+)$"
)
# The directory holding the ``loadtest`` package, so that the child can import it even when not installed.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class EmbeddedServer:
    """Run ``python -m loadtest.server`` in a subprocess and talk to it over loopback.

    Example:
        with EmbeddedServer(["--close-every", "2", "--close-code", "1011"]) as server:
            ws = websocket.create_connection(server.url)
            ...
            assert server.stats()["closes"]["server"] == {"1011": 1}
    """

    def __init__(
        self,
        args: Sequence[str] | ServerOptions = (),
        *,
        startup_timeout: float = 10.0,
        http_timeout: float = 5.0,
        python: str = sys.executable,
        stats_client_cert: tuple[str, str] | None = None,
    ) -> None:
        """Prepare (but do not start) a server.

        Args:
            args: Extra server command-line options, or a ``ServerOptions`` (its host and port are ignored:
                the server always listens on a free port of 127.0.0.1).
            startup_timeout: Seconds to wait for the server to announce its address.
            http_timeout: Seconds allowed for each ``/stats`` request.
            python: Interpreter used to run the server.
            stats_client_cert: ``(cert, key)`` presented to read ``/stats`` from a server that
                requires client certificates (``--client-ca``).
        """
        if isinstance(args, ServerOptions):
            args = _strip_host_port(args.to_args())
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.http_timeout = http_timeout
        self.python = python
        self.stats_client_cert = stats_client_cert
        self.host = "127.0.0.1"
        self.scheme = "ws"
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def port(self) -> int:
        """Return the TCP port the server listens on."""
        if self._port is None:
            raise RuntimeError("The embedded server is not running; call start() first.")
        return self._port

    @property
    def url(self) -> str:
        """Return the WebSocket URL of the server, ``ws://127.0.0.1:PORT`` (``wss://`` with TLS)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Return the server process id, or None if it was never started."""
        return None if self._proc is None else self._proc.pid

    def start(self) -> EmbeddedServer:
        """Start the server and wait until it announces its address; return ``self``.

        Raises:
            RuntimeError: If the server exits or does not announce itself within ``startup_timeout``.
        """
        if self._proc is not None:
            return self
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env["LOADTEST_PARENT_PID"] = str(os.getpid())  # the server exits if we die (no orphans)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        cmd = [self.python, "-m", "loadtest.server", "--host", "127.0.0.1", "--port", "0", *self.args]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        try:
            line = self._read_announce()
        except BaseException:
            self._terminate()
            raise
        match = _ANNOUNCE.match(line)
        if match is None:
            self._terminate()
            raise RuntimeError(f"The embedded server announced an unexpected line: {line!r}.")
        self.host = match.group("host")
        self.scheme = match.group("scheme")
        self._port = int(match.group("port"))
        return self

    def _read_announce(self) -> str:
        """Read the announce line from the child's stdout within ``startup_timeout`` seconds."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + self.startup_timeout
        buf = b""
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"The embedded server did not announce itself within {self.startup_timeout:g} s; "
                    f"stderr: {self._stderr_text()!r}"
                )
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                code = self._proc.wait(timeout=5)
                raise RuntimeError(
                    f"The embedded server exited with status {code} before listening; "
                    f"stderr: {self._stderr_text()!r}"
                )
            buf += chunk
        return buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()

    def _stderr_text(self) -> str:
        """Return what the server wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()

    @property
    def stderr(self) -> str:
        """Return the server's stderr output so far (logs, errors)."""
        return self._stderr_text()

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """Fetch ``GET /stats`` (``?reset=1`` when ``reset``) and return the decoded JSON."""
        path = "/stats?reset=1" if reset else "/stats"
        http = "https" if self.scheme == "wss" else "http"
        request = urllib.request.Request(f"{http}://{self.host}:{self.port}{path}", method="GET")
        with self._open(request) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def _open(self, request: urllib.request.Request) -> Any:
        if self.scheme != "wss":
            return self._opener.open(request, timeout=self.http_timeout)
        # Our own server on loopback, possibly asking for a client certificate we do not have:
        # /stats is read without verifying it (it carries counts, never credentials).
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if self.stats_client_cert:
            context.load_cert_chain(*self.stats_client_cert)
        return urllib.request.urlopen(request, timeout=self.http_timeout, context=context)

    def reset_stats(self) -> dict[str, Any]:
        """Reset the server's counters to zero and return their values just before the reset."""
        return self.stats(reset=True)

    def is_running(self) -> bool:
        """Return whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """Stop the server with SIGTERM, killing it after ``timeout`` seconds; return its exit status."""
        if self._proc is None:
            return None
        return self._terminate(timeout)

    def _terminate(self, timeout: float = 5.0) -> int | None:
        """Send SIGTERM, wait, kill if needed, and release the pipes."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> EmbeddedServer:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def __del__(self) -> None:
        """Kill a server that was never stopped, so that no process is leaked."""
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


def _strip_host_port(args: list[str]) -> list[str]:
    """Remove ``--host``/``--port`` pairs from rendered options."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--host", "--port"):
            skip = True
        else:
            out.append(arg)
    return out
