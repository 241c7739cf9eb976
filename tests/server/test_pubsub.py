"""The target's publish/subscribe mode (``--pubsub``) and its delivery faults, over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import websocket

from loadtest.server import EmbeddedServer, ServerOptions, parse_args
from loadtest.server.pubsub import HOLD_MAX_S


def _open(server: EmbeddedServer) -> websocket.WebSocket:
    return websocket.create_connection(server.url, timeout=5)


def _send(ws: websocket.WebSocket, **message: Any) -> None:
    ws.send(json.dumps(message))


def _recv(ws: websocket.WebSocket) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv())
    return message


def _subscribe(ws: websocket.WebSocket, topic: str = "t") -> int:
    _send(ws, type="subscribe", topic=topic)
    ack = _recv(ws)
    assert ack["type"] == "subscribed" and ack["topic"] == topic
    ordinal: int = ack["ordinal"]
    return ordinal


def _until_fence(ws: websocket.WebSocket, topic: str = "t") -> tuple[list[dict[str, Any]], int]:
    """Subscribe again (a fence) and return every event before its answer, and its ordinal."""
    _send(ws, type="subscribe", topic=topic)
    events = []
    while (message := _recv(ws))["type"] == "event":
        events.append(message)
    assert message["type"] == "subscribed"
    return events, message["ordinal"]


def _publish(ws: websocket.WebSocket, count: int, topic: str = "t") -> None:
    for i in range(count):
        _send(ws, type="publish", topic=topic, data={"i": i, "nested": [1, "x"]})
    _send(ws, type="ping", id=1)  # answered after every publish before it was handled
    assert _recv(ws) == {"type": "pong", "id": 1}


def _pubsub(server: EmbeddedServer) -> dict[str, int]:
    stats: dict[str, int] = server.stats()["pubsub"]
    return stats


@pytest.fixture
def pubsub(serve: Callable[..., EmbeddedServer]) -> Callable[..., EmbeddedServer]:
    return lambda *args: serve("--pubsub", *args)


def test_publishes_go_to_every_subscriber_in_order_with_their_ordinals(pubsub: Callable[..., Any]) -> None:
    server = pubsub()
    subscribers = [_open(server) for _ in range(3)]
    assert [_subscribe(ws) for ws in subscribers] == [0, 0, 0]
    publisher = _open(server)
    _publish(publisher, 4)
    late = _open(server)
    assert _subscribe(late) == 4  # entitled to the publishes numbered above 4 only
    _publish(publisher, 2)
    for ws in subscribers:
        events, fence = _until_fence(ws)
        assert fence == 6
        assert [(e["ordinal"], e["data"]["i"]) for e in events] == list(enumerate([0, 1, 2, 3, 0, 1], 1))
        assert all(e["topic"] == "t" and e["data"]["nested"] == [1, "x"] for e in events)  # data verbatim
    events, fence = _until_fence(late)
    assert [e["ordinal"] for e in events] == [5, 6] and fence == 6
    assert _pubsub(server) == {
        "topics": 1,
        "subscriptions": 4,  # the fences subscribed nobody again
        "published": 6,
        "fanned_out": 3 * 6 + 2,
        "deliveries": 20,
        "dropped": 0,
        "delayed": 0,
        "reordered": 0,
        "undelivered": 0,
    }


def test_other_messages_are_still_echoed_and_topics_are_separate(pubsub: Callable[..., Any]) -> None:
    server = pubsub()
    ws = _open(server)
    assert _subscribe(ws, "a") == 0
    ws.send("plain text")
    assert ws.recv() == "plain text"
    _send(ws, type="publish", topic="b", data=1)  # nobody on b
    _send(ws, type="publish", data=1)  # no topic: not a pub/sub message, echoed
    assert _recv(ws) == {"type": "publish", "data": 1}
    events, fence = _until_fence(ws, "a")
    assert events == [] and fence == 0
    _send(ws, type="unsubscribe", topic="a")
    assert _recv(ws) == {"type": "unsubscribed", "topic": "a", "ordinal": 0}
    _publish(ws, 1, "a")
    assert _pubsub(server)["fanned_out"] == 0 and _pubsub(server)["topics"] == 2


def test_a_subscribers_next_subscription_says_where_its_lost_one_ended(pubsub: Callable[..., Any]) -> None:
    server = pubsub()
    first = _open(server)
    _send(first, type="subscribe", topic="t", subscriber="s1")
    assert _recv(first) == {"type": "subscribed", "topic": "t", "ordinal": 0}
    publisher = _open(server)
    _publish(publisher, 2)
    first.close()  # the session is gone: the target removes the subscription at ordinal 2...
    deadline = time.monotonic() + 5
    while server.stats()["sessions"]["current"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    _publish(publisher, 3)
    second = _open(server)
    _send(second, type="subscribe", topic="t", subscriber="s1")  # ...and says so to the next one
    assert _recv(second) == {"type": "subscribed", "topic": "t", "ordinal": 5, "previous": 2}
    _send(second, type="subscribe", topic="t", subscriber="s1")  # a fence: nothing ended
    assert _recv(second) == {"type": "subscribed", "topic": "t", "ordinal": 5}
    third = _open(server)  # a subscription of s1 whose session the target still holds is replaced
    _send(third, type="subscribe", topic="t", subscriber="s1")
    assert _recv(third) == {"type": "subscribed", "topic": "t", "ordinal": 5, "previous": 5}
    _publish(publisher, 1)
    assert [e["ordinal"] for e in _until_fence(third)[0]] == [6]
    assert _until_fence(second)[0] == []  # replaced: no longer subscribed
    _send(third, type="unsubscribe", topic="t")
    assert _recv(third)["type"] == "unsubscribed"
    _send(third, type="subscribe", topic="t", subscriber="s1")  # it knew its end: nothing to say
    assert "previous" not in _recv(third)


def test_every_nth_delivery_is_dropped_in_fan_out_order(pubsub: Callable[..., Any]) -> None:
    server = pubsub("--drop-delivery-every", "3")
    first, second = _open(server), _open(server)
    _subscribe(first), _subscribe(second)
    _publish(_open(server), 6)  # deliveries 1..12 alternate first, second; 3, 6, 9, 12 dropped
    assert [e["data"]["i"] for e in _until_fence(first)[0]] == [0, 2, 3, 5]  # lost 1 (3rd), 4 (9th)
    assert [e["data"]["i"] for e in _until_fence(second)[0]] == [0, 1, 3, 4]  # lost 2 (6th), 5 (12th)
    stats = _pubsub(server)
    assert (stats["fanned_out"], stats["deliveries"], stats["dropped"]) == (12, 8, 4)


def test_every_nth_delivery_swaps_with_the_next_to_its_subscriber(pubsub: Callable[..., Any]) -> None:
    server = pubsub("--reorder-every", "3")
    ws = _open(server)
    _subscribe(ws)
    _publish(_open(server), 7)  # 3rd and 6th held, each sent after the one after it
    events, _ = _until_fence(ws)
    assert [e["ordinal"] for e in events] == [1, 2, 4, 3, 5, 7, 6]
    assert _pubsub(server)["reordered"] == 2


def test_a_held_delivery_never_passes_an_acknowledgement_and_is_then_not_reordered(
    pubsub: Callable[..., Any],
) -> None:
    server = pubsub("--reorder-every", "2")
    ws = _open(server)
    _subscribe(ws)
    _publish(_open(server), 2)  # the 2nd is held: the fence's answer releases it first, in order
    events, fence = _until_fence(ws)
    assert [e["ordinal"] for e in events] == [1, 2] and fence == 2
    publisher = _open(server)
    _publish(publisher, 2)  # the 4th is held, and nothing follows: sent in order after HOLD_MAX_S
    started = time.monotonic()
    assert [_recv(ws)["ordinal"] for _ in range(2)] == [3, 4]
    assert time.monotonic() - started >= HOLD_MAX_S * 0.9
    assert _pubsub(server)["reordered"] == 0 and _pubsub(server)["deliveries"] == 4


def test_deliveries_are_delayed_for_every_subscriber_or_only_every_nth(pubsub: Callable[..., Any]) -> None:
    server = pubsub("--delay-deliveries", "0.4", "--slow-subscriber-every", "2")
    fast, slow = _open(server), _open(server)
    _subscribe(fast), _subscribe(slow)
    started = time.monotonic()
    _publish(_open(server), 2)
    assert [_recv(fast)["ordinal"] for _ in range(2)] == [1, 2]
    assert time.monotonic() - started < 0.3
    assert [_recv(slow)["ordinal"] for _ in range(2)] == [1, 2]
    assert time.monotonic() - started >= 0.4
    assert _pubsub(server)["delayed"] == 2


def test_events_queued_for_a_subscriber_that_left_are_counted_undelivered(pubsub: Callable[..., Any]) -> None:
    server = pubsub("--delay-deliveries", "5")
    ws = _open(server)
    _subscribe(ws)
    _publish(_open(server), 3)
    ws.close()
    deadline = time.monotonic() + 5
    while _pubsub(server)["undelivered"] != 3:
        assert time.monotonic() < deadline, _pubsub(server)
        time.sleep(0.02)
    assert _pubsub(server)["deliveries"] == 0 and _pubsub(server)["delayed"] == 3


def test_stats_reset_restarts_the_counters_and_the_every_nth_sequences(pubsub: Callable[..., Any]) -> None:
    server = pubsub("--drop-delivery-every", "2")
    ws = _open(server)
    _subscribe(ws)
    publisher = _open(server)
    _publish(publisher, 1)
    assert server.stats(reset=True)["pubsub"]["fanned_out"] == 1
    _publish(publisher, 2)  # the 1st after the reset goes, the 2nd is dropped
    assert [e["ordinal"] for e in _until_fence(ws)[0]] == [1, 2]
    assert _pubsub(server) == {**_pubsub(server), "fanned_out": 2, "dropped": 1, "published": 2}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"drop_delivery_every": 3}, "--drop-delivery-every is a fault of the pub/sub mode"),
        ({"delay_deliveries": 0.5}, "--delay-deliveries is a fault of the pub/sub mode"),
        ({"pubsub": True, "reorder_every": 0}, "--reorder-every must be an integer of at least 1"),
        ({"pubsub": True, "slow_subscriber_every": 2}, "--slow-subscriber-every needs --delay-deliveries"),
        ({"pubsub": True, "delay_deliveries": -1.0}, "--delay-deliveries must be a finite number"),
    ],
)
def test_pubsub_options_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerOptions(**kwargs)


def test_pubsub_options_round_trip() -> None:
    options = ServerOptions(
        pubsub=True, drop_delivery_every=7, delay_deliveries=0.5, reorder_every=3, slow_subscriber_every=2
    )
    assert parse_args(options.to_args()) == options


def test_without_pubsub_subscribes_are_echoed_and_stats_have_no_pubsub(serve: Callable[..., Any]) -> None:
    server = serve()
    ws = _open(server)
    _send(ws, type="subscribe", topic="t")
    assert _recv(ws) == {"type": "subscribe", "topic": "t"}
    assert "pubsub" not in server.stats()
