"""Frame encoding and message parsing (no I/O), checked against websocket-client's own codec."""

from __future__ import annotations

import pytest
from websocket._abnf import ABNF

from loadtest.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    MaskPool,
    ProtocolViolation,
    encode_frame,
    encode_message,
    parse_close,
    sent_messages,
    valid_close_code,
)


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70_001])
def test_encode_matches_websocket_client_byte_for_byte(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    key = b"\x11\x22\x33\x44"
    reference = ABNF(1, 0, 0, 0, OP_BINARY, 1, payload)
    reference.get_mask_key = lambda n: key
    assert encode_frame(OP_BINARY, payload, mask_key=key) == reference.format()


def test_encode_not_final_and_random_keys() -> None:
    frame = encode_frame(OP_TEXT, b"part", fin=False)
    assert frame[0] == OP_TEXT  # FIN bit clear
    assert frame[1] == 0x80 | 4  # masked, length 4
    assert encode_frame(OP_TEXT, b"x" * 32)[2:6] != encode_frame(OP_TEXT, b"x" * 32)[2:6]


def server_frame(first: int, payload: bytes) -> bytes:
    """Return an unmasked (server) frame with the first byte ``first`` (FIN, RSV, opcode)."""
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


FIN = 0x80


def drain(parser: FrameParser) -> list[tuple[int, bytes]]:
    out = []
    while (message := parser.next_message()) is not None:
        out.append(message)
    return out


def test_parser_waits_for_whole_frames_byte_by_byte() -> None:
    wire = server_frame(FIN | OP_TEXT, b"abc") + server_frame(FIN | OP_PING, b"p1")
    parser = FrameParser()
    messages = []
    for byte in wire:
        parser.feed(bytes([byte]))
        messages += drain(parser)
    assert messages == [(OP_TEXT, b"abc"), (OP_PING, b"p1")]
    assert parser.buffered_bytes() == 0


def test_fragments_are_joined_and_a_ping_between_them_comes_first() -> None:
    parser = FrameParser()
    parser.feed(
        server_frame(OP_TEXT, b"he")
        + server_frame(FIN | OP_PING, b"hb")
        + server_frame(OP_CONT, b"ll")
        + server_frame(FIN | OP_CONT, b"o")
        + server_frame(FIN | OP_BINARY, b"\x00")
    )
    assert drain(parser) == [(OP_PING, b"hb"), (OP_TEXT, b"hello"), (OP_BINARY, b"\x00")]


@pytest.mark.parametrize(
    ("wire", "words", "code"),
    [
        (server_frame(FIN | 0x40 | OP_TEXT, b"x"), "reserved bits", 1002),
        (server_frame(FIN | 0x20 | OP_BINARY, b"x"), "reserved bits", 1002),
        (server_frame(FIN | 0x10 | OP_PING, b""), "reserved bits", 1002),
        (bytes((FIN | OP_TEXT, 0x80 | 1)) + b"kkkkx", "masked", 1002),
        *[(server_frame(FIN | op, b""), f"unknown opcode {op}", 1002) for op in (3, 4, 5, 6, 7, 11, 12, 15)],
        (server_frame(OP_PING, b""), "fragmented control frame", 1002),
        (server_frame(OP_CLOSE, b"\x03\xe8"), "fragmented control frame", 1002),
        (server_frame(FIN | OP_PING, b"x" * 126), "control frame over 125 bytes", 1002),
        (server_frame(FIN | OP_CLOSE, b"\x03\xe8" + b"x" * 200), "control frame over 125 bytes", 1002),
        (server_frame(FIN | OP_CONT, b"x"), "continuation frame with no message", 1002),
        (server_frame(OP_TEXT, b"a") + server_frame(FIN | OP_TEXT, b"b"), "new message inside", 1002),
        (server_frame(FIN | OP_CLOSE, b"\x03"), "1-byte payload", 1002),
        (server_frame(FIN | OP_CLOSE, (999).to_bytes(2, "big")), "outside 1000-1014", 1002),
        (server_frame(FIN | OP_CLOSE, (1005).to_bytes(2, "big")), "reserved code 1005", 1002),
        (server_frame(FIN | OP_CLOSE, b"\x03\xe8\xff\xfe"), "not valid UTF-8", 1007),
    ],
)
def test_parser_rejects_protocol_violations(wire: bytes, words: str, code: int) -> None:
    parser = FrameParser()
    parser.feed(wire)
    with pytest.raises(ProtocolViolation, match=words) as info:
        drain(parser)
    assert info.value.code == code


def test_a_frame_over_the_limit_is_1009_before_its_payload_is_buffered() -> None:
    parser = FrameParser(max_size=1000)
    parser.feed(bytes((FIN | OP_BINARY, 127)) + (10**9).to_bytes(8, "big"))
    with pytest.raises(ProtocolViolation, match="over the 1000-byte limit") as info:
        parser.next_message()
    assert info.value.code == 1009


def test_a_fragmented_message_over_the_limit_is_1009_at_the_fragment_that_crosses_it() -> None:
    parser = FrameParser(max_size=1000)
    parser.feed(server_frame(OP_BINARY, b"a" * 600) + server_frame(OP_CONT, b"b" * 400))
    assert drain(parser) == []  # exactly 1000 so far: allowed
    parser.feed(bytes((FIN | OP_CONT, 1)))  # one more byte announced: over, before it arrives
    with pytest.raises(ProtocolViolation, match="over the 1000-byte limit") as info:
        parser.next_message()
    assert info.value.code == 1009
    at_limit = FrameParser(max_size=1000)
    at_limit.feed(server_frame(OP_TEXT, b"a" * 999) + server_frame(FIN | OP_CONT, b"b"))
    assert drain(at_limit) == [(OP_TEXT, b"a" * 999 + b"b")]


def test_reassembly_copies_each_byte_a_bounded_number_of_times() -> None:
    """Structural linearity: a 4 MB frame fed in 1,000 pieces is joined once, not on every piece."""
    payload = bytes(range(256)) * (4 * 4096)
    wire = server_frame(FIN | OP_BINARY, payload)
    parser = FrameParser()
    step = len(wire) // 1000 + 1
    messages = []
    for start in range(0, len(wire), step):
        parser.feed(wire[start : start + step])
        messages += drain(parser)
    assert messages == [(OP_BINARY, payload)]
    # Joining the whole buffer on every read copied ~500x the frame; its payload is now joined once
    # from the pieces (plus the few bytes of the first read, joined while the header was incomplete).
    assert len(payload) <= parser.copied_bytes <= len(payload) + step


def test_reassembly_of_fragments_copies_each_byte_once() -> None:
    parts = [bytes([i]) * 10_000 for i in range(100)]
    parser = FrameParser()
    for index, part in enumerate(parts):
        first = (OP_BINARY if index == 0 else OP_CONT) | (FIN if index == len(parts) - 1 else 0)
        parser.feed(server_frame(first, part))
        messages = drain(parser)
    assert messages == [(OP_BINARY, b"".join(parts))]
    assert parser.copied_bytes == 1_000_000


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", (1005, "")),
        (b"\x03\xe8", (1000, "")),
        (b"\x03\xf3boom", (1011, "boom")),
        ((1014).to_bytes(2, "big"), (1014, "")),
        ((3000).to_bytes(2, "big") + "é".encode(), (3000, "é")),
        ((4999).to_bytes(2, "big"), (4999, "")),
    ],
)
def test_parse_close_valid(payload: bytes, expected: tuple[int, str]) -> None:
    assert parse_close(payload) == expected


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_codes_that_may_not_be_on_the_wire(code: int) -> None:
    assert not valid_close_code(code)
    with pytest.raises(ProtocolViolation) as info:
        parse_close(code.to_bytes(2, "big"))
    assert info.value.code == 1002


def test_sent_messages_counts_only_whole_messages_of_our_frames() -> None:
    one = encode_frame(OP_TEXT, b"a" * 10)  # 16 bytes
    big = encode_frame(OP_BINARY, b"b" * 70_000)  # 64-bit length header
    ping = encode_frame(OP_PING, b"p")
    fragmented = encode_message(OP_TEXT, b"c" * 30, fragment_bytes=10)
    data = one + ping + big + fragmented
    assert sent_messages(data, 0) == (0, 0)
    assert sent_messages(data, len(one) - 1) == (0, 0)
    assert sent_messages(data, len(one)) == (1, 10)
    assert sent_messages(data, len(one) + len(ping) + len(big) - 1) == (1, 10)
    assert sent_messages(data, len(one) + len(ping) + len(big)) == (2, 70_010)
    assert sent_messages(data, len(data) - 1) == (2, 70_010)  # the last fragment is cut
    assert sent_messages(data, len(data)) == (3, 70_040)


def test_pong_and_close_round_trip_through_the_parser() -> None:
    parser = FrameParser()
    parser.feed(server_frame(FIN | OP_PONG, b"") + server_frame(FIN | OP_CLOSE, b""))
    assert drain(parser) == [(OP_PONG, b""), (OP_CLOSE, b"")]


def test_mask_keys_come_from_a_pool_each_used_once() -> None:
    pool = MaskPool(pool_bytes=64)
    keys = [pool.take() for _ in range(64)]  # four refills
    assert all(len(key) == 4 for key in keys)
    assert len(set(keys)) == len(keys)  # 4 random bytes each: a repeat among 64 is ~1e-7
    frame = encode_frame(OP_TEXT, b"hello")
    assert frame[1] == 0x80 | 5 and len(frame) == 2 + 4 + 5
