"""Replay recorded WebSocket connections: the runtime a ``loadtest har`` locustfile imports.

A :class:`HarUser` takes one recording (round robin over its class's ``recordings``, within a
process, starting at the worker's index) and, on every session it opens, sends the recorded
client messages at their recorded offsets from the open (divided by ``--ws-har-speed``; 0 sends
them back to back), waits for the replies it expects, closes at the recorded end, and starts
again on the next session (the user reconnects after the ``--ws-reconnect`` delay). Messages
never wait for replies, as in the browser: requests correlated by ``id`` run beside the replay
(``session.request``); other correlation fields are matched here, in :meth:`HarUser.on_message`.

Every replay is a Locust request ``replay <label>`` whose response time is the replay's duration;
one cut short by the end of its session (before the recorded close) is a failure that says
after how many messages. The handshake follows the recording: its path joined to ``--host``, its
query, headers, cookies, origin and subprotocols (``--ws-header``, ``--ws-origin``,
``--ws-subprotocol`` and ``--ws-cookie`` win), and the token where the recording had one
(``--ws-token``; ``--ws-token-mode`` does not apply to a recording that had a token).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import gevent
import orjson
from gevent.event import Event
from gevent.pool import Group
from locust import constant, task

from loadtest.errors import LoadtestError
from loadtest.har.script import B64, Cookie, Corr, Fresh, Now, Recording, Send, Token, Values
from loadtest.plugin.scenario import option
from loadtest.plugin.user import WebSocketUser
from loadtest.session import ReplyTimeout, Session, SessionEnded

__all__ = ["B64", "Cookie", "Corr", "Fresh", "HarUser", "Now", "Recording", "ReplayCut", "Send", "Token"]

logger = logging.getLogger(__name__)

_NEXT: dict[type, Iterator[int]] = {}  # round robin over the recordings, per user class
_WARNED: set[tuple[str, str]] = set()


class ReplayCut(LoadtestError):
    """The session ended before the recorded close (a failure of the ``replay <label>`` row)."""


class HarUser(WebSocketUser):
    """A user replaying one recorded connection again and again (see the module docstring).

    Class attributes:
        recordings: the recorded connections; users take them in turn.
    """

    abstract = True
    recordings: ClassVar[tuple[Recording, ...]] = ()
    scenario_options: ClassVar[tuple[str, ...]] = ("har",)
    wait_time = constant(0)  # the recording paces the replay
    sessions_per_user: ClassVar[int | None] = 1  # one recorded connection replayed on one session

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if not self.recordings:
            raise LoadtestError(f"{type(self).__name__} has no recordings to replay")
        self.recording = self.recordings[self._take(environment) % len(self.recordings)]
        self._run_options = self.options  # the --ws-* options; self.options adds the recording's
        self._token = self.options.token or ""
        self._own_cookies = dict(self.options.cookies)
        self._requests = Group()  # session.request() greenlets of the replay (id correlation)
        self._pending: dict[object, tuple[int, str, int]] = {}  # other fields: value -> (sent, name, size)
        self._drained = Event()
        self._replayed: Session | None = None
        self._warn_missing()
        self._values = self._prepare()

    @classmethod
    def _take(cls, environment: Any) -> int:
        counter = _NEXT.get(cls)
        if counter is None:
            start = getattr(getattr(environment, "runner", None), "worker_index", 0)
            counter = _NEXT[cls] = itertools.count(max(0, int(start or 0)))
        return next(counter)

    def _warn_missing(self) -> None:
        label = self.recording.label
        needs = ["--ws-token"] if self.recording.uses_token and not self._token else []
        needs += [
            f"--ws-cookie {name}=..."
            for name, value in self.recording.cookies.items()
            if isinstance(value, Cookie) and name not in self._own_cookies
        ]
        if needs and (label, "missing") not in _WARNED:
            _WARNED.add((label, "missing"))
            logger.warning(
                "the recording %r carried secrets that the locustfile does not hold: give %s "
                "(replaying without them)",
                label,
                " ".join(needs),
            )

    # -- the handshake -------------------------------------------------------------------------
    def _prepare(self) -> Values:
        """Make the next replay's values and the handshake that goes with them (used at the next connect)."""
        values = Values(self._token)
        recording, run = self.recording, self._run_options
        query = values.query(recording.query)
        # WebSocketUser joins self.path to --host at every connect: one path per user and replay.
        setattr(self, "path", recording.path + (f"?{query}" if query else ""))  # noqa: B010 (a ClassVar)
        own = {name.lower() for name in run.headers}
        headers = {
            name: str(values.render(value))
            for name, value in recording.headers.items()
            if name.lower() not in own and not (isinstance(value, Token) and not self._token)
        }
        self.options = dataclasses.replace(
            run,
            headers={**headers, **run.headers},
            origin=run.origin or recording.origin,
            subprotocols=run.subprotocols or recording.subprotocols,
            token=None if recording.uses_token else run.token,  # the recording says where it goes
        )
        jar = dict(self.cookies)  # the --ws-cookie values, then what servers set
        cookies: dict[str, str] = {}
        for name, value in recording.cookies.items():
            if name in jar:
                cookies[name] = jar[name]
            elif not isinstance(value, Cookie):
                cookies[name] = str(value)
        self.cookies.clear()  # the session's jar is this dict: keep the object, set the order
        self.cookies.update({**cookies, **jar})
        return values

    # -- the replay ----------------------------------------------------------------------------
    @task
    def replay(self) -> None:
        """Replay the recording once on the open session, then close it as recorded."""
        session = self.wait_open()
        if session is None or session is self._replayed:
            return
        self._replayed = session
        values, self._values = self._values, self._prepare()  # the next connect gets new values
        speed = max(0.0, float(option(self, "ws_har_speed", 1.0)))
        recording = self.recording
        opened_ns = session.opened_ns or time.perf_counter_ns()
        sent = 0
        for step in recording.steps:
            if not self._wait_until(session, opened_ns, step.at_s, speed):
                break
            self._send(session, step, values)
            sent += 1
        self._await_replies(session)
        done = sent == len(recording.steps) and self._wait_until(
            session, opened_ns, recording.close_at_s, speed
        )
        if done:
            session.close(recording.close_code, "")
        elapsed_ms = (time.perf_counter_ns() - opened_ns) / 1e6
        cut = None
        if not done:
            who, code, _ = session.end or ("nobody", 1006, "")
            cut = ReplayCut(
                f"the session ended before the recorded close ({who} {code}) after {sent} of "
                f"{len(recording.steps)} messages"
            )
        self.record_request(f"replay {recording.label}", elapsed_ms, 0, cut)

    def _wait_until(self, session: Session, opened_ns: int, at_s: float, speed: float) -> bool:
        """Wait until ``at_s`` (scaled) after the open; return False if the session ended first."""
        if speed > 0:
            delay_s = (opened_ns + at_s / speed * 1e9 - time.perf_counter_ns()) / 1e9
            if delay_s > 0:
                session.ended.wait(delay_s)
        else:
            gevent.sleep(0)  # back to back, but other users' greenlets still run between messages
        return session.is_open

    def _send(self, session: Session, step: Send, values: Values) -> None:
        message = step.message
        if isinstance(message, bytes):
            session.send_binary(message)
            return
        if isinstance(message, str | Token):
            session.send_text(message if isinstance(message, str) else message.render(self._token))
            return
        obj = values.render(message)
        field = self.recording.correlation
        if step.name is None or not isinstance(obj, dict) or field not in obj:
            session.send_json(obj)
        elif field == "id":
            self._requests.spawn(session.request, obj, name=step.name)
            gevent.sleep(0)  # it writes now, so messages keep their recorded order
        else:
            value = obj[field]
            self._pending[value] = (time.perf_counter_ns(), step.name, len(orjson.dumps(obj)))
            self._drained.clear()
            if not session.send_json(obj):
                self._pending.pop(value, None)
                self.record_request(
                    step.name, 0.0, 0, SessionEnded("the session ended before the request was sent")
                )

    def on_message(self, message: Any) -> None:
        """Match a reply by the recording's correlation field (other than ``id``) and record its RTT."""
        field = self.recording.correlation
        if not self._pending or field is None or type(message) is not dict:
            return
        value = message.get(field)
        if not isinstance(value, str | int) or value not in self._pending:
            return
        sent_ns, name, size = self._pending.pop(value)
        rtt_ns = time.perf_counter_ns() - sent_ns
        if rtt_ns > self.options.reply_timeout_s * 1e9:  # as session.request: late is a timeout
            self.recorder.count("reply_timeouts")
            self.record_request(name, rtt_ns / 1e6, 0, ReplyTimeout("no reply within the timeout"))
        else:
            self.recorder.on_rtt(rtt_ns // 1000)
            self.record_request(name, rtt_ns / 1e6, size, None)
        if not self._pending:
            self._drained.set()

    def _await_replies(self, session: Session) -> None:
        """Wait (bounded by the reply timeout) for the replies the replay expects."""
        timeout_s = self.options.reply_timeout_s
        self._requests.join(timeout=timeout_s + self.options.close_timeout_s)  # each is bounded itself
        if not self._pending:
            return
        newest_ns = max(sent_ns for sent_ns, _, _ in self._pending.values())
        wait_s = (newest_ns + timeout_s * 1e9 - time.perf_counter_ns()) / 1e9
        if wait_s > 0:
            gevent.wait([self._drained, session.ended], timeout=wait_s, count=1)
        pending, self._pending = self._pending, {}
        for sent_ns, name, _ in pending.values():
            elapsed_ms = (time.perf_counter_ns() - sent_ns) / 1e6
            if session.is_open:
                self.recorder.count("reply_timeouts")
                self.record_request(name, elapsed_ms, 0, ReplyTimeout("no reply within the timeout"))
            else:
                self.record_request(name, elapsed_ms, 0, SessionEnded("the session ended before the reply"))

    def on_stop(self) -> None:
        """Stop the replay's requests, then close the session (WebSocketUser.on_stop)."""
        self._requests.kill(block=True, timeout=self.options.close_timeout_s)
        self._pending.clear()
        super().on_stop()
