"""graphql-transport-ws messages and the operation type of a document."""

from __future__ import annotations

import pytest

from loadtest.protocols import graphql_messages as gql


def test_server_messages_are_checked_and_typed() -> None:
    assert gql.parse({"type": "connection_ack"}) == gql.Message("connection_ack")
    assert gql.parse({"id": "1", "type": "next", "payload": {"data": {"a": 1}}}) == gql.Message(
        "next", "1", {"data": {"a": 1}}
    )
    assert gql.parse({"id": "1", "type": "complete"}) == gql.Message("complete", "1")
    errors = [{"message": "boom"}]
    assert gql.parse({"id": "7", "type": "error", "payload": errors}).payload == errors


@pytest.mark.parametrize(
    ("obj", "why"),
    [
        ([1], "JSON object"),
        ({"type": "subscribe", "id": "1", "payload": {"query": "{a}"}}, "unknown message type"),
        ({"type": "hello"}, "unknown message type"),
        ({"type": "next", "payload": {}}, "string id"),
        ({"type": "next", "id": 1, "payload": {}}, "string id"),
        ({"type": "next", "id": "1", "payload": []}, "execution result"),
        ({"type": "error", "id": "1", "payload": []}, "non-empty list"),
        ({"type": "ping", "payload": "x"}, "payload must be an object"),
    ],
)
def test_server_messages_that_break_the_protocol(obj: object, why: str) -> None:
    with pytest.raises(gql.MessageError, match=why):
        gql.parse(obj)


def test_client_messages_as_a_server_checks_them() -> None:
    assert gql.parse(gql.connection_init(), from_server=False) == gql.Message("connection_init", "", {})
    sub = gql.subscribe("3", "subscription { ticks }", {"n": 1})
    assert sub == {
        "id": "3",
        "type": "subscribe",
        "payload": {"query": "subscription { ticks }", "variables": {"n": 1}},
    }
    assert gql.parse(sub, from_server=False).id == "3"
    assert gql.parse(gql.complete("3"), from_server=False) == gql.Message("complete", "3")
    with pytest.raises(gql.MessageError, match="payload with a query"):
        gql.parse({"type": "subscribe", "id": "1", "payload": {}}, from_server=False)
    with pytest.raises(gql.MessageError, match="unknown message type"):
        gql.parse({"type": "next", "id": "1", "payload": {}}, from_server=False)


def test_error_text_joins_the_messages() -> None:
    assert gql.error_text([{"message": "a"}, {"message": "b", "path": ["x"]}]) == "a; b"
    assert gql.error_text("odd") == "odd"


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        ("subscription { ticks(count: 10, intervalMs: 100) }", "subscription"),
        ("{ hello }", "query"),
        ("query Q($n: Int) { a(n: $n) }", "query"),
        ("mutation { add(x: 1) { id } }", "mutation"),
        ("# subscription\n{ hello }", "query"),
        ('{ echo(text: "subscription {") }', "query"),
        ("fragment F on Query { hello } subscription S { ticks }", "subscription"),
        ('fragment F on Sub { x(s: "}") } mutation { m }', "mutation"),
    ],
)
def test_operation_type(document: str, kind: str) -> None:
    assert gql.operation_type(document) == kind


def test_a_document_without_an_operation() -> None:
    with pytest.raises(gql.MessageError, match="no operation"):
        gql.operation_type("fragment F on Query { hello }")
