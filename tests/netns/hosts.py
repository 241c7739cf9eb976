"""Hosts of our own: network namespaces on one bridge, each with its own address.

Every namespace, veth pair and address is created here and deleted in ``close`` (the bridge
and the veth peers live in a hub namespace of ours, so nothing is added to the host's own
network). Every process started here is ended in ``close``, by its pid.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SUBNET = "10.200.0"


def unusable_reason() -> str | None:
    """Return why namespaces cannot be created here, or None when they can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"ltprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=10)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10, check=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=True)


class Hosts:
    """Namespaces named ``lt<pid><role>`` on one bridge; ``addr[role]`` is the role's address."""

    def __init__(self, roles: list[str]) -> None:
        """Create the hub (bridge) and one namespace per role, addressed 10.200.0.1, .2, ..."""
        self.prefix = f"lt{os.getpid()}"
        self.hub = f"{self.prefix}hub"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[str]] = []
        self.addr: dict[str, str] = {}
        try:
            self._add(self.hub)
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "link", "set", "br0", "up")
            for index, role in enumerate(roles, start=1):
                ns = self.ns(role)
                self._add(ns)
                _ip(
                    "-n",
                    ns,
                    "link",
                    "add",
                    "eth0",
                    "type",
                    "veth",
                    "peer",
                    "name",
                    f"p{index}",
                    "netns",
                    self.hub,
                )
                _ip("-n", self.hub, "link", "set", f"p{index}", "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{SUBNET}.{index}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                self.addr[role] = f"{SUBNET}.{index}"
        except BaseException:
            self.close()
            raise

    def ns(self, role: str) -> str:
        """Return the namespace name of ``role``."""
        return f"{self.prefix}{role}"

    def _add(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self.namespaces.append(ns)

    def start(self, role: str, args: list[str], **popen: Any) -> subprocess.Popen[str]:
        """Start ``python ARGS`` in ``role``'s namespace (``ip netns exec`` execs: the pid is python's)."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", LOADTEST_PARENT_PID=str(os.getpid()))
        env.pop("LOCUST_HOST", None)
        popen.setdefault("stdout", subprocess.DEVNULL)
        popen.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(role), sys.executable, *args],
            cwd=ROOT,
            env=env,
            text=True,
            stdin=subprocess.DEVNULL,
            **popen,
        )
        self.procs.append(proc)
        return proc

    def start_server(self, role: str, port: int, *server_args: str) -> subprocess.Popen[str]:
        """Start the target server in ``role`` on its address and wait (bounded) for its announce line."""
        proc = self.start(
            role,
            ["-m", "loadtest.server", "--host", self.addr[role], "--port", str(port), *server_args],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        line = proc.stdout.readline() if ready else ""
        assert "listening on" in line, f"server did not start: {line!r}"
        return proc

    def http_json(self, role: str, url: str) -> dict[str, Any]:
        """GET ``url`` from inside ``role``'s namespace and return the JSON."""
        code = (
            "import sys, urllib.request; "
            "o = urllib.request.build_opener(urllib.request.ProxyHandler({})); "
            "sys.stdout.write(o.open(sys.argv[1], timeout=5).read().decode())"
        )
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns(role), sys.executable, "-c", code, url],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        data: dict[str, Any] = json.loads(out.stdout)
        return data

    def settled_stats(self, role: str, url: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """Return the server's ``/stats`` once it holds no session (bounded wait)."""
        deadline = time.monotonic() + timeout_s
        stats = self.http_json(role, url)
        while stats["sessions"]["current"] and time.monotonic() < deadline:
            time.sleep(0.2)
            stats = self.http_json(role, url)
        return stats

    def close(self) -> None:
        """End our processes (SIGTERM, then SIGKILL), then delete our namespaces."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for ns in reversed(self.namespaces):
            left = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10)
            for pid in left.stdout.split():  # only processes inside a namespace of ours
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    continue  # it ended meanwhile
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self.namespaces.clear()
