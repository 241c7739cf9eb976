"""GraphQL over WebSocket (``graphql-transport-ws``) on a measured session.

The user offers the ``graphql-transport-ws`` subprotocol (unless ``--ws-subprotocol`` names
others), connects to ``--ws-graphql-path`` (``/graphql``) under ``--host``, sends
``connection_init`` and lets tasks run once ``connection_ack`` came: the row ``graphql connect``
is the time from the upgrade to the ack (a refusal is the server's 4403 close, a failure).

- :meth:`GraphQLUser.subscribe` runs one subscription to its end: the row ``graphql first next``
  is the time to its first ``next``, the row ``graphql subscription`` the time to its
  ``complete`` (an ``error`` message is its failure, with the server's messages, and so is its
  first next's if none came), and the summary has the time to first next and the events per
  subscription as histograms. A subscription silent for longer than the reply timeout (before
  its first event or between two) is ended by us (``complete``) and fails as a timeout.
- :meth:`GraphQLUser.execute` runs a query or mutation over the socket: its ``next`` is the
  reply, and the round trip is the RTT (rows ``graphql query``, ``graphql mutation``).

Every operation ends once. What a server message decides is reported by the reader when it
arrives (so a user stopped meanwhile loses nothing); what no message decides (our timeout, the
session's end) by the waiting task. A subscription still running when its user stops is ended
by us (``complete``) and counted in ``errors.outstanding_at_end``, as is a query whose result
has not come when its session has closed. Server pings are answered with pongs. A message
that breaks the protocol closes the session with 4400, as the specification asks of both sides.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any, ClassVar

import gevent
import orjson
from gevent.event import Event

from loadtest.plugin.scenario import option
from loadtest.protocols import graphql_messages as gql
from loadtest.protocols.user import ProtocolError, ProtocolUser
from loadtest.session import ReplyTimeout, Session, SessionEnded

__all__ = ["GraphQLUser"]


@dataclasses.dataclass(slots=True)
class _Operation:
    """One running operation: what it is, when it started, its events and how it ended."""

    kind: str  # subscription, query or mutation
    started_ns: int
    changed: Event = dataclasses.field(default_factory=Event)  # set by the reader on every message
    events: int = 0
    result: Any = None  # the first next's payload
    done: str = ""  # "complete" or "failed", once reported


class GraphQLUser(ProtocolUser):
    """A user holding one GraphQL-over-WebSocket connection (see the module docstring).

    Class attributes (the options win when given):
        graphql_path: the endpoint, ``/graphql``.
        connection_params: the ``connection_init`` payload (credentials go here in many servers).
    """

    abstract = True
    protocol = "graphql"
    embedded_dialect = "graphql-ws"
    scenario_options: ClassVar[tuple[str, ...]] = ("graphql",)
    graphql_path: ClassVar[str] = "/graphql"
    connection_params: ClassVar[dict[str, Any]] = {}
    #: offered unless --ws-subprotocol is given (the engine then needs the server to pick one)
    subprotocols: ClassVar[tuple[str, ...]] = (gql.SUBPROTOCOL,)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        setattr(self, "path", str(option(self, "ws_graphql_path", "") or self.graphql_path))  # noqa: B010
        if not self.options.subprotocols and self.subprotocols:
            self.options = dataclasses.replace(self.options, subprotocols=self.subprotocols)
        self._ops: dict[str, _Operation] = {}
        self._ids = itertools.count(1)

    def new_session(self, session: Session) -> None:
        """Forget the operations of the previous session (their tasks saw it end)."""
        self._ops = {}

    def on_session_open(self, session: Session) -> None:
        """Send ``connection_init`` and wait for ``connection_ack`` (the row ``graphql connect``)."""
        opened_ns = self.opened_ns(session)
        self.session_state()
        init = orjson.dumps(gql.connection_init(self.connection_params)).decode()
        if self.exchange(session, "ack", init, "connect", rtt=False, since_ns=opened_ns) is not None:
            self.count("connects")
        elif session.is_open:
            session.close(1000, "no connection_ack")

    # -- operations ------------------------------------------------------------------------------
    def _start(
        self, session: Session, kind: str, document: str, variables: dict[str, Any] | None
    ) -> _Operation | None:
        if not session.is_open:  # as the engine's requests: counted, not a row (a stop, usually)
            self.recorder.count("send_on_closed")
            return None
        op_id = str(next(self._ids))
        op = self._ops[op_id] = _Operation(kind, time.perf_counter_ns())
        if not session.send_text(orjson.dumps(gql.subscribe(op_id, document, variables)).decode()):
            del self._ops[op_id]
            self.fail_since(
                kind, op.started_ns, SessionEnded("the session ended before the subscribe was sent")
            )
            return None
        self.count("subscriptions" if kind == "subscription" else "queries")
        return op

    def subscribe(self, document: str, variables: dict[str, Any] | None = None) -> int | None:
        """Run one subscription to its end; return its number of events, or None after a failure."""
        session = self.wait_open()
        op = None if session is None else self._start(session, "subscription", document, variables)
        if session is None or op is None:
            return None
        self._follow(session, op)
        return op.events if op.done == "complete" else None

    def execute(self, document: str, variables: dict[str, Any] | None = None) -> Any:
        """Run a query or mutation over the socket; return its result (``data``...), or None after a failure.

        Its ``next`` is the reply: the round trip to it is the RTT (rows ``graphql query`` and
        ``graphql mutation``); the operation still waits for its ``complete``.
        """
        session = self.wait_open()
        kind = gql.operation_type(document)
        op = None if session is None else self._start(session, kind, document, variables)
        if session is None or op is None:
            return None
        self._follow(session, op)
        return op.result if op.done == "complete" and op.events else None

    def _follow(self, session: Session, op: _Operation) -> None:
        """Wait until the operation is reported; a silence as long as the reply timeout ends it (ours)."""
        timeout_s = self.options.reply_timeout_s
        while not op.done:
            op.changed.clear()
            gevent.wait([op.changed, session.ended], timeout=timeout_s, count=1)
            if op.done or op.changed.is_set():
                continue
            failure: BaseException
            if session.end is None:  # silent for a whole timeout: we end it
                self._cancel(session, op)
                self.recorder.count("reply_timeouts")
                failure = ReplyTimeout(f"no message within {timeout_s:g} s")
            elif self.stopping:  # the stop closed the session: neither success nor failure
                self._forget(op)
                self.recorder.count("outstanding_at_end")
                op.done = "stopped"
                return
            else:
                self._forget(op)
                who, code, reason = session.end
                meaning = gql.CLOSE_CODES.get(code, reason)
                failure = SessionEnded(f"the session ended ({who} {code}{': ' + meaning if meaning else ''})")
            self._ended(op, failure)

    def _ended(self, op: _Operation, failure: BaseException | None) -> None:
        """Report an operation's end, once: ``failure`` None is its complete."""
        op.done = "complete" if failure is None else "failed"
        subscription = op.kind == "subscription"
        if subscription:
            self.recorder.histograms["graphql_events_per_subscription"].record(op.events)
            if not op.events and failure is not None:
                self.fail_since("first next", op.started_ns, failure)
        if failure is None and not subscription and not op.events:
            failure = ProtocolError("completed without a result")
        if failure is not None:
            self.fail_since(op.kind, op.started_ns, failure)
        elif subscription:
            self.fire("subscription", (time.perf_counter_ns() - op.started_ns) / 1e6, 0)

    def _cancel(self, session: Session, op: _Operation) -> None:
        """End an operation from our side (``complete``) and forget it."""
        op_id = self._forget(op)
        if op_id and session.send_text(orjson.dumps(gql.complete(op_id)).decode()):
            self.count("cancels")

    def _forget(self, op: _Operation) -> str:
        """Drop a running operation; return its id ("" if it was not running)."""
        for op_id, known in list(self._ops.items()):
            if known is op:
                del self._ops[op_id]
                return op_id
        return ""

    # -- everything that arrives -----------------------------------------------------------------
    def on_message(self, message: Any) -> None:
        """Handle one graphql-transport-ws message; report what it decides about its operation."""
        session = self.session_state()
        if session is None:
            return
        try:
            msg = gql.parse(message)
        except gql.MessageError as exc:
            self.count("invalid")
            self.fire("invalid", session.lifetime_s * 1000.0, 0, ProtocolError(str(exc)))
            if session.is_open:
                session.close(4400, str(exc)[:120], wait=False)
            return
        kind = msg.type
        if kind == "ping":
            if session.send_text('{"type":"pong"}'):
                self.count("pings_answered")
            return
        if kind == "connection_ack":
            self.answer("ack")
            return
        if kind == "pong":
            return
        self.count({"next": "nexts", "complete": "completes", "error": "errors"}[kind])
        op = self._ops.get(msg.id)
        if op is None:  # an operation we already ended: our complete crossed its last messages
            if kind != "next":
                self.count("crossed")  # so every operation ends once: completes + errors - crossed
            return
        if kind == "next":
            op.events += 1
            if op.events == 1:
                self._first(op, msg.payload)
        else:
            del self._ops[msg.id]
            self._ended(op, ProtocolError(gql.error_text(msg.payload)) if kind == "error" else None)
        op.changed.set()

    def _first(self, op: _Operation, payload: Any) -> None:
        """Report the first next: a subscription's first event, or a query's result (its round trip)."""
        op.result = payload
        elapsed_ns = time.perf_counter_ns() - op.started_ns
        if op.kind == "subscription":
            self.recorder.histograms["graphql_first_next"].record(elapsed_ns // 1000)
            self.fire("first next", elapsed_ns / 1e6, 0)
        else:
            self.recorder.on_rtt(elapsed_ns // 1000)
            self.fire(op.kind, elapsed_ns / 1e6, 0)

    def goodbye(self, session: Session, timeout_s: float) -> None:
        """End the subscriptions still running (``complete``) so the server stops sending.

        Their user was stopped while they ran: neither a success nor a failure, they count in
        ``errors.outstanding_at_end`` (and ``cancels``), as the engine's requests do. Queries
        and mutations are left to finish: a result read while the session closes is reported
        by the reader, and one still missing when it has closed is outstanding too.
        """
        running = [op for op in self._ops.values() if op.kind == "subscription"]
        for op in running:
            self._cancel(session, op)
        if running:
            self.recorder.count("outstanding_at_end", len(running))

    def unanswered(self) -> int:
        """Count the queries whose result never came, besides the awaited replies."""
        left, self._ops = len(self._ops), {}
        return super().unanswered() + left
