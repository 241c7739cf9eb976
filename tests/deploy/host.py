"""One host for a set of containers: a network namespace of our own whose names resolve locally.

Compose gives each service a DNS name on the project network, Kubernetes gives each Service
one; here every container of a test runs in one network namespace (loopback only), and
``/etc/netns/<ns>/hosts`` maps those names to 127.0.0.1 (``ip netns exec`` bind-mounts it over
``/etc/hosts`` for the processes it starts). Ports are the files' own (8089, 5557, 8765):
nothing else listens inside the namespace. The namespace, its hosts file and every process
started here are removed in :meth:`Host.close`.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tests.deploy.container import Container
from tests.deploy.image import Image

#: Every wait here is a multiple of this unit, as in the rest of the suite.
UNIT_S = float(os.environ.get("LOADTEST_TEST_TIMEOUT_FACTOR", "1"))


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.25) -> None:
    """Poll ``check`` until it is true; fail after ``timeout_s`` (times UNIT_S)."""
    deadline = time.monotonic() + timeout_s * UNIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval_s)


class Host:
    """A network namespace named ``ltd<pid><n>`` in which ``names`` resolve to 127.0.0.1."""

    _count = 0

    def __init__(self, names: list[str], logs: Path) -> None:
        """Create the namespace, bring loopback up and write its hosts file."""
        Host._count += 1
        self.ns = f"ltd{os.getpid()}{Host._count}"
        self.etc = Path("/etc/netns") / self.ns
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self._files: list[IO[str]] = []
        subprocess.run(["ip", "netns", "add", self.ns], capture_output=True, timeout=10, check=True)
        try:
            subprocess.run(
                ["ip", "-n", self.ns, "link", "set", "lo", "up"], capture_output=True, timeout=10, check=True
            )
            self.etc.mkdir(parents=True)
            (self.etc / "hosts").write_text(f"127.0.0.1\tlocalhost {' '.join(names)}\n::1\tlocalhost\n")
        except BaseException:
            self.close()
            raise

    def start(self, name: str, container: Container, image: Image) -> subprocess.Popen[str]:
        """Start ``container`` of ``image`` as process ``name``; its output goes to ``logs/name.log``."""
        argv = container.argv
        if container.nofile is not None:
            # The service's open-files limit, capped at ours: an unprivileged sandbox (as here,
            # hard limit 20,000) may not raise its hard limit to compose.yaml's 65,536.
            ours = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            soft, hard = (n if ours == resource.RLIM_INFINITY else min(n, ours) for n in container.nofile)
            argv = ["prlimit", f"--nofile={soft}:{hard}", "--", *argv]
        log = (self.logs / f"{name}.log").open("w")
        self._files.append(log)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *argv],
            env=image.env | container.env,  # the service's variables over the image's ENV
            cwd=image.path(container.workdir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        """Return what process ``name`` printed so far (its last 4,000 characters)."""
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def run(
        self, argv: list[str], env: dict[str, str], timeout_s: float = 20
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command inside the namespace and return its result."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout_s * UNIT_S,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    def http(self, url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        """GET (or POST form ``data`` to) ``url`` from inside the namespace: (status, body), (0, error)."""
        code = (
            "import sys, json, urllib.parse, urllib.request\n"
            "o = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
            "d = json.loads(sys.argv[2])\n"
            "body = urllib.parse.urlencode(d).encode() if d is not None else None\n"
            "try:\n"
            "    r = o.open(sys.argv[1], data=body, timeout=5)\n"
            "    sys.stdout.write(str(r.status) + '\\n' + r.read().decode())\n"
            "except OSError as exc:\n"
            "    sys.stdout.write('0\\n' + str(exc))\n"
        )
        out = self.run([sys.executable, "-c", code, url, json.dumps(data)], env={"PATH": os.environ["PATH"]})
        status, _, body = out.stdout.partition("\n")
        return (int(status) if status.isdigit() else 0), body or out.stderr

    def close(self) -> None:
        """End our processes (SIGTERM, then SIGKILL), delete the namespace and its hosts file."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        left = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True, timeout=10)
        for pid in left.stdout.split():  # only processes inside our namespace
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                continue  # it ended meanwhile
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=10)
        shutil.rmtree(self.etc, ignore_errors=True)
        for log in self._files:
            log.close()
