"""Fan-out users: publishers that stamp what they send, subscribers that check what arrives.

``scenarios/fanout.py`` runs them against the embedded target (``--pubsub``). For another server,
subclass :class:`PubSubProtocol` (how to subscribe and publish, what an acknowledgement and an
event look like, where the data carrying our stamp is) and set it as ``protocol`` on both user
classes; the checking (:mod:`loadtest.metrics.delivery`) stays the same. Design and exactness:
docs/fanout.md.

Publishers are ``fixed_count`` users (``--ws-publishers``); every other user of a subscriber class
subscribes to one topic. Publishers start once every subscriber holds its acknowledgement
(:mod:`loadtest.plugin.barrier`), and stop first when the run ends.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections import Counter
from typing import Any, ClassVar

import gevent
import orjson
from gevent.event import Event

from loadtest.errors import LoadtestError
from loadtest.metrics.delivery import STAMP_KEY, Stamp, Subscription, read_stamp
from loadtest.plugin import barrier
from loadtest.plugin.pubsub import PubSubProtocol
from loadtest.plugin.scenario import option
from loadtest.plugin.user import WebSocketUser
from loadtest.report.fanout import split_key
from loadtest.session import Session

__all__ = ["HOST_ID", "FanoutPublisher", "FanoutSubscriber", "PubSubProtocol", "topic_names"]

#: A publisher that fell this far behind its schedule (a reconnect) starts a new one, not a burst.
MAX_BEHIND_NS = 1_000_000_000


def _host_id() -> str:
    """Return this boot's id: processes sharing it share CLOCK_MONOTONIC, so their stamps compare."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip().replace("-", "")[:16]
    except OSError:  # not Linux: no latency across processes rather than a wrong one
        return "process-" + secrets.token_hex(6)


HOST_ID = _host_id()
_TOKEN = secrets.token_hex(3)  # with the pid: unique across hosts and the processes of a run
_publishers = itertools.count(1)
_subscribers = itertools.count()


def _user_id(kind: str) -> str:
    # The pid is read now, not at import: --processes forks the workers after the locustfile
    # was imported, so they share everything computed at import time.
    return f"{_TOKEN}{os.getpid():x}.{kind}{next(_publishers)}"


def topic_names(user: WebSocketUser) -> list[str]:
    """Return the run's topics (``--ws-topics``)."""
    return [f"fanout-{i}" for i in range(max(1, int(option(user, "ws_topics", 1))))]


class _FanoutUser(WebSocketUser):
    """What publishers and subscribers share: their options, how they talk to the server, one session."""

    abstract = True
    scenario_options = ("fanout",)
    protocol: ClassVar[PubSubProtocol] = PubSubProtocol()
    sessions_per_user: ClassVar[int | None] = 1  # its stamps and subscription are one session's


class FanoutPublisher(_FanoutUser):
    """Publishes stamped messages at ``--ws-publish-rate``, on every topic in turn, once the barrier opens."""

    abstract = True
    fanout_role: ClassVar[str] = "publisher"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.publisher_id = _user_id("p")
        self.sent: Counter[str] = Counter()  # topic -> messages sent (its sequence numbers: 1..sent)
        self._turn = 0
        self._next_ns = 0
        self._running = False

    def on_start(self) -> None:
        """Count this publisher as running, then connect."""
        barrier.publisher_started(self.environment)
        self._running = True
        super().on_start()

    def publish_next(self) -> None:
        """Publish one message at its scheduled time (a task; waits for the barrier first)."""
        run = barrier.current(self.environment)
        if not run.go.wait(1.0) or run.stopping:
            return
        interval_ns = int(1e9 / max(1e-3, float(option(self, "ws_publish_rate", 10.0))))
        now = time.monotonic_ns()
        if now - self._next_ns > MAX_BEHIND_NS:
            self._next_ns = now
        if self._next_ns > now:
            gevent.sleep((self._next_ns - now) / 1e9)
        self._next_ns += interval_ns
        session = self.wait_open()
        if session is None:
            return
        topics = topic_names(self)
        topic = topics[self._turn % len(topics)]
        self._turn += 1
        seq = self.sent[topic] + 1
        message = self._message(topic, Stamp(self.publisher_id, seq, time.monotonic_ns(), HOST_ID))
        # Counted before the send: a stop that kills this greenlet inside send_json must not leave a
        # delivered message that no publisher counted (docs/fanout.md, "At the edges").
        self._count(topic, seq, 1)
        if not session.send_json(message):
            self._count(topic, seq - 1, -1)

    def _count(self, topic: str, seq: int, change: int) -> None:
        self.sent[topic] = seq
        self.recorder.count("fanout_published", change)
        self.recorder.count_keyed("fanout_published_by", f"{self.publisher_id}|{topic}", change)

    def _message(self, topic: str, stamp: Stamp) -> dict[str, Any]:
        data: dict[str, Any] = {STAMP_KEY: stamp.as_data(), "pad": ""}
        message = self.protocol.publish(topic, data)
        size = int(option(self, "ws_publish_size", 128))
        data["pad"] = "x" * max(0, size - len(orjson.dumps(message)))
        return message

    def on_stop(self) -> None:
        """At the end of a run, fence what was published, report it, then close."""
        try:
            session, fence = self.ws, self.protocol.fence()
            stopping = barrier.current(self.environment).stopping
            if stopping and fence is not None and session is not None and session.is_open:
                session.request(fence, name="publish_fence")
        finally:
            if self._running:
                self._running = False
                barrier.publisher_done(self.environment, self.publisher_id, dict(self.sent))
            super().on_stop()


class FanoutSubscriber(_FanoutUser):
    """Subscribes to one topic after every (re)connect and checks every delivery against the stamps."""

    abstract = True
    fanout_role: ClassVar[str] = "subscriber"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.topic = ""
        self.subscriber_id = _user_id("s")
        self.subscription: Subscription | None = None
        #: the subscription of a session that ended, until the next acknowledgement says where
        self._previous: Subscription | None = None
        self._subscribed_on: Session | None = None  # the session the subscription belongs to
        self._waiting: tuple[str, Event] | None = None  # ("ack" or "fence", set when it arrives)

    def on_start(self) -> None:
        """Pick this subscriber's topic (round robin per process, offset by the worker's index)."""
        topics = topic_names(self)
        offset = int(getattr(self.environment.runner, "worker_index", 0) or 0)
        self.topic = topics[(next(_subscribers) + offset) % len(topics)]
        super().on_start()

    def on_session_open(self, session: Session) -> None:
        """Subscribe, and count the subscription in place once acknowledged (or settled)."""
        self._settle_previous()  # the one before, if its session's acknowledgement never came
        if self.subscription is not None and self.subscription.mode == "ordinal":
            self._previous, self.subscription = self.subscription, None  # settled at the next answer
        self._settle(open_at_end=False)  # the previous session's subscription ended with it
        self._subscribed_on = session  # before subscribing: deliveries may follow the answer at once
        settle_s = float(option(self, "ws_subscribe_settle", 0.0))
        run = barrier.current(self.environment)
        if settle_s > 0 or self.protocol.ack_type is None:
            self.subscription = subscription = Subscription(self.topic, ordinal=None, from_start=False)
            if session.send_json(self.protocol.subscribe(self.topic, self.subscriber_id)):
                gevent.sleep(settle_s)
                subscription.from_start = not run.go.is_set()
                self._in_place(session, run)
            return
        waiter = Event()
        self._waiting = ("ack", waiter)
        started = time.perf_counter()
        subscribe = self.protocol.subscribe(self.topic, self.subscriber_id)
        acknowledged = session.send_json(subscribe) and waiter.wait(self.options.reply_timeout_s)
        self._waiting = None
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if not acknowledged:
            failed = SubscribeFailed("no acknowledgement within the reply timeout")
            self.record_request("subscribe", elapsed_ms, 0, failed)
            if session.is_open:
                session.close(1011, "no subscription acknowledgement")
            return
        self.record_request("subscribe", elapsed_ms)
        self._in_place(session, run)

    def _in_place(self, session: Session, run: barrier.FanoutRun) -> None:
        self.recorder.count("fanout_subscriptions")
        barrier.acked(self.environment, run, 1)
        session.ended.rawlink(lambda _: barrier.acked(self.environment, run, -1))

    def on_message(self, message: Any) -> None:
        """Take acknowledgements and deliveries in the order they arrived (runs in the reader)."""
        if type(message) is not dict:
            return
        waiting = self._waiting
        if waiting is not None and self.protocol.is_ack(message, self.topic):
            kind, event = waiting
            ordinal = self.protocol.ack_ordinal(message)
            if kind == "ack":
                go = barrier.current(self.environment).go.is_set()
                self.subscription = Subscription(self.topic, ordinal=ordinal, from_start=not go)
                self._settle_previous(self.protocol.previous_end(message))
            elif self.subscription is not None:
                self.subscription.fence = ordinal
            self._waiting = None
            event.set()
            return
        found = self.protocol.delivery(message)
        subscription = self.subscription
        if found is None or subscription is None or self._subscribed_on is not self.ws:
            return
        topic, data, ordinal = found
        stamp = read_stamp(data)
        if stamp is None or topic != subscription.topic or not subscription.deliver(stamp, ordinal):
            return
        if stamp.host == HOST_ID:
            self.recorder.on_delivery_latency(max(0, self.message_received_ns - stamp.sent_ns) // 1000)
        else:  # another host's monotonic clock: not comparable with ours
            self.recorder.count("fanout_latency_other_host")

    def on_stop(self) -> None:
        """At the end of a run, collect the deliveries in flight, settle, then close."""
        try:
            self._drain()
        finally:
            super().on_stop()

    def _drain(self) -> None:
        self._settle_previous()
        run, session, subscription = barrier.current(self.environment), self.ws, self.subscription
        if subscription is None:
            return
        if not run.stopping or session is None or not session.is_open or self._subscribed_on is not session:
            self._settle(open_at_end=False)  # a ramp-down, or a session that had ended
            return
        options = self.options
        run.done.wait(options.reply_timeout_s + options.close_timeout_s + 3.0)  # publishers' fences first
        grace_s = float(option(self, "ws_fanout_grace", 2.0))
        open_at_end = session.is_open
        if subscription.mode == "ordinal":  # a fence: everything up to its ordinal arrives before it
            waiter = Event()
            self._waiting = ("fence", waiter)
            if session.send_json(self.protocol.subscribe(subscription.topic, self.subscriber_id)):
                waiter.wait(grace_s)
            self._waiting = None
        else:
            totals = {}
            for key, sent in run.totals.items():
                publisher, topic = split_key(key)
                if topic == subscription.topic:
                    totals[publisher] = sent
            deadline = time.monotonic() + grace_s
            while not subscription.complete(totals) and time.monotonic() < deadline:
                gevent.sleep(0.02)
        self._settle(open_at_end=open_at_end)

    def _settle_previous(self, end: int | None = None) -> None:
        """Settle a lost session's subscription: to ``end`` if the target said, else to its last arrival."""
        previous, self._previous = self._previous, None
        if previous is not None:
            previous.fence = end
            previous.settle(open_at_end=False).record(self.recorder, previous.topic)

    def _settle(self, *, open_at_end: bool) -> None:
        subscription = self.subscription
        if subscription is None:
            return
        self.subscription = None
        subscription.settle(open_at_end=open_at_end).record(self.recorder, subscription.topic)


class SubscribeFailed(LoadtestError):
    """The server did not acknowledge a subscription in time (a Locust failure named ``subscribe``)."""
