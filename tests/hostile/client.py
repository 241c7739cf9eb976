"""Drive one real Session against a hostile server, in this process, and collect what happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent

from loadtest.config import SessionOptions
from loadtest.metrics.recorder import Recorder
from loadtest.report import summary
from loadtest.session import Session
from tests.conftest import UNIT_S

Body = Callable[[Session], None]


@dataclass
class Outcome:
    """One session's result, as the client saw it."""

    session: Session
    summary: dict[str, Any]
    requests: list[tuple[str, float, int, BaseException | None]] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)  # what on_message received

    def failures(self, name: str) -> list[str]:
        return [str(exc) for n, _, _, exc in self.requests if n == name and exc is not None]


def options(**overrides: Any) -> SessionOptions:
    """Session options with test-sized timeouts."""
    base: dict[str, Any] = {
        "reply_timeout_s": 2 * UNIT_S,
        "close_timeout_s": 1 * UNIT_S,
        "send_timeout_s": 2 * UNIT_S,
    }
    return SessionOptions(**(base | overrides))


def drive(url: str, body: Body | None = None, *, session_options: SessionOptions | None = None) -> Outcome:
    """Open a session, run ``body``, wait (bounded) for the server to end it, else close it."""
    recorder = Recorder()
    outcome = Outcome(None, {})  # type: ignore[arg-type]
    session = Session(
        url,
        session_options or options(),
        recorder,
        on_request=lambda *a: outcome.requests.append(a),
        on_message=outcome.messages.append,
    )
    outcome.session = session
    if session.connect():
        reader = gevent.spawn(session.read_until_end)
        try:
            if body is not None:
                body(session)
            session.ended.wait(2 * UNIT_S)
            if session.end is None:
                session.close(1000)
            reader.join(timeout=3 * UNIT_S)
            assert reader.dead, "the reader did not finish"
            assert reader.successful(), reader.exception  # no traceback: every outcome is a sample
        finally:
            reader.kill()
    outcome.summary = summary.build(recorder, target=url, duration_s=1.0)
    return outcome
