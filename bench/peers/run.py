"""One measured run of one peer on one workload, and the whole matrix of them.

Every run has the same shape: wait until the previous run's connections are gone from the
server, start the client pinned to its core (in its own cgroup), wait until all its sessions
are open (C: until each loop completed a handshake), let it warm up, then read the server's
counts and the client's CPU at both ends of a fixed window. Start-up, imports and the ramp are
outside the window; only the steady state is charged. The client is stopped after the window.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.peers.measure import Accounting, ClientTree
from bench.peers.peers import Peer, env_for
from bench.peers.server import EchoServer
from bench.peers.workloads import Workload

DRAIN_TIMEOUT_S = 30.0
BASELINE_MAX_S = 30.0


class RunFailed(Exception):
    """A run that measured nothing usable (sessions not opened, client died); the reason is data."""


@dataclass
class Sample:
    """What one run measured, and its units per workload."""

    peer: str
    workload: str
    repeat: int
    window_s: float = 0.0
    cpu_us: int = 0
    messages: int = 0  # data messages the server echoed in the window (round trips)
    handshakes: int = 0  # connections the server accepted in the window
    pings: int = 0  # pings the server answered in the window
    sessions: int = 0  # connections open at the end of the window
    rss_kib: int = 0
    baseline_rss_kib: int = 0
    server_cpu_s: float = 0.0  # the target's CPU in the window: near window_s means it was the limit
    error: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """Return one line for the log of runs."""
        head = f"{self.workload:>3} {self.peer:<5} #{self.repeat}"
        if self.error:
            return f"{head}  FAILED: {self.error}"
        counted = {
            "messages": self.messages, "handshakes": self.handshakes, "pings": self.pings,
        }  # fmt: skip
        shown = ", ".join(f"{value:,} {name}" for name, value in counted.items() if value)
        cpu = self.cpu_us / 1e6
        line = f"{head}  {self.window_s:.1f} s: {shown or 'nothing counted'}, client CPU {cpu:.2f} s"
        line += f" ({cpu / self.window_s:.0%} of a core; server {self.server_cpu_s / self.window_s:.0%})"
        if self.rss_kib:
            line += f", RSS {self.rss_kib:,} KiB (no sessions: {self.baseline_rss_kib:,} KiB)"
        return line + "  -> " + ", ".join(f"{name} {value:.4g}" for name, value in self.metrics.items())


@dataclass
class Bench:
    """Everything a run needs: the target, where clients run, how they are counted."""

    server: EchoServer
    accounting: Accounting
    client_core: int | None
    logs: Path

    def _start(self, peer: Peer, workload: Workload, sessions: int, repeat: int, tag: str) -> ClientTree:
        argv = peer.command(workload, self.server.url, sessions, workload.client_seconds())
        env = {**os.environ, **env_for(workload)}
        log = self.logs / f"{workload.key}-{peer.key}-{repeat}{tag}.log"
        return ClientTree(argv, accounting=self.accounting, core=self.client_core, env=env, log=log)

    def _drain(self) -> dict[str, Any]:
        counts = self.server.wait_for(lambda c: c["current"] == 0, DRAIN_TIMEOUT_S)
        if counts["current"]:
            raise RunFailed(f"{counts['current']} connections of an earlier run still open")
        return counts

    def baseline_rss(self, peer: Peer, workload: Workload, repeat: int) -> int:
        """Return the peer's RSS running B's command with no session, once it has settled."""
        self._drain()
        tree = self._start(peer, workload, 0, repeat, "-baseline")
        try:
            time.sleep(workload.baseline_s)
            deadline = time.monotonic() + BASELINE_MAX_S
            previous = tree.rss_kib()
            while True:  # settled: under 0.5% change over a second
                time.sleep(1.0)
                current = tree.rss_kib()
                if abs(current - previous) <= previous * 0.005 or time.monotonic() > deadline:
                    break
                previous = current
            if not tree.alive():
                raise RunFailed(f"the no-session run exited early; see {self.logs}")
            return current
        finally:
            tree.stop()

    def measure(self, peer: Peer, workload: Workload, repeat: int) -> Sample:
        """Run ``peer`` on ``workload`` once; a failure is returned as the sample's error."""
        sample = Sample(peer.key, workload.key, repeat)
        try:
            if workload.kind == "idle":
                sample.baseline_rss_kib = self.baseline_rss(peer, workload, repeat)
            self._measure(peer, workload, sample)
        except RunFailed as failed:
            sample.error = str(failed)
        return sample

    def _measure(self, peer: Peer, workload: Workload, sample: Sample) -> None:
        before = self._drain()
        tree = self._start(peer, workload, workload.sessions, sample.repeat, "")
        try:
            if workload.kind == "connect":
                ready = self.server.wait_for(
                    lambda c: c["opened"] - before["opened"] >= workload.sessions or not tree.alive(),
                    workload.open_timeout_s,
                )
                opened = ready["opened"] - before["opened"]
            else:
                ready = self.server.wait_for(
                    lambda c: c["current"] >= workload.sessions or not tree.alive(), workload.open_timeout_s
                )
                opened = ready["current"]
            if opened < workload.sessions:
                raise RunFailed(
                    f"{opened} of {workload.sessions} sessions within {workload.open_timeout_s:.0f} s"
                    f" (client {'running' if tree.alive() else 'exited'}; log in {self.logs})"
                )
            time.sleep(workload.warmup_s)
            start, cpu0, wall0, server0 = (
                self.server.stats(),
                tree.cpu_us(),
                time.monotonic(),
                self.server.cpu_s(),
            )
            time.sleep(workload.window_s)
            end, cpu1, wall1, server1 = (
                self.server.stats(),
                tree.cpu_us(),
                time.monotonic(),
                self.server.cpu_s(),
            )
            if workload.kind == "idle":
                sample.rss_kib = tree.rss_kib()
            if not tree.alive():
                raise RunFailed(f"the client exited during the window; see {self.logs}")
        finally:
            tree.stop()
        sample.window_s = wall1 - wall0
        sample.cpu_us = cpu1 - cpu0
        sample.server_cpu_s = server1 - server0
        sample.messages = end["messages"] - start["messages"]
        sample.handshakes = end["opened"] - start["opened"]
        sample.pings = end["pings"] - start["pings"]
        sample.sessions = end["current"]
        self._units(workload, sample)

    @staticmethod
    def _units(workload: Workload, sample: Sample) -> None:
        if workload.kind == "loop":
            if sample.sessions < workload.sessions or not sample.messages:
                raise RunFailed(f"{sample.sessions} sessions and {sample.messages} round trips in the window")
            sample.metrics["cpu_us_per_rt"] = sample.cpu_us / sample.messages
        elif workload.kind == "idle":
            if sample.sessions < workload.sessions:
                raise RunFailed(f"only {sample.sessions} of {workload.sessions} sessions held to the end")
            rss_per_session = (sample.rss_kib - sample.baseline_rss_kib) / workload.sessions
            sample.metrics["rss_kib_per_session"] = rss_per_session
            sample.metrics["cpu_ms_hold"] = sample.cpu_us / 1000 * (workload.window_s / sample.window_s)
        else:
            if not sample.handshakes:
                raise RunFailed("no handshake in the window")
            sample.metrics["cpu_ms_per_handshake"] = sample.cpu_us / 1000 / sample.handshakes
