"""How fan-out users talk publish/subscribe to a server: the embedded target's way by default.

A locustfile for another server subclasses :class:`PubSubProtocol` and sets it as ``protocol`` on
its :class:`~loadtest.plugin.fanout.FanoutPublisher` and
:class:`~loadtest.plugin.fanout.FanoutSubscriber` classes; the stamping and the checking stay the
same (docs/fanout.md, "Another server").
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["PubSubProtocol"]


class PubSubProtocol:
    """How users talk publish/subscribe to a server; the embedded target's by default.

    Subclass it for another server. ``ack_type`` None means the server acknowledges nothing:
    a subscription then counts as in place ``--ws-subscribe-settle`` seconds after it was sent.
    """

    ack_type: ClassVar[str | None] = "subscribed"

    def subscribe(self, topic: str, subscriber: str) -> dict[str, Any]:
        """Return the message that subscribes to ``topic`` (also sent again as the end's fence).

        ``subscriber`` stays the same across the user's reconnects: the embedded target then says
        where the subscription of the lost session ended (:meth:`previous_end`).
        """
        return {"type": "subscribe", "topic": topic, "subscriber": subscriber}

    def is_ack(self, message: dict[str, Any], topic: str) -> bool:
        """Return True if ``message`` acknowledges the subscription to ``topic``."""
        return message.get("type") == self.ack_type and message.get("topic") == topic

    def ack_ordinal(self, message: dict[str, Any]) -> int | None:
        """Return the topic's publish count an acknowledgement carries (None: sequence mode)."""
        ordinal = message.get("ordinal")
        return ordinal if type(ordinal) is int else None

    def previous_end(self, message: dict[str, Any]) -> int | None:
        """Return the ordinal where this subscriber's previous subscription ended, if the answer says."""
        previous = message.get("previous")
        return previous if type(previous) is int else None

    def publish(self, topic: str, data: dict[str, Any]) -> dict[str, Any]:
        """Return the message that publishes ``data`` (which carries the stamp) on ``topic``."""
        return {"type": "publish", "topic": topic, "data": data}

    def delivery(self, message: dict[str, Any]) -> tuple[str, Any, int | None] | None:
        """Return ``(topic, data, ordinal or None)`` of a delivered event, or None for anything else."""
        if message.get("type") != "event" or not isinstance(topic := message.get("topic"), str):
            return None
        ordinal = message.get("ordinal")
        return topic, message.get("data"), ordinal if type(ordinal) is int else None

    def fence(self) -> dict[str, Any] | None:
        """Return a request the server answers only after handling every message before it (None: none)."""
        return {"type": "ping"}
