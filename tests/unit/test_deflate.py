"""permessage-deflate without I/O: the answer's checks, and our codec against the websockets library's.

The peer here is the ``websockets`` library's own RFC 7692 codec (its sans-I/O ``Frame`` and
``PerMessageDeflate``): what it compresses we must inflate, what we compress it must inflate.
"""

from __future__ import annotations

import random
import tracemalloc
import zlib

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from loadtest.deflate import OFFER, Deflate, Params, parse_answer
from loadtest.errors import HandshakeFailure
from loadtest.frames import OP_BINARY, OP_PING, OP_TEXT, FrameParser, ProtocolViolation, encode_message
from loadtest.upgrade import build_request, check_upgrade
from tests.hostile.server import frame

MESSAGE = b'{"type":"quote","symbol":"ACME","bid":101.25,"ask":101.5,"venue":"XNAS"}' * 20


def _server(params: Params) -> PerMessageDeflate:
    """The websockets library's server side of ``params`` (remote: us, the client)."""
    return PerMessageDeflate(
        params.client_no_context_takeover,
        params.server_no_context_takeover,
        params.client_max_window_bits,
        params.server_max_window_bits,
    )


def _server_frames(
    ext: PerMessageDeflate, payload: bytes, *, opcode: Opcode = Opcode.TEXT, parts: int = 1
) -> bytes:
    """Return what a websockets server writes for one message (in ``parts`` frames)."""
    if parts == 1:
        return Frame(opcode, payload).serialize(mask=False, extensions=[ext])
    step = -(-len(payload) // parts)
    chunks = [payload[i : i + step] for i in range(0, len(payload), step)]
    out = b""
    for index, chunk in enumerate(chunks):
        frame = Frame(opcode if index == 0 else Opcode.CONT, chunk, fin=index == len(chunks) - 1)
        out += frame.serialize(mask=False, extensions=[ext])
    return out


def _server_reads(ext: PerMessageDeflate, data: bytes) -> list[Frame]:
    """Return the frames a websockets server parses (and inflates) from our bytes."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while reader.buffer:  # (at_eof() is a generator-based coroutine of the library's)
        parser = Frame.parse(reader.read_exact, mask=True, extensions=[ext])
        try:
            while True:
                next(parser)
        except StopIteration as done:
            frames.append(done.value)
    return frames


def _parser(params: Params, max_size: int = 1 << 20) -> FrameParser:
    parser = FrameParser(max_size)
    parser.inflater = Deflate(params, max_size)
    return parser


# -- the answer ------------------------------------------------------------------------------------
def test_offer_is_in_the_request_only_when_asked() -> None:
    args = {"headers": {}, "origin": None, "subprotocols": (), "cookie": ""}
    assert (
        f"Sec-WebSocket-Extensions: {OFFER}"
        in build_request("h", 80, "/", False, **args, compression=True)[0].decode()
    )
    assert b"Extensions" not in build_request("h", 80, "/", False, **args)[0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("permessage-deflate", Params()),
        ("permessage-deflate; server_no_context_takeover", Params(server_no_context_takeover=True)),
        ("Permessage-Deflate; client_no_context_takeover", Params(client_no_context_takeover=True)),
        ("permessage-deflate; server_max_window_bits=10", Params(server_max_window_bits=10)),
        ('permessage-deflate; client_max_window_bits="9"', Params(client_max_window_bits=9)),
        (
            "permessage-deflate;server_no_context_takeover;client_no_context_takeover;"
            "server_max_window_bits=8;client_max_window_bits=15",
            Params(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=8,
                client_max_window_bits=15,
            ),
        ),
    ],
)
def test_valid_answers_give_their_parameters(header: str, expected: Params) -> None:
    assert parse_answer(header, offered=True) == expected
    assert parse_answer(expected.header(), offered=True) == expected


def test_no_answer_means_no_compression() -> None:
    assert parse_answer("", offered=True) is None
    assert parse_answer("  ", offered=False) is None


@pytest.mark.parametrize(
    ("header", "sentence"),
    [
        ("x-webkit-deflate-frame", "accepted an extension we did not offer"),
        ("permessage-deflate, x-other", "accepted an extension we did not offer"),
        ("permessage-deflate, permessage-deflate", "accepted permessage-deflate twice"),
        ("permessage-deflate; server_no_context_takeover=1", "server_no_context_takeover takes no value"),
        ("permessage-deflate; server_max_window_bits", "server_max_window_bits must be a number of bits"),
        ("permessage-deflate; server_max_window_bits=16", "must be a number of bits from 8 to 15"),
        ("permessage-deflate; client_max_window_bits=7", "must be a number of bits from 8 to 15"),
        ("permessage-deflate; client_max_window_bits=010", "must be a number of bits from 8 to 15"),
        ("permessage-deflate; client_max_window_bits=8", "client_max_window_bits=8 cannot be honoured"),
        ("permessage-deflate; mystery=1", "unknown parameter 'mystery'"),
        ("permessage-deflate; client_no_context_takeover; client_no_context_takeover", "given twice"),
    ],
)
def test_answers_against_rfc_7692_fail_the_handshake_with_one_sentence(header: str, sentence: str) -> None:
    with pytest.raises(HandshakeFailure) as failure:
        parse_answer(header, offered=True)
    assert failure.value.failure_class == "protocol"
    assert sentence in failure.value.detail


def test_an_extension_we_did_not_offer_fails_the_handshake() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    headers = {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",  # RFC 6455 §1.3's example
        "sec-websocket-extensions": "permessage-deflate",
    }
    assert check_upgrade(headers, key, (), compression=True) is None  # left to negotiated()
    with pytest.raises(HandshakeFailure, match="accepted an extension we did not offer"):
        check_upgrade(headers, key, (), compression=False)


# -- the codec against websockets' ---------------------------------------------------------------
PARAMS = [
    Params(),
    Params(server_no_context_takeover=True, client_no_context_takeover=True),
    Params(server_max_window_bits=9, client_max_window_bits=10),
    Params(server_no_context_takeover=True, server_max_window_bits=12),
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: p.header())
def test_we_inflate_what_websockets_compresses_message_after_message(params: Params) -> None:
    server, parser = _server(params), _parser(params)
    for n in range(5):  # with context takeover later messages refer to earlier ones
        payload = MESSAGE + str(n).encode()
        wire = _server_frames(server, payload)
        parser.feed(wire)
        assert parser.next_message() == (OP_TEXT, payload)
    codec = parser.inflater
    assert codec is not None
    assert codec.payload_received == sum(len(MESSAGE) + 1 for _ in range(5))
    assert codec.wire_received < codec.payload_received / 4  # repetitive JSON compresses well


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: p.header())
def test_websockets_inflates_what_we_compress_message_after_message(params: Params) -> None:
    server, codec = _server(params), Deflate(params)
    for n in range(5):
        payload = MESSAGE + str(n).encode()
        data = encode_message(OP_TEXT, codec.compress(payload), rsv1=True)
        assert data[0] == 0x80 | 0x40 | OP_TEXT  # FIN, RSV1, text
        [frame] = _server_reads(server, data)
        assert (frame.opcode, frame.data, frame.rsv1) == (Opcode.TEXT, payload, False)
    assert codec.payload_sent == 5 * (len(MESSAGE) + 1)
    assert codec.wire_sent < codec.payload_sent / 4


def test_context_takeover_makes_a_repeated_message_smaller() -> None:
    keep, fresh = Deflate(Params()), Deflate(Params(client_no_context_takeover=True))
    first = len(keep.compress(MESSAGE))
    assert len(keep.compress(MESSAGE)) < first / 4  # the second refers back to the first
    assert len(fresh.compress(MESSAGE)) == len(fresh.compress(MESSAGE)) == first
    assert keep.holds_state() == (True, False) and fresh.holds_state() == (False, False)


def test_fragmented_compressed_messages_both_ways() -> None:
    params = Params()
    server, parser = _server(params), _parser(params)
    parser.feed(_server_frames(server, MESSAGE, opcode=Opcode.BINARY, parts=4))
    assert parser.next_message() == (OP_BINARY, MESSAGE)
    codec = Deflate(params)
    data = encode_message(OP_BINARY, codec.compress(MESSAGE), 16, rsv1=True)
    frames = _server_reads(_server(params), data)
    assert len(frames) > 2
    assert b"".join(f.data for f in frames) == MESSAGE  # websockets inflates fragment by fragment
    assert [bool(data[0] & 0x40)] == [True]  # RSV1 on the first frame...
    assert all(not f.rsv1 for f in frames)


def test_rsv1_only_on_the_first_frame() -> None:
    data = encode_message(OP_TEXT, b"x" * 40, 16, rsv1=True)
    firsts = [data[0], data[22], data[44]]  # three 16, 16, 8-byte masked frames: 6-byte heads
    assert [(b & 0x40) != 0 for b in firsts] == [True, False, False]


def test_an_uncompressed_message_in_a_compressed_session_is_counted_as_is() -> None:
    parser = _parser(Params())
    parser.feed(b"\x81\x05hello")
    assert parser.next_message() == (OP_TEXT, b"hello")
    assert parser.inflater is not None
    assert (parser.inflater.payload_received, parser.inflater.wire_received) == (5, 5)


def test_the_empty_message_is_one_zero_byte() -> None:
    codec = Deflate(Params())
    assert codec.compress(b"") == b"\x00"
    parser = _parser(Params())
    parser.feed(b"\xc1\x01\x00")
    assert parser.next_message() == (OP_TEXT, b"")


def test_the_server_may_end_its_stream_with_bfinal() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    final = compressor.compress(b"first") + compressor.flush(zlib.Z_FINISH)  # BFINAL set
    parser = _parser(Params())
    parser.feed(bytes((0xC1, len(final))) + final)
    assert parser.next_message() == (OP_TEXT, b"first")
    server = _server(Params(server_no_context_takeover=True))  # a fresh stream for the next one
    parser.feed(_server_frames(server, b"second"))
    assert parser.next_message() == (OP_TEXT, b"second")


# -- violations ------------------------------------------------------------------------------------
def test_a_compressed_frame_without_the_extension_is_1002() -> None:
    server = _server(Params())
    parser = FrameParser()
    parser.feed(_server_frames(server, MESSAGE))
    with pytest.raises(ProtocolViolation) as violation:
        parser.next_message()
    assert violation.value.code == 1002
    assert "reserved bits" in violation.value.detail


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (bytes((0xC0 | OP_PING, 0)), "RSV1 (compressed) set on a control or continuation frame"),
        (b"\x01\x01a" + b"\xc0\x01b", "RSV1 (compressed) set on a control or continuation frame"),
        (b"\xa1\x01a", "reserved bits set"),  # RSV2: no extension of ours uses it
        (b"\xc1\x04\xff\xff\xff\xff", "does not inflate"),
    ],
)
def test_misused_rsv1_and_bad_deflate_data_are_1002(data: bytes, detail: str) -> None:
    parser = _parser(Params())
    parser.feed(data)
    with pytest.raises(ProtocolViolation) as violation:
        parser.next_message()
    assert violation.value.code == 1002
    assert detail in violation.value.detail


@pytest.mark.parametrize("parts", [1, 7])
def test_a_deflate_bomb_is_1009_with_bounded_memory(parts: int) -> None:
    limit = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = b"".join(compressor.compress(b"\x00" * (1 << 20)) for _ in range(256))  # 256 MiB of zeros
    bomb += compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    step = -(-len(bomb) // parts)
    chunks = [bomb[i : i + step] for i in range(0, len(bomb), step)]
    wire = b"".join(
        frame(OP_TEXT if i == 0 else 0, chunk, fin=i == len(chunks) - 1, rsv=0x40 if i == 0 else 0)
        for i, chunk in enumerate(chunks)
    )
    assert len(wire) < limit  # within the limit on the wire: only inflating reveals it
    parser = _parser(Params(), max_size=limit)
    parser.feed(wire)
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolViolation) as violation:
            parser.next_message()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert violation.value.code == 1009
    assert "once inflated" in violation.value.detail
    assert peak < 2 * limit + len(wire) + (1 << 20), peak  # the limit, a chunk, the joined fragments


@pytest.mark.parametrize("parts", [1, 3])
def test_a_big_compressed_message_is_inflated_as_its_bytes_arrive(parts: int) -> None:
    noise = bytes(random.Random(3).randbytes(200_000))  # incompressible: frames over 64 KiB
    payload = MESSAGE * 100 + noise
    wire = _server_frames(_server(Params()), payload, opcode=Opcode.BINARY, parts=parts)
    parser = _parser(Params(), max_size=1 << 20)
    for start in range(0, len(wire), 4096):  # as recv returns it
        parser.feed(wire[start : start + 4096])
        message = parser.next_message()
        if start + 4096 < len(wire):
            assert message is None
    assert message == (OP_BINARY, payload)
    assert parser.inflater is not None and parser.inflater.payload_received == len(payload)


def test_a_bomb_is_refused_before_the_rest_of_it_arrives() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = b"".join(compressor.compress(b"\x00" * (1 << 20)) for _ in range(64))  # 64 MiB of zeros
    bomb += compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    half = len(bomb) // 2
    parser = _parser(Params(), max_size=1 << 20)
    parser.feed(frame(OP_TEXT, bomb[:half], fin=False, rsv=0x40))  # the second half never comes
    with pytest.raises(ProtocolViolation) as violation:
        parser.next_message()
    assert violation.value.code == 1009


@pytest.mark.parametrize("piece", [4096, 200_000])
def test_a_bomb_arriving_read_by_read_is_raised_by_next_message_never_by_feed(piece: int) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = b"".join(compressor.compress(b"\x00" * (1 << 20)) for _ in range(512))  # 512 MiB, ~500 KiB
    bomb += compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    wire = frame(OP_TEXT, bomb, rsv=0x40)  # one frame over 64 KiB: inflated as it arrives
    parser = _parser(Params(), max_size=1 << 20)
    raised = 0
    for start in range(0, len(wire), piece):
        parser.feed(wire[start : start + piece])
        try:
            parser.next_message()
        except ProtocolViolation as violation:
            assert violation.code == 1009
            raised += 1
            break
    assert raised == 1 and start < len(wire) // 2  # long before the end of the bomb
