"""The workloads of issue 10's table, each with the unit it is measured in.

A   100 sessions, closed-loop echo, one request in flight per session (the next request goes
    out when the reply came back). Round trips counted by the echo server over a fixed window
    after a warm-up. Unit: client CPU µs per round trip.
AL  A again, this project sending from the engine (``traffic = ClosedLoop(in_flight=1)``: the
    next request written by the read callback that matched the reply); the other peers run A.
A10 the same with ten in flight: ten requests written together, the next ten when all ten
    came back (``request_burst``'s shape).
B   2,000 idle sessions, a protocol ping from each every 10 s (the first at open), held 30 s
    once all are open. Units: gross client RSS KiB per session (the tree's RSS at the end of
    the hold minus the same peer's RSS with no session, over 2,000) and client CPU ms over the
    hold (pings included; the server counts them).
C   50 loops, each: connect (TCP and WebSocket handshake), one echo, close (closing
    handshake), and again at once. Handshakes counted by the echo server over the window.
    Unit: client CPU ms per handshake (the echo and close that go with it included).
"""

from __future__ import annotations

from dataclasses import dataclass

MESSAGE = '{"type":"echo","payload":"0123456789abcdef"}'  # every peer's request (ours adds an "id")


@dataclass(frozen=True, kw_only=True)
class Workload:
    """One row family of the table."""

    key: str
    title: str
    kind: str  # "loop" (A, A10), "idle" (B), "connect" (C): what the peers run
    driven: bool = False  # ours sends from the engine (a traffic class attribute), not from a @task
    sessions: int
    in_flight: int = 1
    ping_interval_s: float = 10.0
    spawn_rate: int = 100  # Locust's -r: users started per second
    open_timeout_s: float = 60.0  # all sessions open within this, or the run is void
    warmup_s: float = 3.0
    window_s: float = 10.0
    baseline_s: float = 6.0  # B: how long the no-session run settles before its RSS is read
    per_user: int = 1  # ours holds this many sessions per Locust user (--ws-sessions-per-user)

    def client_seconds(self) -> float:
        """Return how long a client may run at most (it is stopped after the window, but stops by itself)."""
        return self.open_timeout_s + self.warmup_s + self.window_s + 30.0


def workloads(quick: bool = False) -> dict[str, Workload]:
    """Return the workloads by key; ``quick``: shorter windows, fewer idle sessions (a smoke run)."""
    warmup_s, window_s = (1.0, 3.0) if quick else (3.0, 10.0)
    return {
        "a": Workload(key="a", title="A  100 sessions, 1 in flight", kind="loop", sessions=100,
                      warmup_s=warmup_s, window_s=window_s),
        "al": Workload(key="al", title="A  100 sessions, 1 in flight, engine-driven loop", kind="loop",
                       sessions=100, driven=True, warmup_s=warmup_s, window_s=window_s),
        "a10": Workload(key="a10", title="A  100 sessions, 10 in flight", kind="loop", sessions=100,
                        in_flight=10, warmup_s=warmup_s, window_s=window_s),
        "b": Workload(key="b", title=f"B  {200 if quick else 2000:,} idle sessions, ping every 10 s",
                      kind="idle", sessions=200 if quick else 2000, spawn_rate=500, open_timeout_s=120.0,
                      warmup_s=2.0, window_s=10.0 if quick else 30.0, baseline_s=3.0 if quick else 6.0),
        "bs": Workload(key="bs", title="B  the same, ours with 100 sessions per Locust user",
                       kind="idle", sessions=200 if quick else 2000, per_user=100, spawn_rate=500,
                       open_timeout_s=120.0, warmup_s=2.0, window_s=10.0 if quick else 30.0,
                       baseline_s=3.0 if quick else 6.0),
        "c": Workload(key="c", title="C  50 loops of connect, echo, close", kind="connect", sessions=50,
                      spawn_rate=50, warmup_s=warmup_s, window_s=window_s),
    }  # fmt: skip
