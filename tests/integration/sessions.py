"""Run real sessions against a real server, in this (gevent-patched) process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent

from loadtest.config import SessionOptions
from loadtest.metrics.recorder import Recorder
from loadtest.report import summary
from loadtest.session import Session

Body = Callable[[Session, int], None]


@dataclass
class Run:
    """What a batch of sessions produced."""

    recorder: Recorder
    sessions: list[Session] = field(default_factory=list)
    requests: list[tuple[str, float, int, BaseException | None]] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        return summary.build(self.recorder, target="test", duration_s=0.0)

    def failures(self, name: str) -> list[str]:
        return [str(exc) for n, _, _, exc in self.requests if n == name and exc is not None]


def run_sessions(
    url: str,
    count: int,
    body: Body | None = None,
    *,
    options: SessionOptions | None = None,
    headers: dict[str, str] | None = None,
    deadline_s: float = 20.0,
) -> Run:
    """Open ``count`` sessions concurrently, run ``body`` on each open one, close what is still open."""
    options = options or SessionOptions(reply_timeout_s=5.0)
    run = Run(Recorder(backpressure_threshold_bytes=options.backpressure_threshold_bytes))

    def one(index: int) -> None:
        session = Session(
            url,
            options,
            run.recorder,
            on_request=lambda *a: run.requests.append(a),
            headers=dict(headers or {}),
        )
        run.sessions.append(session)
        if not session.connect():
            return
        reader = gevent.spawn(session.read_until_end)
        try:
            if body is not None:
                body(session, index)
            if session.is_open:
                session.close(1000)
            reader.join(timeout=5.0)
        finally:
            reader.kill()

    greenlets = [gevent.spawn(one, i) for i in range(count)]
    gevent.joinall(greenlets, timeout=deadline_s, raise_error=True)
    assert all(g.dead for g in greenlets), "sessions did not finish within the deadline"
    return run


def wait_end(seconds: float) -> Body:
    """Return a body that waits (bounded) for the server to end the session."""

    def body(session: Session, index: int) -> None:
        session.ended.wait(seconds)

    return body


def settled_stats(server: Any, timeout_s: float = 5.0) -> dict[str, Any]:
    """Return the server's counts once it holds no session (bounded wait)."""
    deadline = gevent.get_hub().loop.now() + timeout_s
    stats = server.stats()
    while stats["sessions"]["current"] and gevent.get_hub().loop.now() < deadline:
        gevent.sleep(0.05)
        stats = server.stats()
    return stats


def assert_counts_match(run: Run, stats: dict[str, Any]) -> None:
    """Assert that what the client counted equals what the server did, field by field."""
    s = run.summary
    assert s["sessions"]["opened"] == stats["handshakes"]["accepted"] == stats["sessions"]["opened"]
    http = {k[5:]: v for k, v in s["handshake_failures"].items() if k.startswith("http_")}
    assert http == stats["handshakes"]["rejected"]
    assert s["closes"]["server"] == stats["closes"]["server"]
    assert s["closes"]["client"] == stats["closes"]["client"]
    assert s["closes"]["abnormal"] == stats["closes"]["abnormal"]
    assert s["messages"]["sent"] == stats["messages"]["received"]
    assert s["messages"]["received"] == stats["messages"]["sent"]
    assert s["messages"]["bytes_sent"] == stats["messages"]["bytes_received"]
    assert s["messages"]["bytes_received"] == stats["messages"]["bytes_sent"]
