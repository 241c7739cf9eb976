"""Engine.IO 4 / Socket.IO 5 packets: the examples of the protocol documents, both ways."""

from __future__ import annotations

import pytest

from loadtest.protocols import socketio_packets as sio
from loadtest.protocols.socketio_packets import Packet


@pytest.mark.parametrize(
    ("packet", "text"),
    [
        (Packet(sio.CONNECT), "40"),
        (Packet(sio.CONNECT, "/admin", {"token": "123"}), '40/admin,{"token":"123"}'),
        (Packet(sio.DISCONNECT, "/admin"), "41/admin,"),
        (Packet(sio.EVENT, "/", ["foo"]), '42["foo"]'),
        (Packet(sio.EVENT, "/admin", ["bar"]), '42/admin,["bar"]'),
        (Packet(sio.EVENT, "/", ["foo"], 12), '4212["foo"]'),
        (Packet(sio.ACK, "/admin", ["bar"], 13), '43/admin,13["bar"]'),
        (Packet(sio.CONNECT_ERROR, "/", {"message": "Not authorized"}), '44{"message":"Not authorized"}'),
        (
            Packet(sio.BINARY_EVENT, "/", ["baz", {"_placeholder": True, "num": 0}], attachments=1),
            '451-["baz",{"_placeholder":true,"num":0}]',
        ),
        (
            Packet(sio.BINARY_ACK, "/admin", [{"_placeholder": True, "num": 0}], 15, 1),
            '461-/admin,15[{"_placeholder":true,"num":0}]',
        ),
    ],
)
def test_encode_and_decode_the_specification_examples(packet: Packet, text: str) -> None:
    assert sio.encode(packet) == text
    assert sio.decode(text[1:]) == packet


def test_an_event_knows_its_name_and_an_ack_has_none() -> None:
    assert sio.decode('2["chat",1]').event == "chat"
    assert sio.decode("37[1]").event is None


def test_engine_packets_split_into_type_and_payload() -> None:
    assert sio.engine_packet("2") == (sio.EIO_PING, "")
    assert sio.engine_packet("3probe") == (sio.EIO_PONG, "probe")
    assert sio.engine_packet('42["a"]') == (sio.EIO_MESSAGE, '2["a"]')
    with pytest.raises(sio.PacketError, match="not an Engine.IO packet"):
        sio.engine_packet("hello")
    with pytest.raises(sio.PacketError):
        sio.engine_packet("")


def test_the_open_packet_gives_the_heartbeat_timing() -> None:
    handshake = sio.open_payload(
        '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'
    )
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (25000, 20000)
    with pytest.raises(sio.PacketError, match="no sid"):
        sio.open_payload('{"pingInterval":1,"pingTimeout":1}')
    with pytest.raises(sio.PacketError, match="pingTimeout"):
        sio.open_payload('{"sid":"x","pingInterval":1,"pingTimeout":"soon"}')
    with pytest.raises(sio.PacketError, match="not JSON"):
        sio.open_payload("{")


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ("7", "not a Socket.IO packet"),
        ("", "not a Socket.IO packet"),
        ('2{"a":1}', "list starting with the event name"),
        ("2[1]", "list starting with the event name"),
        ("2[]", "list starting with the event name"),
        ('3["no id"]', "needs an id"),
        ("0[1]", "carries an object"),
        ("4[1]", "an object or a string"),
        ('1"x"', "carries no data"),
        ('5["x"]', "attachment count"),
        ("2[", "not JSON"),
        ('29007199254740993["x"]', "out of range"),
    ],
)
def test_malformed_packets_are_refused_with_the_reason(payload: str, why: str) -> None:
    with pytest.raises(sio.PacketError, match=why):
        sio.decode(payload)


def test_a_namespace_without_a_comma_ends_the_packet() -> None:
    assert sio.decode("0/admin") == Packet(sio.CONNECT, "/admin")


def test_connect_error_messages_of_v5_and_before() -> None:
    assert sio.error_message(sio.decode('4{"message":"Invalid namespace"}')) == "Invalid namespace"
    assert sio.error_message(sio.decode('4"Not authorized"')) == "Not authorized"
    assert sio.error_message(sio.decode('4{"code":3}')) == '{"code":3}'
