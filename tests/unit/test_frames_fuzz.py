"""Property-based fuzzing of the frame parser (Hypothesis).

Whatever bytes a server sends, split at whatever points the network splits them, the parser
yields the same messages and then the same :class:`ProtocolViolation` (or none), never another
exception, and never holds more than the message limit plus one control frame.
"""

from __future__ import annotations

import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtest.deflate import Deflate, Params
from loadtest.frames import MAX_HEADER, OP_CLOSE, FrameParser, ProtocolViolation

#: Held after draining: fragments up to the limit, a header, and one control frame between fragments.
SLACK = MAX_HEADER + 2 + 125
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

Outcome = tuple[list[tuple[int, bytes]], tuple[str, int] | None]


def parse(
    chunks: list[bytes], max_size: int, direct_bytes: int = 64 << 10, *, deflated: bool = False
) -> Outcome:
    """Feed ``chunks`` one by one, draining after each; check the memory bound as we go.

    ``deflated``: the stream is permessage-deflate (the server without context takeover).
    """
    parser = FrameParser(max_size, direct_bytes)
    if deflated:
        parser.inflater = Deflate(Params(server_no_context_takeover=True), max_size)
    messages: list[tuple[int, bytes]] = []
    for chunk in chunks:
        parser.feed(chunk)
        assert parser.buffered_bytes() <= max_size + SLACK + len(chunk)
        try:
            while (message := parser.next_message()) is not None:
                messages.append(message)
        except ProtocolViolation as violation:
            assert violation.code in (1002, 1007, 1009)
            return messages, (violation.detail, violation.code)
        assert parser.buffered_bytes() <= max_size + SLACK
    return messages, None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def _length_field(size: int, form: int) -> bytes:
    """Encode a payload length in its minimal form (0) or forced to 16 (1) or 64 bits (2)."""
    if form == 2 or size >= 65536:
        return bytes((127,)) + size.to_bytes(8, "big")
    if form == 1 or size >= 126:
        return bytes((126,)) + size.to_bytes(2, "big")
    return bytes((size,))


CLOSE_CODES = st.sampled_from([1000, 1001, 1002, 1005, 1006, 1011, 1015, 999, 3000, 4999, 5000, 0])
REASONS = st.one_of(st.text(max_size=20).map(str.encode), st.binary(max_size=10))


@st.composite
def frame(draw: st.DrawFn) -> bytes:
    """One server frame: mostly valid, sometimes broken in one of the ways a server breaks them."""
    opcode = draw(st.sampled_from([0, 0, 1, 1, 2, 2, 8, 9, 10, 3, 11]))
    fin = draw(st.sampled_from([0x80, 0x80, 0x80, 0]))
    rsv = draw(st.sampled_from([0, 0, 0, 0, 0, 0, 0x10, 0x20, 0x40]))
    masked = draw(st.sampled_from([0, 0, 0, 0, 0, 0, 0, 0x80]))
    if opcode == OP_CLOSE and draw(st.booleans()):
        payload = draw(CLOSE_CODES).to_bytes(2, "big") + draw(REASONS)
    else:
        payload = draw(st.binary(max_size=300))
    header = bytes((fin | rsv | opcode,))
    length = bytearray(_length_field(len(payload), draw(st.sampled_from([0, 0, 0, 1, 2]))))
    length[0] |= masked
    key = draw(st.binary(min_size=4, max_size=4)) if masked else b""
    return header + bytes(length) + key + payload


STREAMS = st.lists(frame(), max_size=12).map(b"".join)
LIMITS = st.sampled_from([40, 200, 1000, 64 << 20])
CUTS = st.lists(st.integers(min_value=0, max_value=10_000), max_size=20)


DIRECT = st.sampled_from([0, 1, 100, 64 << 10])  # 0: every frame that spans reads joins its payload


@FUZZ
@given(data=STREAMS, cuts=CUTS, max_size=LIMITS, direct_bytes=DIRECT)
def test_any_split_of_a_frame_stream_parses_the_same(
    data: bytes, cuts: list[int], max_size: int, direct_bytes: int
) -> None:
    whole = parse([data], max_size)
    assert parse(split(data, cuts), max_size, direct_bytes) == whole
    assert parse([bytes([b]) for b in data], max_size, direct_bytes) == whole


@FUZZ
@given(data=st.binary(max_size=2000), cuts=CUTS, max_size=LIMITS, direct_bytes=DIRECT)
def test_any_bytes_split_anywhere_parse_the_same(
    data: bytes, cuts: list[int], max_size: int, direct_bytes: int
) -> None:
    assert parse(split(data, cuts), max_size, direct_bytes) == parse([data], max_size)


@FUZZ
@given(data=STREAMS, cuts=CUTS)
def test_what_the_parser_returns_obeys_the_rules(data: bytes, cuts: list[int]) -> None:
    messages, _ = parse(split(data, cuts), 1000)
    for opcode, payload in messages:
        assert opcode in (1, 2, 8, 9, 10)  # never a continuation: fragments come joined
        assert len(payload) <= (125 if opcode >= 8 else 1000)


# -- permessage-deflate negotiated ----------------------------------------------------------------
def _deflated(message: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


MESSAGES = st.one_of(st.binary(max_size=400), st.text(max_size=60).map(lambda t: t.encode() * 20))


@st.composite
def compressed_stream(draw: st.DrawFn) -> tuple[bytes, list[bytes] | None]:
    """Compressed messages (some in fragments), plain ones, and now and then a random frame
    (then what the stream holds is not known: None)."""
    stream, sent = b"", []
    random_frames = False
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(st.sampled_from(["compressed", "compressed", "fragmented", "plain", "random"]))
        if kind == "random":
            stream += draw(frame())
            random_frames = True
            continue
        message = draw(MESSAGES)
        sent.append(message)
        if kind == "plain":
            stream += bytes((0x82,)) + _length_field(len(message), 0) + message
            continue
        wire = _deflated(message)
        parts = 1 if kind == "compressed" else draw(st.integers(min_value=2, max_value=4))
        step = max(1, -(-len(wire) // parts))
        chunks = [wire[i : i + step] for i in range(0, len(wire), step)] or [b""]
        for index, chunk in enumerate(chunks):
            first = (0x80 if index == len(chunks) - 1 else 0) | (0x42 if index == 0 else 0)
            stream += bytes((first,)) + _length_field(len(chunk), 0) + chunk
    return stream, None if random_frames else sent


@FUZZ
@given(stream=compressed_stream(), cuts=CUTS, max_size=LIMITS, direct_bytes=DIRECT)
def test_compressed_streams_inflate_the_same_however_they_are_split(
    stream: tuple[bytes, list[bytes] | None], cuts: list[int], max_size: int, direct_bytes: int
) -> None:
    data, sent = stream
    whole = parse([data], max_size, deflated=True)
    pieces = parse(split(data, cuts), max_size, direct_bytes, deflated=True)
    assert pieces[0] == whole[0]  # the same messages before any violation...
    assert (pieces[1] is None) == (whole[1] is None)  # ...and a violation in both or neither
    # (its code may differ: data that inflates beyond the limit, then breaks, is 1009 when the
    # network delivers it in pieces and 1002 when zlib sees it all in one call)
    if sent is not None and max_size >= 400 * 20:  # only valid frames, all within the limit
        assert whole == ([(2, message) for message in sent], None)
