"""GraphQL over WebSocket (the ``graphql-transport-ws`` subprotocol), without I/O.

Every message is a JSON object with a ``type``: the client sends ``connection_init`` and waits
for ``connection_ack``; then ``subscribe`` (an ``id`` the client chooses and a payload with the
``query``) is answered by any number of ``next`` and one ``complete``, or by one ``error`` (a
list of GraphQL errors) that ends the operation; either side may send ``complete`` to end it
early, and ``ping``/``pong`` at any time. A protocol violation is a close with a 44xx code
(4400 bad message, 4401 subscribe before ack, 4403 refused, 4408 no init in time, 4409 a
duplicate id, 4429 a second init).

A query or a mutation over the socket is the same exchange with one ``next``.

Specification: https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SUBPROTOCOL = "graphql-transport-ws"
SERVER_TYPES = frozenset({"connection_ack", "ping", "pong", "next", "error", "complete"})
CLIENT_TYPES = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})
#: Messages that belong to an operation and must name it.
WITH_ID = frozenset({"next", "error", "complete", "subscribe"})
#: Close codes of the protocol and what they mean, for failure messages.
CLOSE_CODES = {
    4400: "bad request (a malformed message or document)",
    4401: "unauthorized (subscribe before connection_ack)",
    4403: "forbidden (the server refused connection_init)",
    4406: "subprotocol not acceptable",
    4408: "connection initialisation timeout",
    4409: "subscriber for this id already exists",
    4429: "too many initialisation requests",
    4500: "internal server error",
}


class MessageError(ValueError):
    """A message that breaks the protocol (the message says why)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message: its type, the operation id (``""`` when it has none) and its payload."""

    type: str
    id: str = ""
    payload: Any = None


def parse(obj: Any, *, from_server: bool = True) -> Message:
    """Check a decoded JSON message against the protocol and return it."""
    if not isinstance(obj, dict):
        raise MessageError(f"a message must be a JSON object, not {type(obj).__name__}")
    kind = obj.get("type")
    allowed = SERVER_TYPES if from_server else CLIENT_TYPES
    if kind not in allowed:
        raise MessageError(f"an unknown message type {kind!r}")
    op_id = obj.get("id", "")
    if kind in WITH_ID and (not isinstance(op_id, str) or not op_id):
        raise MessageError(f"a {kind} message needs a string id, not {op_id!r}")
    payload = obj.get("payload")
    if kind == "error" and (not isinstance(payload, list) or not payload):
        raise MessageError("an error message carries a non-empty list of GraphQL errors")
    if kind == "next" and not isinstance(payload, dict):
        raise MessageError("a next message carries an execution result (an object)")
    if kind == "subscribe" and (not isinstance(payload, dict) or not isinstance(payload.get("query"), str)):
        raise MessageError("a subscribe message carries a payload with a query")
    if kind in ("connection_init", "connection_ack", "ping", "pong") and not isinstance(payload, dict | None):
        raise MessageError(f"a {kind} payload must be an object")
    return Message(kind, op_id if isinstance(op_id, str) else "", payload)


def connection_init(payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a ``connection_init`` message."""
    return {"type": "connection_init", "payload": payload or {}}


def subscribe(op_id: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a ``subscribe`` message for ``query`` (a subscription, query or mutation)."""
    payload: dict[str, Any] = {"query": query}
    if variables:
        payload["variables"] = variables
    return {"id": op_id, "type": "subscribe", "payload": payload}


def complete(op_id: str) -> dict[str, Any]:
    """Return a ``complete`` message (ends an operation early)."""
    return {"id": op_id, "type": "complete"}


def error_text(payload: Any) -> str:
    """Return the messages of a list of GraphQL errors, joined (for a Locust failure)."""
    if not isinstance(payload, list):
        return str(payload)
    texts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in payload]
    return "; ".join(texts)


_IGNORED = re.compile(r'#[^\n]*|"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"')


def operation_type(document: str) -> str:
    """Return ``subscription``, ``query`` or ``mutation``: the type of the first operation.

    A document may start with fragment definitions; strings and comments are skipped, and an
    anonymous ``{ ... }`` is a query. Raises ``MessageError`` when there is no operation.
    """
    tokens = re.findall(r"[{}]|[_A-Za-z][_0-9A-Za-z]*", _IGNORED.sub(" ", document))
    depth, in_fragment = 0, False
    for token in tokens:
        if token == "{":
            if depth == 0 and not in_fragment:
                return "query"
            depth += 1
        elif token == "}":
            depth -= 1
            in_fragment = in_fragment and depth > 0
        elif depth == 0 and not in_fragment and token in ("query", "mutation", "subscription"):
            return str(token)
        elif depth == 0 and token == "fragment":
            in_fragment = True  # skip it, selection set included
    raise MessageError("the document has no operation (query, mutation or subscription)")
