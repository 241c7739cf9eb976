"""A locustfile with a slow ``on_message``: what it saw, and from which session, goes to a file.

Every session sends BURST untagged messages as it opens; the echo sends them back as pushes, and
the hook takes 20 ms over each, so pushes are still queued when the server closes the session
(and when the run stops). docs/api.md promises the hook every message of a session before the
next session opens, and the ones read while the user stops.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import constant, task

from loadtest import Session, WebSocketUser

BURST = 10
HOOK_S = float(os.environ.get("SLOW_HOOK_S", "0.02"))


class SlowHook(WebSocketUser):
    wait_time = constant(0.2)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.opened = 0  # sessions opened so far: the tag of the current one
        self.seen: list[tuple[int, int]] = []  # (the message's session, the session open when it was handled)
        self.queued_ms: list[float] = []  # from the engine's read to the hook's turn

    def on_session_open(self, session: Session) -> None:
        self.opened += 1
        for n in range(BURST):
            session.send_json({"session": self.opened, "n": n})

    def on_message(self, message: Any) -> None:
        self.queued_ms.append((time.monotonic_ns() - self.message_received_ns) / 1e6)
        gevent.sleep(HOOK_S)
        self.seen.append((message["session"], self.opened))

    @task
    def idle(self) -> None:
        self.wait_open()

    def on_stop(self) -> None:
        super().on_stop()
        out = Path(os.environ["SLOW_HOOK_DIR"]) / f"{id(self)}.json"
        out.write_text(json.dumps({"opened": self.opened, "seen": self.seen, "queued_ms": self.queued_ms}))
