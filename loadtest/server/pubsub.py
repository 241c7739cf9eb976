"""Publish/subscribe for the embedded target (``--pubsub``), with delivery faults and exact counters.

The protocol (JSON text messages; anything else falls through to the echo):

* ``{"type":"subscribe","topic":T}`` -> ``{"type":"subscribed","topic":T,"ordinal":N}``, sent once
  the subscription is in place; ``N`` is the number of publishes the topic had then, so the
  subscriber is entitled to exactly the publishes numbered above ``N``. Subscribing again is
  harmless and answers the current ordinal: a *fence*, since everything published up to it was
  queued for the subscriber before the answer.
* With ``"subscriber":ID`` in the subscribe message, the answer also says where the previous
  subscription of ``ID`` to ``T`` ended, if one did: ``"previous":E``, the ordinal when the server
  removed it (its session ended, or this subscription took its place). A subscriber that lost its
  session then knows exactly which publishes the old subscription was owed.
* ``{"type":"unsubscribe","topic":T}`` -> ``{"type":"unsubscribed","topic":T,"ordinal":N}``.
* ``{"type":"publish","topic":T,"data":D}`` -> ``{"type":"event","topic":T,"data":D,"ordinal":K}``
  to every session subscribed to T, ``K`` the publish's number on its topic. ``data`` is passed on
  as it was parsed (orjson, so equal JSON, not necessarily the same bytes).

Each subscriber has an :class:`Outbox`: its deliveries and acknowledgements in one FIFO queue,
written by its own task, so a slow subscriber never holds up a publisher, and an acknowledgement
never overtakes an event queued before it. Publishes are fanned out synchronously (no ``await``
between numbering a publish and queueing it for every subscriber), which makes the ordinals and
the fence exact. Faults: every Nth delivery dropped, deliveries delayed (all, or every Nth
subscriber's), every Nth delivery swapped with the next one to the same subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed

__all__ = ["HOLD_MAX_S", "Outbox", "PubSub", "PubSubStats"]

#: Ends of subscriptions remembered for their subscriber's next subscribe (the oldest forgotten).
MAX_ENDED = 100_000

#: A delivery held back to be swapped (``--reorder-every``) is sent in order after this long
#: if no other delivery to its subscriber comes (then it was not reordered, and not counted).
HOLD_MAX_S = 1.0

Send = Callable[[Any, bytes], Awaitable[None]]


@dataclass
class PubSubStats:
    """What the broker did, counted exactly (``/stats`` ``pubsub``).

    ``fanned_out`` = ``deliveries`` + ``dropped`` + ``undelivered`` + what is still queued.
    """

    subscriptions: int = 0  # subscribe messages that created a subscription
    published: int = 0  # publish messages handled
    fanned_out: int = 0  # (publish, subscriber) pairs
    deliveries: int = 0  # events handed to the transport
    dropped: int = 0  # deliveries dropped by --drop-delivery-every
    delayed: int = 0  # deliveries delayed by --delay-deliveries
    reordered: int = 0  # deliveries sent after the next one (--reorder-every)
    undelivered: int = 0  # events still queued when their subscriber left

    def snapshot(self, topics: int) -> dict[str, int]:
        """Return the counters, with the number of topics seen."""
        return {"topics": topics, **vars(self)}

    def reset(self) -> None:
        """Zero every counter in place (the outboxes hold this object)."""
        for field in fields(self):
            setattr(self, field.name, 0)


class Outbox:
    """One subscriber's queue of events and acknowledgements, written in order by one task."""

    def __init__(self, connection: Any, send: Send, stats: PubSubStats, *, delay_s: float) -> None:
        """Start the writer task of ``connection``; its events are delayed by ``delay_s``."""
        self.connection = connection
        self.delay_s = delay_s
        self._send = send
        self._stats = stats
        self._items: deque[tuple[float, bytes, bool]] = deque()  # (due, payload, is an event)
        self._held: tuple[float, bytes] | None = None
        self._held_at = 0.0
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run())

    def put_event(self, payload: bytes, *, hold: bool) -> None:
        """Queue an event; ``hold`` keeps it back to go after the next one (a swap)."""
        due = self._loop.time() + self.delay_s
        if self._held is not None:  # this event overtakes the held one: the swap happens
            self._items.append((due, payload, True))
            self._release(reordered=True)
        elif hold:
            self._held, self._held_at = (due, payload), self._loop.time()
        else:
            self._items.append((due, payload, True))
        self._wake.set()

    def put_reply(self, payload: bytes) -> None:
        """Queue an acknowledgement behind every event queued before it (a held one included)."""
        self._release(reordered=False)
        self._items.append((self._loop.time(), payload, False))
        self._wake.set()

    def _release(self, *, reordered: bool) -> None:
        if self._held is not None:
            due, payload = self._held
            self._items.append((due, payload, True))
            self._held = None
            self._stats.reordered += reordered

    async def _run(self) -> None:
        loop = self._loop
        while True:
            if not self._items:
                self._wake.clear()
                if self._held is None:
                    await self._wake.wait()
                    continue
                left = self._held_at + HOLD_MAX_S - loop.time()
                if left > 0:
                    with contextlib.suppress(TimeoutError):  # woken by another delivery, or time is up
                        await asyncio.wait_for(self._wake.wait(), left)
                    continue
                self._release(reordered=False)  # nothing came to swap with: send it in order
            due, payload, is_event = self._items[0]
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            try:
                await self._send(self.connection, payload)
            except ConnectionClosed:
                return  # the subscriber has gone: what is left is counted by close()
            self._items.popleft()
            self._stats.deliveries += is_event

    def close(self) -> None:
        """Stop writing; count the events never sent."""
        self._task.cancel()
        self._stats.undelivered += sum(is_event for _, _, is_event in self._items) + (self._held is not None)
        self._items.clear()
        self._held = None


class PubSub:
    """Topics, their subscribers and the delivery faults of one target."""

    def __init__(
        self,
        send: Send,
        *,
        drop_every: int | None = None,
        delay_s: float = 0.0,
        slow_every: int | None = None,
        reorder_every: int | None = None,
    ) -> None:
        """Prepare an empty broker; ``send`` writes one text message and counts it."""
        self._send = send
        self.drop_every = drop_every
        self.delay_s = delay_s
        self.slow_every = slow_every  # only every Nth subscriber's deliveries are delayed
        self.reorder_every = reorder_every
        self.stats = PubSubStats()
        self.ordinals: dict[str, int] = {}
        self.subscribers: dict[str, dict[Any, Outbox]] = {}
        self.outboxes: dict[Any, Outbox] = {}
        self._subscribers_seen = 0
        self._owners: dict[tuple[str, str], Any] = {}  # (subscriber id, topic) -> its connection
        self._names: dict[Any, dict[str, str]] = {}  # connection -> topic -> subscriber id
        self._ended: OrderedDict[tuple[str, str], int] = OrderedDict()  # -> the ordinal it ended at

    def reset(self) -> None:
        """Zero the counters and the every-Nth sequences (topics and subscriptions stay)."""
        self.stats.reset()
        self._subscribers_seen = 0

    def snapshot(self) -> dict[str, int]:
        """Return the counters for ``/stats``."""
        return self.stats.snapshot(len(self.ordinals))

    def handle(self, connection: Any, payload: bytes) -> bool:
        """Handle a pub/sub message; return False when it is not one (it is then echoed)."""
        if not payload.startswith(b"{"):
            return False
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(message, dict) or not isinstance(topic := message.get("topic"), str):
            return False
        kind = message.get("type")
        if kind == "publish":
            self._publish(topic, message.get("data"))
        elif kind == "subscribe":
            subscribers = self.subscribers.setdefault(topic, {})
            outbox = self._outbox(connection)
            name = message.get("subscriber")
            previous = self._take_over(connection, name, topic) if isinstance(name, str) else None
            if connection not in subscribers:
                subscribers[connection] = outbox
                self.stats.subscriptions += 1
            self._reply(outbox, "subscribed", topic, previous)
        elif kind == "unsubscribe":
            self.subscribers.get(topic, {}).pop(connection, None)
            name = self._names.get(connection, {}).pop(topic, None)
            if name is not None and self._owners.get((name, topic)) is connection:
                del self._owners[(name, topic)]  # its subscriber knows the end from the answer
            self._reply(self._outbox(connection), "unsubscribed", topic)
        else:
            return False
        return True

    def _take_over(self, connection: Any, name: str, topic: str) -> int | None:
        """Make ``connection`` the subscription of ``name`` to ``topic``; return where the previous ended."""
        key = (name, topic)
        old = self._owners.get(key)
        self._owners[key] = connection
        self._names.setdefault(connection, {})[topic] = name
        if old is connection:
            return None  # subscribing again on the same session: a fence
        if old is not None:  # its session has not ended yet here: this subscription replaces it
            self.subscribers.get(topic, {}).pop(old, None)
            self._names.get(old, {}).pop(topic, None)
            return self.ordinals.get(topic, 0)
        return self._ended.pop(key, None)

    def leave(self, connection: Any) -> None:
        """Forget a session that ended: its subscriptions (remembering where they ended) and its queue."""
        for subscribers in self.subscribers.values():
            subscribers.pop(connection, None)
        for topic, name in self._names.pop(connection, {}).items():
            if self._owners.get((name, topic)) is connection:
                del self._owners[(name, topic)]
                self._ended[(name, topic)] = self.ordinals.get(topic, 0)
                if len(self._ended) > MAX_ENDED:
                    self._ended.popitem(last=False)
        outbox = self.outboxes.pop(connection, None)
        if outbox is not None:
            outbox.close()

    def _outbox(self, connection: Any) -> Outbox:
        outbox = self.outboxes.get(connection)
        if outbox is None:
            self._subscribers_seen += 1
            slow = self.slow_every is None or self._subscribers_seen % self.slow_every == 0
            delay_s = self.delay_s if slow else 0.0
            outbox = self.outboxes[connection] = Outbox(connection, self._send, self.stats, delay_s=delay_s)
        return outbox

    def _reply(self, outbox: Outbox, kind: str, topic: str, previous: int | None = None) -> None:
        answer: dict[str, Any] = {"type": kind, "topic": topic, "ordinal": self.ordinals.setdefault(topic, 0)}
        if previous is not None:
            answer["previous"] = previous
        outbox.put_reply(orjson.dumps(answer))

    def _publish(self, topic: str, data: Any) -> None:
        ordinal = self.ordinals.get(topic, 0) + 1
        self.ordinals[topic] = ordinal
        stats = self.stats
        stats.published += 1
        event = orjson.dumps({"type": "event", "topic": topic, "data": data, "ordinal": ordinal})
        for outbox in self.subscribers.get(topic, {}).values():
            stats.fanned_out += 1
            n = stats.fanned_out
            if self.drop_every and n % self.drop_every == 0:
                stats.dropped += 1
                continue
            if outbox.delay_s > 0:
                stats.delayed += 1
            hold = self.reorder_every is not None and n % self.reorder_every == 0
            outbox.put_event(event, hold=hold)
