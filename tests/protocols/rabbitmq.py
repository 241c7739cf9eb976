"""A private RabbitMQ node with Web STOMP (STOMP over WebSocket) for the STOMP tests.

Debian's ``rabbitmq-server`` (installed by .ci/run) is started as its own node, in a temporary
folder, on free loopback ports: Web STOMP at ``ws://127.0.0.1:PORT/ws``, no AMQP or plain STOMP
listener, and its own epmd, stopped with it. What the broker saw is read from its Prometheus
endpoint's global counters, which are counted as things happen (the management API's
statistics are emitted every few seconds, so they lag). STOMP runs on AMQP 0-9-1 channels
inside RabbitMQ, hence the ``amqp091`` protocol label. Starting takes about 6 s here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.ports import free_port

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # runs as the caller (/usr/sbin's switches user)
EPMD = shutil.which("epmd") or next(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"), Path("epmd"))

CONFIG = """\
listeners.tcp = none
stomp.listeners.tcp = none
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = {web_stomp}
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = {prometheus}
loopback_users = none
log.console = false
log.file.level = warning
"""


def available() -> bool:
    """Return True when Debian's rabbitmq-server is installed."""
    return SERVER.exists()


class RabbitMQ:
    """One RabbitMQ node (see the module docstring); :meth:`stop` ends it and its epmd."""

    def __init__(self, folder: Path, timeout_s: float = 60.0) -> None:
        self.folder = folder
        self.web_stomp, self.epmd, self.prometheus = free_port(), free_port(), free_port()
        (folder / "rabbitmq.conf").write_text(
            CONFIG.format(web_stomp=self.web_stomp, prometheus=self.prometheus)
        )
        (folder / "enabled_plugins").write_text("[rabbitmq_web_stomp,rabbitmq_prometheus].\n")
        self.env = {
            **os.environ,
            "HOME": str(folder),  # the Erlang cookie goes here
            "RABBITMQ_NODENAME": f"loadtest{self.epmd}@localhost",
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "ERL_EPMD_PORT": str(self.epmd),
        }
        self.log = (folder / "server.out").open("wb")
        self.proc = subprocess.Popen([str(SERVER)], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"ws://127.0.0.1:{self.web_stomp}"
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                self.metrics()
                with socket.create_connection(("127.0.0.1", self.web_stomp), timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.25)
        self.stop()
        output = (self.folder / "server.out").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"RabbitMQ did not start within {timeout_s:.0f} s: {output}")

    def metrics(self) -> dict[str, float]:
        """Return the Prometheus samples, each name summed over its labels."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{self.prometheus}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                key = name.split("{", 1)[0]
                samples[key] = samples.get(key, 0.0) + float(value)
        return samples

    def counts(self) -> dict[str, int]:
        """Return what the broker counted: connections, messages received, confirmed, delivered."""
        m = self.metrics()
        return {
            "connections_opened": int(m["rabbitmq_connections_opened_total"]),
            "connections_closed": int(m["rabbitmq_connections_closed_total"]),
            "received": int(m["rabbitmq_global_messages_received_total"]),
            "confirmed": int(m["rabbitmq_global_messages_confirmed_total"]),
            "delivered": int(m["rabbitmq_global_messages_delivered_total"]),
        }

    def settled(self, timeout_s: float = 10.0) -> dict[str, int]:
        """Return the counts once every connection that opened has closed."""
        deadline = time.monotonic() + timeout_s
        counts = self.counts()
        while counts["connections_opened"] != counts["connections_closed"] and time.monotonic() < deadline:
            time.sleep(0.1)
            counts = self.counts()
        return counts

    def stop(self) -> None:
        """Stop the node (SIGTERM: Erlang's orderly shutdown), then its epmd."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        subprocess.run(
            [str(EPMD), "-port", str(self.epmd), "-kill"], env=self.env, capture_output=True, timeout=10
        )
        self.log.close()
