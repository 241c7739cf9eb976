"""The fan-out scenario for a server of another dialect (tests/e2e/room_server.py): only the
protocol is the locustfile's; the stamping and checking stay loadtest's."""

from typing import Any

from locust import constant, task

from loadtest.plugin.fanout import FanoutPublisher, FanoutSubscriber, PubSubProtocol


class RoomProtocol(PubSubProtocol):
    ack_type = None  # joins are not acknowledged: --ws-subscribe-settle says when one is in place

    def subscribe(self, topic: str, subscriber: str) -> dict[str, Any]:
        return {"action": "join", "room": topic}

    def publish(self, topic: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"action": "say", "room": topic, "body": data}

    def delivery(self, message: dict[str, Any]) -> tuple[str, Any, int | None] | None:
        if not isinstance(message.get("room"), str) or not isinstance(message.get("msg"), dict):
            return None
        return message["room"], message["msg"].get("body"), None  # the stamp rides in the body

    def fence(self) -> None:
        return None  # no request is answered in order: the subscribers' grace covers the last ones


class Publisher(FanoutPublisher):
    protocol = RoomProtocol()
    wait_time = constant(0)

    @task
    def publish(self) -> None:
        self.publish_next()


class Subscriber(FanoutSubscriber):
    protocol = RoomProtocol()
    wait_time = constant(1)

    @task
    def listen(self) -> None:
        pass
