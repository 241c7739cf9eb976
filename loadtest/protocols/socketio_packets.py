"""Engine.IO 4 and Socket.IO 5 packets over WebSocket, without I/O.

Over a WebSocket, one text message is one Engine.IO packet: a digit for its type, then its
payload (``0{"sid":..}`` open, ``2`` ping, ``3`` pong, ``4...`` message). A message carries one
Socket.IO packet: ``<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]``, e.g.
``42["echo",{"a":1}]`` (an event), ``42/chat,7["echo"]`` (an event on ``/chat`` wanting ack 7),
``437[{"a":1}]`` (the ack of 7), ``40{"sid":"x"}`` (namespace connected), ``44{"message":"no"}``
(connect refused). Binary events announce their attachments, which follow as binary messages.

Protocol references: https://socket.io/docs/v4/engine-io-protocol/ and
https://socket.io/docs/v4/socket-io-protocol/ (both at version 4 / 5, the current ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

# Engine.IO packet types (the first character of a text message).
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP = "0123456"

# Socket.IO packet types (the character after the Engine.IO ``4``).
CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)
PACKET_NAMES = ("CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK")

#: The largest ack id we accept (socket.io-parser's ids are JavaScript numbers; ours never get near).
MAX_ACK_ID = 2**53


class PacketError(ValueError):
    """A message that is not a valid Engine.IO / Socket.IO packet (the message says why)."""


@dataclass(frozen=True, slots=True)
class Packet:
    """One Socket.IO packet.

    Attributes:
        type: ``CONNECT`` ... ``BINARY_ACK``.
        namespace: ``/`` unless given.
        data: the decoded JSON (a list for events and acks, a dict for connect and its error).
        id: the ack id, if the sender wants an ack (events) or answers one (acks).
        attachments: binary attachments that follow (binary packets only).
    """

    type: int
    namespace: str = "/"
    data: Any = None
    id: int | None = None
    attachments: int = 0

    @property
    def event(self) -> str | None:
        """Return the event name of an event packet."""
        if self.type in (EVENT, BINARY_EVENT) and self.data:
            name = self.data[0]
            return name if isinstance(name, str) else None
        return None


def engine_packet(text: str) -> tuple[str, str]:
    """Split an Engine.IO text packet into its type and payload."""
    if not text or text[0] not in "0123456":
        raise PacketError(f"not an Engine.IO packet: {text[:40]!r}")
    return text[0], text[1:]


def open_payload(payload: str) -> dict[str, Any]:
    """Decode the handshake of an Engine.IO open packet (sid, pingInterval, pingTimeout...)."""
    try:
        handshake = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PacketError(f"the open packet is not JSON: {exc}") from exc
    if not isinstance(handshake, dict) or not isinstance(handshake.get("sid"), str):
        raise PacketError("the open packet has no sid")
    for key in ("pingInterval", "pingTimeout"):
        value = handshake.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PacketError(f"the open packet's {key} is not a number of milliseconds: {value!r}")
    return handshake


def encode(packet: Packet) -> str:
    """Return the Engine.IO message (``4`` + Socket.IO packet) for ``packet``."""
    parts = ["4", str(packet.type)]
    if packet.type in (BINARY_EVENT, BINARY_ACK):
        parts.append(f"{packet.attachments}-")
    if packet.namespace != "/":
        parts.append(packet.namespace + ",")
    if packet.id is not None:
        parts.append(str(packet.id))
    if packet.data is not None:
        parts.append(orjson.dumps(packet.data).decode())
    return "".join(parts)


def decode(payload: str) -> Packet:
    """Decode a Socket.IO packet (the payload of an Engine.IO message packet, after its ``4``)."""
    if not payload or payload[0] not in "0123456":
        raise PacketError(f"not a Socket.IO packet: {payload[:40]!r}")
    kind, at = int(payload[0]), 1
    attachments = 0
    if kind in (BINARY_EVENT, BINARY_ACK):
        dash = payload.find("-", at)
        if dash < 0 or not payload[at:dash].isdigit():
            raise PacketError(f"a binary packet without its attachment count: {payload[:40]!r}")
        attachments, at = int(payload[at:dash]), dash + 1
    namespace = "/"
    if payload.startswith("/", at):
        comma = payload.find(",", at)
        end = len(payload) if comma < 0 else comma
        namespace, at = payload[at:end], (end if comma < 0 else comma + 1)
    start = at
    while at < len(payload) and payload[at].isdigit():
        at += 1
    ack_id = int(payload[start:at]) if at > start else None
    if ack_id is not None and ack_id > MAX_ACK_ID:
        raise PacketError(f"an ack id out of range: {ack_id}")
    data: Any = None
    if at < len(payload):
        try:
            data = orjson.loads(payload[at:])
        except orjson.JSONDecodeError as exc:
            raise PacketError(f"the {PACKET_NAMES[kind]} data is not JSON: {exc}") from exc
    _check(kind, data, ack_id)
    return Packet(kind, namespace, data, ack_id, attachments)


def _check(kind: int, data: Any, ack_id: int | None) -> None:
    """Reject packets whose data has the wrong shape for their type (the spec's rules)."""
    name = PACKET_NAMES[kind]
    if kind in (EVENT, BINARY_EVENT):
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise PacketError(f"an {name} needs a list starting with the event name, not {data!r:.60}")
    elif kind in (ACK, BINARY_ACK):
        if not isinstance(data, list) or ack_id is None:
            raise PacketError(f"an {name} needs an id and a list of arguments")
    elif kind == CONNECT:
        if data is not None and not isinstance(data, dict):
            raise PacketError(f"a CONNECT carries an object, not {data!r:.60}")
    elif kind == CONNECT_ERROR:
        if not isinstance(data, dict | str):
            raise PacketError(f"a CONNECT_ERROR carries an object or a string, not {data!r:.60}")
    elif kind == DISCONNECT and data is not None:
        raise PacketError("a DISCONNECT carries no data")


def error_message(packet: Packet) -> str:
    """Return what a CONNECT_ERROR says (``{"message": ...}`` in v5, a plain string before)."""
    data = packet.data
    if isinstance(data, dict):
        message = data.get("message")
        return str(message) if message is not None else orjson.dumps(data).decode()
    return str(data)
