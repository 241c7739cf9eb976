"""STOMP 1.2 frames: encoding, escaping, content-length, the incremental parser, heart-beats."""

from __future__ import annotations

import pytest

from loadtest.protocols import stomp_frames as stomp
from loadtest.protocols.stomp_frames import Frame, Parser


def test_encode_a_send_with_its_content_length() -> None:
    data = stomp.encode("SEND", [("destination", "/topic/a"), ("receipt", "r1")], b"hello")
    assert data == b"SEND\ndestination:/topic/a\nreceipt:r1\ncontent-length:5\n\nhello\x00"


def test_header_values_are_escaped_except_in_connect_frames() -> None:
    assert stomp.encode("SEND", {"k": "a:b\nc\\d\re"}) == b"SEND\nk:a\\cb\\nc\\\\d\\re\n\n\x00"
    assert stomp.encode("CONNECT", {"login": "a:b"}) == b"CONNECT\nlogin:a:b\n\n\x00"
    with pytest.raises(stomp.FrameError, match="line break"):
        stomp.encode("CONNECT", {"passcode": "x\ny"})


def test_escaped_headers_round_trip() -> None:
    value = "a:b\nc\\d\re"
    (frame,) = Parser().feed(stomp.encode("MESSAGE", {"k": value}, b"x"))
    assert frame == Frame("MESSAGE", {"k": value, "content-length": "1"}, b"x")


def test_connected_headers_are_not_unescaped() -> None:
    (frame,) = Parser().feed(b"CONNECTED\nserver:a\\cb\n\n\x00")
    assert frame is not None and frame.header("server") == "a\\cb"


def test_an_undefined_escape_is_fatal() -> None:
    with pytest.raises(stomp.FrameError, match="undefined escape"):
        Parser().feed(b"MESSAGE\nk:a\\tb\n\n\x00")


def test_the_first_of_repeated_headers_wins() -> None:
    (frame,) = Parser().feed(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\x00")
    assert frame is not None and frame.header("foo") == "World"


def test_content_length_bodies_may_hold_nul() -> None:
    body = b"a\x00b\x00"
    (frame,) = Parser().feed(stomp.encode("MESSAGE", {}, body))
    assert frame is not None and frame.body == body


def test_a_wrong_content_length_is_fatal() -> None:
    with pytest.raises(stomp.FrameError, match="not followed by NUL"):
        Parser().feed(b"MESSAGE\ncontent-length:2\n\nabc\x00")
    with pytest.raises(stomp.FrameError, match="not a number"):
        Parser().feed(b"MESSAGE\ncontent-length:x\n\nabc\x00")


def test_crlf_lines_and_trailing_eols_as_rabbitmq_sends_them() -> None:
    parser = Parser()
    assert parser.feed(b"RECEIPT\r\nreceipt-id:r1\r\n\r\n\x00\n") == [Frame("RECEIPT", {"receipt-id": "r1"})]
    assert parser.feed(b"\n") == [None]  # a message of EOLs alone: a heart-beat
    assert parser.feed(b"\r\n") == [None]


def test_frames_split_across_messages_and_several_in_one() -> None:
    parser = Parser()
    data = (
        stomp.encode("MESSAGE", {"a": "1"}, b"first") + b"\n" + stomp.encode("MESSAGE", {"a": "2"}, b"second")
    )
    assert parser.feed(data[:10]) == []
    assert parser.feed(data[10:30]) == []
    frames = parser.feed(data[30:])
    assert [f.body for f in frames if f is not None] == [b"first", b"second"]
    assert parser.feed(b"\n") == [None]  # nothing buffered: a heart-beat again


def test_an_eol_inside_a_frame_is_not_a_heart_beat() -> None:
    parser = Parser()
    assert parser.feed(b"MESSAGE") == []
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\n\x00") == [Frame("MESSAGE")]


def test_unknown_commands_and_headers_without_colon_are_fatal() -> None:
    with pytest.raises(stomp.FrameError, match="unknown command"):
        Parser().feed(b"HELLO\n\n\x00")
    with pytest.raises(stomp.FrameError, match="without a colon"):
        Parser().feed(b"MESSAGE\nnocolon\n\n\x00")


def test_frames_over_the_limit_are_refused_before_they_are_held() -> None:
    parser = Parser(max_frame_bytes=100)
    with pytest.raises(stomp.FrameError, match="over 100 bytes"):
        parser.feed(b"MESSAGE\ncontent-length:1000000\n\n")
    with pytest.raises(stomp.FrameError, match="over 100 bytes"):
        Parser(max_frame_bytes=100).feed(b"MESSAGE\n\n" + b"x" * 200)


@pytest.mark.parametrize(
    ("ours", "theirs", "agreed"),
    [
        ((10000, 10000), (5000, 20000), (20000, 10000)),
        ((0, 10000), (5000, 20000), (0, 10000)),
        ((10000, 0), (5000, 20000), (20000, 0)),
        ((10000, 10000), (0, 0), (0, 0)),
        ((1000, 1000), (300, 300), (1000, 1000)),
    ],
)
def test_heart_beat_negotiation(
    ours: tuple[int, int], theirs: tuple[int, int], agreed: tuple[int, int]
) -> None:
    assert stomp.negotiate(ours, theirs) == agreed


def test_heart_beat_headers() -> None:
    assert stomp.parse_heart_beat("4000,0") == (4000, 0)
    assert stomp.parse_heart_beat("") == (0, 0)
    with pytest.raises(stomp.FrameError, match="two numbers"):
        stomp.parse_heart_beat("4000")
    with pytest.raises(stomp.FrameError, match="two numbers"):
        stomp.parse_heart_beat("a,b")
