"""Frame encoding and parsing (no I/O), checked against websocket-client's own codec."""

from __future__ import annotations

import pytest
from websocket._abnf import ABNF

from loadtest.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    FrameParser,
    ProtocolViolation,
    encode_frame,
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


def _unmasked(first: int, payload: bytes) -> bytes:
    size = len(payload)
    assert size < 126
    return bytes((first, size)) + payload


def test_parser_waits_for_whole_frames_byte_by_byte() -> None:
    wire = _unmasked(0x80 | OP_TEXT, b"abc") + _unmasked(0x80 | OP_PING, b"p1")
    parser = FrameParser()
    frames = []
    for byte in wire:
        parser.feed(bytes([byte]))
        frame = parser.next_frame()
        if frame is not None:
            frames.append(frame)
    assert frames == [(1, OP_TEXT, b"abc"), (1, OP_PING, b"p1")]
    assert parser.next_frame() is None


def test_parser_keeps_fragments_as_frames() -> None:
    parser = FrameParser()
    parser.feed(_unmasked(OP_TEXT, b"he") + _unmasked(0x80 | OP_CONT, b"llo"))
    assert parser.next_frame() == (0, OP_TEXT, b"he")
    assert parser.next_frame() == (1, OP_CONT, b"llo")


@pytest.mark.parametrize(
    ("wire", "words"),
    [
        (bytes((0x80 | 0x40 | OP_TEXT, 1)) + b"x", "reserved bits"),
        (bytes((0x80 | OP_TEXT, 0x80 | 1)) + b"kkkkx", "masked"),
        (bytes((0x80 | 0x3, 0)), "unknown opcode"),
        (bytes((OP_PING, 0)), "control frame"),
        (bytes((0x80 | OP_CLOSE, 126)) + (200).to_bytes(2, "big") + b"x" * 200, "control frame"),
    ],
)
def test_parser_rejects_protocol_violations(wire: bytes, words: str) -> None:
    parser = FrameParser()
    parser.feed(wire)
    with pytest.raises(ProtocolViolation, match=words):
        parser.next_frame()


def test_parser_refuses_frames_over_the_limit_before_buffering_them() -> None:
    parser = FrameParser(max_size=1000)
    parser.feed(bytes((0x80 | OP_BINARY, 127)) + (10**9).to_bytes(8, "big"))
    with pytest.raises(ProtocolViolation, match="over the 1000-byte limit"):
        parser.next_frame()
