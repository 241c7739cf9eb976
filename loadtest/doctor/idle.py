"""How long a silent session survives, and what keeps one alive (``loadtest doctor --find-idle-timeout``).

A proxy's ``proxy_read_timeout`` or a load balancer's idle timeout closes a session that has been
silent for a while. Three sessions open at once and run side by side, so the search takes about
the boundary's length, not a multiple of it:

* **silent** sends nothing: the moment it ends, counted from the end of its handshake (the last
  thing it sent), is the idle timeout. Its precision is the handshake's round trip (the server's
  clock starts when it read our last bytes) and the detection, which is immediate (a blocked
  read returns at the close frame or the EOF);
* **pings** sends a protocol ping every interval: does a ping count as activity?
* **data** sends a small text message every interval: does data?

The last two run until the silent one has ended plus half its lifetime again (bounded by
``max_idle_s``): a probe still open by then was kept alive by what it sent. Some load balancers
ignore pings; a server's idle check may too.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from loadtest.doctor.checklist import Doctor, Stop
from loadtest.errors import ConnectionEnded
from loadtest.frames import OP_CLOSE, OP_PING, OP_TEXT, ProtocolViolation, parse_close


@dataclass
class Outcome:
    """What one probe saw: when it ended (seconds after its handshake) and how."""

    kind: str
    ended_after_s: float | None = None  # None: still open when the search stopped
    how: str = ""
    handshake_ms: float = 0.0
    error: str = ""


def _probe(doctor: Doctor, kind: str, interval_s: float, stop: threading.Event, outcome: Outcome) -> None:
    try:
        channel, answer = doctor.open_session(origin=None, record=False)
    except Stop as failed:
        outcome.error = f"could not open: {failed}"
        return
    opened = time.monotonic()
    outcome.handshake_ms = answer.upgrade_ms
    next_send = opened + interval_s
    try:
        while not stop.is_set():
            wait_s = max(0.0, min(0.2, next_send - time.monotonic())) if kind != "silent" else 0.2
            message = channel.recv(wait_s)
            if message is not None and message[0] == OP_CLOSE:
                code, _ = parse_close(message[1])
                outcome.ended_after_s, outcome.how = time.monotonic() - opened, f"close {code}"
                return
            if kind != "silent" and time.monotonic() >= next_send:
                channel.send(OP_PING if kind == "pings" else OP_TEXT, b"doctor-keepalive")
                next_send += interval_s
    except ConnectionEnded as ended:
        outcome.ended_after_s, outcome.how = time.monotonic() - opened, f"no close frame ({ended.reason})"
    except ProtocolViolation as exc:
        outcome.ended_after_s, outcome.how = time.monotonic() - opened, f"protocol violation: {exc}"
    finally:
        channel.close()


def _outlived(ended_after_s: float | None, boundary_s: float) -> bool:
    """Return True when a probe lived clearly past the silent one's end (or was still open)."""
    return ended_after_s is None or ended_after_s > boundary_s * 1.2


def find_idle_timeout(
    doctor: Doctor, *, max_idle_s: float = 600.0, interval_s: float = 1.0
) -> dict[str, Any]:
    """Run the three probes side by side; return ``{idle_timeout_s, precision_s, keeps_alive, probes}``."""
    outcomes = {kind: Outcome(kind) for kind in ("silent", "pings", "data")}
    stops = {kind: threading.Event() for kind in outcomes}
    threads = {
        kind: threading.Thread(
            target=_probe, args=(doctor, kind, interval_s, stops[kind], outcomes[kind]), daemon=True
        )
        for kind in outcomes
    }
    started = time.monotonic()
    for thread in threads.values():
        thread.start()
    threads["silent"].join(max_idle_s)
    stops["silent"].set()
    silent = outcomes["silent"]
    if silent.ended_after_s is not None:  # give the others half the lifetime again to show they live on
        grace_s = min(max_idle_s, silent.ended_after_s * 1.5 + 1.0) - (time.monotonic() - started)
        if grace_s > 0:
            time.sleep(grace_s)
    for kind in ("pings", "data"):
        stops[kind].set()
    for thread in threads.values():
        thread.join(5.0)
    result: dict[str, Any] = {
        "idle_timeout_s": None if silent.ended_after_s is None else round(silent.ended_after_s, 2),
        "precision_s": round(
            silent.handshake_ms / 1000.0 + 0.01, 2
        ),  # the handshake RTT; detection is immediate
        "max_idle_s": max_idle_s,
        "keeps_alive": None,
        "probes": {k: vars(v) for k, v in outcomes.items()},
    }
    if silent.ended_after_s is not None:
        boundary_s = silent.ended_after_s
        result["keeps_alive"] = {
            kind: _outlived(outcomes[kind].ended_after_s, boundary_s) for kind in ("pings", "data")
        }
    return result
