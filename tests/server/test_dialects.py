"""The embedded target's dialects over real sockets: each answer and each counter in /stats."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websocket

from loadtest.protocols import stomp_frames as stomp
from loadtest.server import EmbeddedServer, ServerOptions
from tests.server.test_server import connect, recv_close, settled


def _gql(ws: websocket.WebSocket, message: dict[str, Any]) -> None:
    ws.send(json.dumps(message))


def _next(ws: websocket.WebSocket) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(ws.recv())
    return reply


def test_socketio_open_connect_ack_push_ping_and_refused_namespace() -> None:
    with EmbeddedServer(["--dialect", "socketio", "--heartbeat", "0.3", "--namespace", "/chat"]) as server:
        ws = connect(server, "/socket.io/?EIO=4&transport=websocket")
        opening = ws.recv()
        assert opening[0] == "0"
        handshake = json.loads(opening[1:])
        assert (handshake["pingInterval"], handshake["pingTimeout"], handshake["upgrades"]) == (
            300,
            20000,
            [],
        )
        ws.send("40/chat,")
        assert json.loads(ws.recv().removeprefix("40/chat,"))["sid"]
        assert json.loads(ws.recv().removeprefix("42/chat,")) == ["welcome", {"sid": handshake["sid"]}]
        ws.send('42/chat,7["echo",{"a":1},2]')
        assert ws.recv() == '43/chat,7[{"a":1},2]'
        ws.send('42/chat,["shout","hi"]')
        assert ws.recv() == '42/chat,["shout","hi"]'
        ws.send('42["ignored"]')  # "/" is not connected: ignored, as python-socketio does
        ws.send("40")
        assert ws.recv() == '44{"message":"Invalid namespace"}'
        assert ws.recv() == "2"  # the ping after 0.3 s
        ws.send("3")
        ws.send("43/chat,1[]")
        ws.send("41/chat,")
        ws.send("not a packet")
        ws.close()
        stats = settled(server, 1)
    assert stats["socketio"] == {
        "connects": {"/chat": 1},
        "connect_errors": 1,
        "events_received": {"echo": 1, "shout": 1},
        "acks_sent": 1,
        "events_pushed": 2,
        "acks_received": 1,
        "disconnects": 1,
        "pings_sent": stats["socketio"]["pings_sent"],
        "pongs_received": 1,
        "invalid": 1,
    }
    assert stats["socketio"]["pings_sent"] >= 1
    assert (
        stats["messages"]["sent"] == 6 + stats["socketio"]["pings_sent"]
    )  # open, 40, welcome, ack, push, 44


def test_graphql_ws_subscription_query_errors_and_close_codes() -> None:
    with EmbeddedServer(["--dialect", "graphql-ws"]) as server:
        ws = connect(server, "/graphql", subprotocols=["graphql-transport-ws"])
        assert ws.getsubprotocol() == "graphql-transport-ws"
        _gql(ws, {"type": "connection_init", "payload": {}})
        assert _next(ws) == {"type": "connection_ack"}
        _gql(
            ws,
            {
                "id": "a",
                "type": "subscribe",
                "payload": {"query": "subscription S { t: ticks(count: 3, intervalMs: 5) }"},
            },
        )
        assert [_next(ws) for _ in range(4)] == [
            {"id": "a", "type": "next", "payload": {"data": {"t": 0}}},
            {"id": "a", "type": "next", "payload": {"data": {"t": 1}}},
            {"id": "a", "type": "next", "payload": {"data": {"t": 2}}},
            {"id": "a", "type": "complete"},
        ]
        query = 'query Q($t: String = "dflt") { hello echo(text: $t) }'
        _gql(ws, {"id": "b", "type": "subscribe", "payload": {"query": query}})
        assert _next(ws) == {
            "id": "b",
            "type": "next",
            "payload": {"data": {"hello": "world", "echo": "dflt"}},
        }
        assert _next(ws) == {"id": "b", "type": "complete"}
        _gql(ws, {"id": "c", "type": "subscribe", "payload": {"query": "subscription { nope }"}})
        assert _next(ws) == {
            "id": "c",
            "type": "error",
            "payload": [{"message": "Cannot query field 'nope' on type 'Subscription'."}],
        }
        _gql(
            ws,
            {
                "id": "d",
                "type": "subscribe",
                "payload": {"query": "subscription { ticks(count: 1000, intervalMs: 1000) }"},
            },
        )
        assert _next(ws)["payload"] == {"data": {"ticks": 0}}
        _gql(ws, {"id": "d", "type": "complete"})  # ends it: no complete comes back for it
        _gql(ws, {"type": "ping"})
        assert _next(ws) == {"type": "pong"}
        _gql(ws, {"id": "e", "type": "subscribe", "payload": {"query": "{ hello"}})
        assert recv_close(ws) == (4400, "Syntax Error: Unexpected <EOF>.")
        stats = settled(server, 1)
    assert stats["graphql"] == {
        "received": {"connection_init": 1, "subscribe": 5, "complete": 1, "ping": 1},
        "sent": {"connection_ack": 1, "next": 5, "complete": 2, "error": 1, "pong": 1},
        "operations": {"subscription": 2, "query": 1},
        "closes": {"4400": 1},
    }


@pytest.mark.parametrize(
    ("first", "close"),
    [
        ({"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}}, (4401, "Unauthorized")),
        ({"type": "connection_init", "payload": "x"}, (4400, "a connection_init payload must be an object")),
        ({"type": "next", "id": "1", "payload": {}}, (4400, "an unknown message type 'next'")),
    ],
)
def test_graphql_ws_protocol_violations_close_with_their_code(
    first: dict[str, Any], close: tuple[int, str]
) -> None:
    with EmbeddedServer(["--dialect", "graphql-ws"]) as server:
        ws = connect(server, "/graphql", subprotocols=["graphql-transport-ws"])
        _gql(ws, first)
        assert recv_close(ws) == close


def test_graphql_ws_a_second_init_and_a_duplicate_id() -> None:
    with EmbeddedServer(["--dialect", "graphql-ws"]) as server:
        ws = connect(server, "/graphql", subprotocols=["graphql-transport-ws"])
        _gql(ws, {"type": "connection_init"})
        _next(ws)
        _gql(ws, {"type": "connection_init"})
        assert recv_close(ws) == (4429, "Too many initialisation requests")
        ws = connect(server, "/graphql", subprotocols=["graphql-transport-ws"])
        _gql(ws, {"type": "connection_init"})
        _next(ws)
        slow = {"query": "subscription { ticks(count: 5, intervalMs: 1000) }"}
        _gql(ws, {"id": "x", "type": "subscribe", "payload": slow})
        assert _next(ws)["type"] == "next"  # x runs (its next one comes in a second)
        _gql(ws, {"id": "x", "type": "subscribe", "payload": slow})
        assert recv_close(ws) == (4409, "Subscriber for x already exists")


def _stomp(ws: websocket.WebSocket, command: str, headers: dict[str, str], body: bytes = b"") -> None:
    ws.send(stomp.encode(command, headers, body).decode())


def _frame(ws: websocket.WebSocket) -> stomp.Frame | None:
    (frame,) = stomp.Parser().feed(ws.recv().encode())
    return frame


def test_stomp_connect_subscribe_send_deliver_receipts_heartbeats_disconnect() -> None:
    with EmbeddedServer(
        ["--dialect", "stomp", "--heartbeat", "0.2", "--stomp-login", "u", "--stomp-passcode", "p"]
    ) as server:
        subscriber = connect(server, "/ws", subprotocols=["v12.stomp"])
        assert subscriber.getsubprotocol() == "v12.stomp"
        _stomp(
            subscriber,
            "CONNECT",
            {"accept-version": "1.2", "host": "/", "login": "u", "passcode": "p", "heart-beat": "0,0"},
        )
        connected = _frame(subscriber)
        assert connected is not None and connected.command == "CONNECTED"
        assert connected.headers["version"] == "1.2" and connected.headers["heart-beat"] == "200,200"
        _stomp(
            subscriber,
            "SUBSCRIBE",
            {"id": "s1", "destination": "/topic/t", "ack": "client-individual", "receipt": "r0"},
        )
        assert _frame(subscriber) == stomp.Frame("RECEIPT", {"receipt-id": "r0"})
        sender = connect(server, "/ws", subprotocols=["v12.stomp"])
        _stomp(
            sender,
            "CONNECT",
            {
                "accept-version": "1.1,1.2",
                "host": "/",
                "login": "u",
                "passcode": "p",
                "heart-beat": "100,100",
            },
        )
        assert _frame(sender) is not None
        _stomp(
            sender, "SEND", {"destination": "/topic/t", "content-type": "text/plain", "receipt": "r1"}, b"hi"
        )
        assert _frame(sender) == stomp.Frame("RECEIPT", {"receipt-id": "r1"})
        message = _frame(subscriber)
        assert message is not None and message.command == "MESSAGE" and message.body == b"hi"
        assert message.header("subscription") == "s1" and message.header("ack") == message.header(
            "message-id"
        )
        assert message.header("content-type") == "text/plain"
        _stomp(subscriber, "ACK", {"id": message.header("ack")})
        assert sender.recv() == "\n"  # its heart-beat, every max(200, 100) ms
        sender.send("\n")
        _stomp(sender, "DISCONNECT", {"receipt": "bye"})
        assert _frame(sender) == stomp.Frame("RECEIPT", {"receipt-id": "bye"})
        sender.close()
        subscriber.close()
        stats = settled(server, 2)
    counts = stats["stomp"]
    assert counts["frames_received"] == {"CONNECT": 2, "SUBSCRIBE": 1, "SEND": 1, "ACK": 1, "DISCONNECT": 1}
    assert counts["frames_sent"] == {"CONNECTED": 2, "RECEIPT": 3, "MESSAGE": 1}
    assert counts["sends"] == {"/topic/t": 1}
    assert counts["heartbeats_received"] == 1 and counts["heartbeats_sent"] >= 1 and counts["invalid"] == 0


@pytest.mark.parametrize(
    ("connect_headers", "message", "body"),
    [
        ({"accept-version": "1.2", "host": "/", "login": "u"}, "Bad CONNECT", "Access refused for user 'u'"),
        (
            {"accept-version": "1.2", "host": "vh", "login": "u", "passcode": "p"},
            "Bad CONNECT",
            "Virtual host 'vh' access denied",
        ),
        ({"accept-version": "1.0,1.1", "host": "/"}, "Version mismatch", "Supported versions are 1.2"),
    ],
)
def test_stomp_refused_connects_are_errors_and_close(
    connect_headers: dict[str, str], message: str, body: str
) -> None:
    with EmbeddedServer(["--dialect", "stomp", "--stomp-login", "u", "--stomp-passcode", "p"]) as server:
        ws = connect(server, "/ws", subprotocols=["v12.stomp"])
        _stomp(ws, "CONNECT", connect_headers)
        error = _frame(ws)
        assert error is not None and (error.command, error.header("message"), error.body.decode()) == (
            "ERROR",
            message,
            body,
        )
        assert recv_close(ws) == (1000, "STOMP error")


def test_a_dialect_is_served_at_its_path_only() -> None:
    with EmbeddedServer(["--dialect", "stomp", "--path", "/stomp"]) as server:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            connect(server, "/ws", subprotocols=["v12.stomp"])
        assert refused.value.status_code == 404
        connect(server, "/stomp/", subprotocols=["v12.stomp"]).close()
        stats = settled(server, 1)
    assert stats["handshakes"]["rejected"] == {"404": 1}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"dialect": "mqtt"}, "--dialect must be one of"),
        ({"path": "ws"}, "--path must start with '/'"),
        ({"heartbeat": 1.0}, "--heartbeat needs a --dialect"),
        ({"dialect": "stomp", "namespaces": ("/a",)}, "--namespace needs --dialect socketio"),
        ({"dialect": "socketio", "namespaces": ("a",)}, "--namespace must start with '/'"),
        ({"stomp_login": "u"}, "need --dialect stomp"),
        ({"dialect": "stomp", "stop_reading": True}, "belong to the echo"),
    ],
)
def test_dialect_options_are_checked(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        ServerOptions(**changes)
