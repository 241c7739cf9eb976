"""The floor client's frame parser and encoder (bench/peers/clients/floor.py), fed by hand."""

from __future__ import annotations

import struct

import pytest

from bench.peers.clients import floor


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes([first, n]) + payload
    if n < 65536:
        return bytes([first, 126]) + struct.pack("!H", n) + payload
    return bytes([first, 127]) + struct.pack("!Q", n) + payload


def unmask(data: bytes) -> tuple[int, bytes]:
    """Decode one masked client frame: return ``(opcode, payload)``."""
    assert data[0] & 0x80 and data[1] & 0x80
    n, head = data[1] & 0x7F, 2
    if n == 126:
        n, head = struct.unpack_from("!H", data, 2)[0], 4
    elif n == 127:
        n, head = struct.unpack_from("!Q", data, 2)[0], 10
    mask = data[head : head + 4]
    body = data[head + 4 :]
    assert len(body) == n
    return data[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(body))


def test_frames_split_at_every_byte_come_out_whole() -> None:
    stream = frame(1, b"hello") + frame(2, b"x" * 300) + frame(9, b"hb") + frame(1, b"y" * 70000)
    parser, out = floor.Parser(), []
    for i in range(len(stream)):
        out += parser.feed(stream[i : i + 1])
    assert out == [(1, b"hello"), (2, b"x" * 300), (9, b"hb"), (1, b"y" * 70000)]
    assert not parser.buf


def test_fragments_are_joined_and_control_frames_pass_between_them() -> None:
    stream = frame(1, b"ab", fin=False) + frame(9, b"p") + frame(0, b"cd", fin=False) + frame(0, b"e")
    assert floor.Parser().feed(stream) == [(9, b"p"), (1, b"abcde")]


@pytest.mark.parametrize(
    "bad",
    [
        frame(0, b"orphan"),  # a continuation with nothing to continue
        frame(1, b"a", fin=False) + frame(1, b"b"),  # a new message inside a fragmented one
        frame(9, b"p", fin=False),  # a fragmented control frame
        frame(9, b"p" * 126),  # a control frame over 125 bytes
        bytes([0x81 | 0x40, 1]) + b"a",  # RSV1 without an extension
        bytes([0x81, 0x81]) + b"mask" + b"a",  # a masked server frame
        frame(3, b"?"),  # a reserved opcode
    ],
)
def test_protocol_errors_are_refused(bad: bytes) -> None:
    with pytest.raises(floor.ProtocolError):
        floor.Parser().feed(bad)


@pytest.mark.parametrize("size", [0, 1, 5, 125, 126, 65535, 65536])
def test_encoded_frames_are_masked_with_a_fresh_mask_each(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    first, second = floor.encode(1, payload), floor.encode(1, payload)
    assert unmask(first) == (1, payload) and unmask(second) == (1, payload)
    if size:
        assert first != second  # a different mask per frame
