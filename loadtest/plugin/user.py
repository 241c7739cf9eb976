"""``WebSocketUser``: a Locust user that keeps one (or several) measured WebSocket sessions open.

A user holds ``sessions_per_user`` seats (:mod:`loadtest.plugin.seat`), each with one session at
a time and its own reconnect state. While a session is open and working, the user owns no
greenlet for it: the engine (:mod:`loadtest.engine`) reads it from the hub. A lifecycle greenlet
exists only while there is something to wait for: the handshake, authentication and
``on_session_open``, or the backoff before a reconnect. It ends once the session is open; the
session's end starts the next one. So a long soak keeps its sessions whatever the server does,
and an idle session costs no stack. Handshake failures and session ends are samples, never
exceptions that kill the user. A user with several seats opens them one after another, in one
opener greenlet that ends when every seat had its first attempt (a seat whose attempt failed
goes on backing off in a greenlet of its own).

The ``on_message`` hook may block (it is user code), so it never runs in the hub: a class that
overrides it gets a dispatcher greenlet, started when pushes arrive and ended when none is left;
the default no-op hook costs nothing (pushes are not even decoded for it).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

import gevent
from gevent.event import Event
from greenlet import getcurrent
from locust import User

from loadtest.config import SessionOptions, join_url, validate_target_url, with_query
from loadtest.errors import HandshakeFailure, LoadtestError, TargetURLError
from loadtest.metrics import close_codes
from loadtest.metrics.backoff import Backoff
from loadtest.metrics.storm import Storm
from loadtest.plugin import rows as rows_module
from loadtest.plugin.seat import Seat
from loadtest.plugin.state import state_for
from loadtest.session import Session
from loadtest.traffic import Loop, Traffic, TrafficSource

logger = logging.getLogger(__name__)

#: How long a stop waits for a killed greenlet to finish its cleanup, even past the close budget.
_KILL_WAIT_S = 0.5
#: After a refused authentication, how long the server gets to close first before we close 1008.
AUTH_CLOSE_GRACE_S = 0.5


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _hold(user: User) -> None:
    """The task of a class whose traffic the engine sends: hold the user, cost nothing."""
    gevent.sleep(3600)


#: Server closes that end a session the way it was meant to end; anything else is a Locust failure.
EXPECTED_SERVER_CODES = frozenset({1000, 1001})


class SessionClosed(LoadtestError):
    """A session ended other than by our own close (a Locust failure under the name ``session``)."""


class AuthFailed(LoadtestError):
    """The server's answer to the auth message was not ``ok``."""


class WebSocketUser(User):
    """A Locust user holding WebSocket sessions (one by default); subclass it and write tasks.

    Class attributes:
        path: appended to the host (``--host ws://h:p`` + ``path``); a full URL replaces the host.
        session_options: override the ``--ws-*`` options for this class.
        backoff: override the ``--ws-reconnect*`` strategy for this class.
        reconnect_after_normal_close: reconnect after the server's 1000 close (the guide says no;
            a soak usually wants its sessions back, so the default is yes).
        default_max_attempts: give up after this many consecutive failed connects when
            ``--ws-reconnect-max-attempts`` is 0 (0: never).
        scenario_options: the scenario option groups this class uses (``"heartbeat"``,
            ``"burst"``, ``"storm"``...): their ``--ws-*`` fields show in the web UI form.
        sessions_per_user: how many sessions each user holds (None: ``--ws-sessions-per-user``,
            default 1); ``ws`` and ``wait_open()`` are the first, ``sessions`` all open ones.
        traffic: what the engine sends by itself on every session once it is open and working
            (:mod:`loadtest.traffic`: a closed loop, bursts, a rate), or a function of the user
            returning it; a class with traffic and no task gets one that only holds the user.
    """

    abstract = True
    path: ClassVar[str] = ""
    session_options: ClassVar[SessionOptions | None] = None
    backoff: ClassVar[Backoff | None] = None
    reconnect_after_normal_close: ClassVar[bool] = True
    #: consecutive failed connects before giving up when --ws-reconnect-max-attempts is 0 (never)
    default_max_attempts: ClassVar[int] = 0
    scenario_options: ClassVar[tuple[str, ...]] = ()
    sessions_per_user: ClassVar[int | None] = None
    traffic: ClassVar[TrafficSource | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.traffic is not None and not cls.tasks:  # the engine sends: Locust needs a task still
            cls.tasks = [_hold]

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        state = state_for(environment)
        self.recorder = state.recorder
        self.options: SessionOptions = self.session_options or state.session_options
        self.reconnect: Backoff = self.backoff or state.backoff
        if self.reconnect.max_attempts == 0 and self.default_max_attempts:
            self.reconnect = dataclasses.replace(self.reconnect, max_attempts=self.default_max_attempts)
        self.cookies: dict[str, str] = dict(self.options.cookies)
        count = self.sessions_per_user or state.settings.sessions_per_user
        self._seats = [Seat(self, index) for index in range(max(1, count))]
        self._opener: gevent.Greenlet | None = None  # opens seats after the first (only while it does)
        self._storms = state.storms
        self._source_ips = state.source_ips
        self._open = Event()  # the first seat's session is open and working
        self._stopping = False
        # Locust's rows in batches, or one request event per request: with --ws-request-events,
        # or when a request listener other than Locust's own statistics would miss events
        per_event = state.settings.request_events or rows_module.other_listeners(environment)
        self._rows = None if per_event else state.rows_for(environment)
        self._pushes: deque[tuple[Seat, int, Any]] | None = None  # for on_message, created on first use
        self._dispatcher: gevent.Greenlet | None = None  # runs on_message while pushes wait
        self._pushes_closed = False  # set once on_stop has handed on the last push
        #: ``time.monotonic_ns()`` when the engine read the message ``on_message`` is handling
        self.message_received_ns = 0

    # -- hooks for subclasses --------------------------------------------------------------
    def on_session_open(self, session: Session) -> None:
        """Run after every successful open (subscribe, authenticate...); an exception ends the session."""

    def on_message(self, message: Any) -> None:
        """Receive every data message that is not a reply to a request (push messages)."""

    # -- Locust lifecycle ------------------------------------------------------------------
    # -- the sessions ----------------------------------------------------------------------
    @property
    def ws(self) -> Session | None:
        """Return the first seat's current session (None before its first attempt)."""
        return self._seats[0].ws

    @property
    def sessions(self) -> list[Session]:
        """Return this user's sessions that are open now, in seat order (a new list)."""
        return [seat.ws for seat in self._seats if seat.ws is not None and seat.ws.is_open]

    @property
    def seats(self) -> tuple[Seat, ...]:
        """Return this user's seats: one per session it holds, each with its current session."""
        return tuple(self._seats)

    @property
    def gave_up(self) -> bool:
        """Return True once every seat gave up reconnecting."""
        return all(seat.gave_up for seat in self._seats)

    def on_start(self) -> None:
        """Start opening the sessions and wait (bounded) for the first one to open."""
        first = self._seats[0]
        if len(self._seats) == 1:
            first.lifecycle = gevent.spawn(self._lifecycle, first)
        else:
            self._opener = gevent.spawn(self._open_seats)
        self._open.wait(self.options.connect_timeout_s)

    def on_stop(self) -> None:
        """End the session within the close timeout, whatever it was doing, and stop the lifecycle.

        The whole stop has one budget, the close timeout, so a run ends on time whatever the
        connect timeout: a handshake in flight may finish in it (a session the server accepted is
        then closed on both sides rather than lost in between), then the session finishes a frame
        the stop cut in half (or aborts, ``stopped_mid_send``) and closes with 1000, or keeps
        waiting for the answer to a close already sent. Every session that opened ends counted;
        a handshake still unanswered is abandoned and counted in ``errors.handshakes_at_end``.
        """
        self._stopping = True
        deadline = time.monotonic() + self.options.close_timeout_s
        seats = self._seats
        for seat in seats:
            if seat.loop is not None:  # nothing more is sent; what is in flight is the reader's
                seat.loop.stop()
        for seat in seats:
            if seat.handshaking is not None:
                seat.handshaking.wait(_left(deadline))
        if len(seats) == 1:
            session = seats[0].ws
            if session is not None:
                session.stop(_left(deadline))
        else:  # every session's close under way at once, all within the one budget
            stopping = [gevent.spawn(s.stop, _left(deadline)) for s in self._started_sessions()]
            gevent.joinall(stopping, timeout=_left(deadline) + _KILL_WAIT_S)
        # The on_message dispatcher first hands on the pushes read until the end (same budget).
        self._drain_pushes(_left(deadline))
        self._pushes_closed = True
        if self._pushes:  # the budget ran out first: counted, never dropped silently
            self.recorder.count("pushes_at_end", len(self._pushes))
            self._pushes.clear()
        # No greenlet outlives its user: the opener first (it may hand a seat to a lifecycle of its
        # own), then lifecycles still opening or backing off, then the on_message dispatcher.
        greenlets = [self._opener, *(seat.lifecycle for seat in seats), self._dispatcher]
        for greenlet in greenlets:
            if greenlet is not None:
                greenlet.kill(block=True, timeout=max(_left(deadline), _KILL_WAIT_S))
        self._opener = self._dispatcher = None
        for seat in seats:
            seat.lifecycle = None
            session = seat.ws
            if session is None:
                continue
            if session.opened_ns and session.end is None:  # opened while we were stopping it
                session.declare_dead("stopped")
            elif not session.opened_ns and session.failure_class is None and not session.ended.is_set():
                self.recorder.count("handshakes_at_end")  # killed while waiting for the server's 101
        if self._rows is not None:
            self._rows.flush()  # this user's last requests (its stop's) are in Locust's rows now

    def _started_sessions(self) -> list[Session]:
        """Return the seats' current sessions that connected and have not ended (open or closing)."""
        return [s for seat in self._seats if (s := seat.ws) is not None and s.opened_ns and s.end is None]

    def wait_open(self, timeout_s: float | None = None) -> Session | None:
        """Return the open session, waiting up to ``timeout_s`` (default: the connect timeout)."""
        session = self.ws
        if session is not None and session.is_open:
            return session
        self._open.wait(self.options.connect_timeout_s if timeout_s is None else timeout_s)
        session = self.ws
        return session if session is not None and session.is_open else None

    # -- internals -------------------------------------------------------------------------
    def record_request(
        self, name: str, response_time_ms: float, length: int = 0, exception: BaseException | None = None
    ) -> None:
        """Report one request to Locust's statistics: a row ``WS name`` (a failure if ``exception``).

        This is how a locustfile or a protocol layer adds rows of its own (its own requests and
        replies, matched however it likes): they reach Locust's tables, charts, CSV and fail ratio
        in the same batches as ours, or as one ``request`` event each where a listener needs them
        (see ``--ws-request-events``). Never raises.
        """
        rows = self._rows
        if rows is not None:
            rows.record(name, response_time_ms, length, exception)
            return
        self.recorder.count("request_events")
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=response_time_ms,
            response_length=length,
            exception=exception,
            context={},
        )

    def _url_and_headers(self) -> tuple[str, dict[str, str]]:
        url = validate_target_url(join_url(self.host or "", self.path))
        headers = self.options.headers  # shared and only read: copied only to add to it
        token = self.options.token
        if token and self.options.token_mode == "query":
            url = with_query(url, token=token)
        elif token and self.options.token_mode == "header":
            headers = {**headers, "Authorization": f"Bearer {token}"}
        return url, headers

    def _open_session(self, seat: Seat) -> Session | None:
        started = time.perf_counter()
        try:
            url, headers = self._url_and_headers()
        except TargetURLError as exc:
            self.recorder.on_handshake_failure("bad_url")
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            self.record_request("connect", elapsed_ms, 0, HandshakeFailure("bad_url", str(exc)))
            return None
        session = Session(
            url,
            self.options,
            self.recorder,
            on_request=self.record_request if self._rows is None else self._rows.record,  # no hop per request
            headers=headers,
            cookies=self.cookies,
            on_message=self._message_sink(seat),
            source_ip=self._source_ips.next(),
            on_end=seat.on_end,
        )
        seat.ws = session
        seat.handshaking = done = Event()
        try:
            return session if session.connect() else None
        finally:
            seat.handshaking = None
            done.set()

    def _authenticate(self, seat: Seat, session: Session) -> bool:
        reply = session.request_typed(
            {"type": "auth", "token": self.options.token},
            reply_type="auth_result",
            name="auth",
            accept=lambda answer: answer.get("ok") is True,
            refused=AuthFailed("the server refused the auth message"),
        )
        if reply is None:
            self.recorder.count("auth_failures")
            seat.auth_failed = True
            return False
        return True

    def _after_open(self, seat: Seat, session: Session) -> bool:
        if (
            self.options.token
            and self.options.token_mode == "message"
            and not self._authenticate(seat, session)
        ):
            # A server that refuses usually closes right after its answer: give its close a moment
            # to arrive, so that the end is counted as the server's (as the server counts it)
            # rather than crossing ours on the wire.
            session.ended.wait(min(AUTH_CLOSE_GRACE_S, self.options.close_timeout_s))
            if session.is_open:
                session.close(1008, "auth failed")
            return False
        try:
            self.on_session_open(session)
        except Exception as exc:  # a user hook bug: a classified, visible failure, not a lost user
            logger.exception("on_session_open failed; the session is closed and reopened")
            self.record_request("on_session_open", session.lifetime_s * 1000.0, 0, exc)
            if session.is_open:
                session.close(1011, "on_session_open failed")
            return False
        return session.is_open

    def _report_end(self, session: Session) -> None:
        assert session.end is not None
        who, code, reason = session.end
        violation = session.violation
        if violation is not None:  # we closed because the server broke the protocol: a failure
            meaning = close_codes.meaning(violation.code)
            text = f"we closed {violation.code} ({meaning}): {violation.detail}"
            self.record_request("session", session.lifetime_s * 1000.0, 0, SessionClosed(text))
            return
        if who == close_codes.CLIENT or (who == close_codes.SERVER and code in EXPECTED_SERVER_CODES):
            return
        if reason == "storm":  # a drop we caused on purpose (reconnect_storm): not a failure
            return
        if who == close_codes.SERVER:
            text = f"server closed {code}: {close_codes.meaning(code)} ({close_codes.hint(code)})"
        else:
            text = f"abnormal 1006 {reason}: {close_codes.ABNORMAL_REASONS.get(reason, reason)}"
        self.record_request("session", session.lifetime_s * 1000.0, 0, SessionClosed(text))

    # -- pushes: the on_message hook runs in a greenlet, never in the hub ------------------------
    def _message_sink(self, seat: Seat) -> Callable[[Any], None] | None:
        """Return what the session calls with pushes: nothing for the default no-op hook."""
        if type(self).on_message is WebSocketUser.on_message:
            return None
        return seat.push

    def _push(self, seat: Seat, message: Any) -> None:
        """Queue a push (called by the session's read callback, in the hub: never blocks)."""
        pushes = self._pushes
        if pushes is None:
            pushes = self._pushes = deque()
        pushes.append((seat, time.monotonic_ns(), message))
        if self._dispatcher is None and not self._pushes_closed:
            self._dispatcher = gevent.spawn(self._dispatch)

    def _drain_pushes(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) until ``on_message`` has had every push queued so far.

        Called before a session is reopened and when the user stops, so the hook sees every
        message of a session, in order, and none of them after the next session has opened.
        """
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher is not getcurrent():
            dispatcher.join(timeout=max(timeout_s, 0.0))

    def _dispatch(self) -> None:
        """Hand every queued push to ``on_message`` in order, then end (no greenlet while idle)."""
        pushes = self._pushes
        try:
            while pushes:
                seat, self.message_received_ns, message = pushes[0]  # queued until handled
                try:
                    self.on_message(message)
                except Exception:  # a bug in the hook: end the session visibly, keep the user
                    logger.exception("on_message failed; the session is ended as abnormal and reopened")
                    session = seat.ws
                    if session is not None and session.end is None:
                        session.declare_dead("error")
                pushes.popleft()  # (a hook killed by the stop leaves its message queued: counted)
        finally:
            if self._dispatcher is getcurrent():
                self._dispatcher = None

    # -- reconnect storms: time from losing a session to the next open, attempts, by storm ---------
    def _lost(self, seat: Seat) -> None:
        now_ns = time.perf_counter_ns()
        seat.lost_ns, seat.lost_attempts = now_ns, 0
        seat.lost_storm = self._storms.on_lost(now_ns, self.recorder.concurrent + 1)

    def _storm_of_loss(self, seat: Seat) -> Storm | None:
        # A server-side storm is detected only after several losses: the first ones join it late.
        if seat.lost_storm is None and seat.lost_ns:
            current = self._storms.current
            if current is not None and current.started_ns <= seat.lost_ns and current.fleet_back_ns is None:
                seat.lost_storm = current
        return seat.lost_storm

    def _recovered(self, seat: Seat) -> None:
        storm, lost_ns = self._storm_of_loss(seat), seat.lost_ns
        seat.lost_storm, seat.lost_ns = None, 0
        if storm is not None and lost_ns:
            now_ns = time.perf_counter_ns()
            storm.recovered += 1
            storm.recovery.record((now_ns - lost_ns) // 1000)
            storm.attempts.record(seat.lost_attempts)
            self._storms.on_open(now_ns, self.recorder.concurrent)

    def drop_session(self, reason: str = "storm") -> int:
        """Lose every open session at once, without a close frame (a simulated network drop).

        Each reconnects on its own. Returns how many were dropped.
        """
        dropped = self.sessions
        for session in dropped:
            session.declare_dead(reason)
        return len(dropped)

    def _on_session_end(self, seat: Seat, session: Session) -> None:
        """A seat's session ended (called from the hub or from the greenlet that ended it): reopen."""
        if session is not seat.ws:
            return
        if seat.index == 0:
            self._open.clear()
        if self._stopping or seat.lifecycle is not None:
            return  # stopping, or the lifecycle still opening this session sees the end itself
        assert session.end is not None
        # Only a session that was open and working is a loss a storm is made of (this one was: the
        # lifecycle had ended). Counted now, while the number connected is the one of this loss.
        if session.end[0] != close_codes.CLIENT:
            self._lost(seat)
        seat.lifecycle = gevent.spawn(self._lifecycle, seat, session)

    def _drive(self, seat: Seat, session: Session) -> None:
        """Start the class's traffic on a session that is open and working (if it has any)."""
        source = type(self).traffic
        if source is None:
            seat.loop = None
            return
        traffic = source if isinstance(source, Traffic) else source(self)
        seat.loop = Loop(session, traffic)
        seat.loop.start()

    def _open_seats(self) -> None:
        """Give every seat its first attempt, one after another (the opener greenlet).

        One handshake at a time per user, so a user's sessions open as fast as the target answers
        and a CPU-starved generator slows its ramp instead of timing its handshakes out. A seat
        whose attempt failed goes on (backoff, retries) in a greenlet of its own.
        """
        current = getcurrent()
        try:
            for seat in self._seats:
                if self._stopping:
                    return
                seat.lifecycle = current
                self._lifecycle(seat, opener=True)  # clears seat.lifecycle, or hands it on
        finally:
            if self._opener is current:
                self._opener = None  # no finished greenlet kept

    def _lifecycle(
        self,
        seat: Seat,
        ended: Session | None = None,
        *,
        storm: Storm | None = None,
        failed: bool = False,
        opener: bool = False,
    ) -> None:
        """Reopen a seat after ``ended`` (or open it first) until its session is open and working.

        A greenlet runs this only while there is something to wait for (a handshake, the open
        hooks, a backoff); once the session is open it returns and the engine reads the session.
        ``failed``: start with the backoff after a failed attempt (``storm``: the storm it was
        part of). ``opener``: run by the opener, which moves on to the next seat after one
        attempt: a failed one is handed on to a greenlet of the seat's own.
        """
        try:
            if ended is not None and not self._after_end(seat, ended, storm=storm):
                return
            if failed and not self._failed_attempt(seat, storm):
                return
            while not self._stopping:
                self._drain_pushes(self.options.close_timeout_s)  # the last session's pushes first
                storm = self._storm_of_loss(seat)
                if storm is not None:
                    storm.on_attempt(time.perf_counter_ns())
                    seat.lost_attempts += 1
                session = self._open_session(seat)
                if session is not None and self._stopping:  # opened while the user was stopping
                    session.close(1000, "", wait=False)
                    return
                if session is not None:
                    session.start_reading()
                    seat.auth_failed = False
                    if self._after_open(seat, session) and session.is_open:
                        self._recovered(seat)  # back once the session is usable: authenticated, hooks run
                        self._drive(seat, session)
                        if seat.index == 0:
                            self._open.set()
                        return  # open and working: from here on the engine reads it
                    session.ended.wait()  # closed by _after_open, or ending by itself
                    if opener:
                        seat.lifecycle = gevent.spawn(self._lifecycle, seat, session, storm=storm)
                        return
                    if not self._after_end(seat, session, storm=storm):
                        return
                    continue
                if storm is not None and seat.ws is not None and seat.ws.failure_class:
                    storm.failures[seat.ws.failure_class] += 1
                if opener:
                    seat.lifecycle = gevent.spawn(self._lifecycle, seat, storm=storm, failed=True)
                    return
                if not self._failed_attempt(seat, storm):
                    return
        finally:
            if seat.lifecycle is getcurrent():
                seat.lifecycle = None  # no finished greenlet kept

    def _after_end(self, seat: Seat, session: Session, *, storm: Storm | None) -> bool:
        """Report how a session ended and wait the backoff; return False if the user stops here.

        A loss that makes a storm was counted when the session ended (``_on_session_end``); an
        auth-failure loop or a refused hook ends here without being one.
        """
        if self._stopping:
            return False
        self._report_end(session)
        assert session.end is not None
        if seat.auth_failed:  # a refused authentication counts as a failed attempt
            return self._failed_attempt(seat, storm)
        seat.failures = 0
        normal = session.end[:2] == (close_codes.SERVER, 1000)
        if normal and not self.reconnect_after_normal_close:
            return False
        self._back_off(self.reconnect.delay_s(0))
        return True

    def _failed_attempt(self, seat: Seat, storm: Storm | None) -> bool:
        """Count a failed handshake or authentication; back off, or give up (return False)."""
        seat.failures += 1
        if self.reconnect.gives_up(seat.failures):
            seat.gave_up = True
            if storm is not None:
                storm.gave_up += 1
            self.recorder.count("gave_up")
            logger.warning(
                "a session gave up after %d consecutive failed connects or authentications", seat.failures
            )
            return False
        self._back_off(self.reconnect.delay_s(seat.failures))
        return True

    def _back_off(self, delay_s: float) -> None:
        """Wait the reconnect delay (recorded: the summary's ``reconnects.delay_ms``)."""
        self.recorder.on_reconnect_delay(int(delay_s * 1e6))
        gevent.sleep(delay_s)
