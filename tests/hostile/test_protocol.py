"""The hostile catalogue, protocol part: what RFC 6455 §5-7 asks of a client, case by case.

The cases follow the client-side sections of a conformance suite such as Autobahn|Testsuite
(framing, pings, reserved bits, opcodes, fragmentation, UTF-8, close codes and reasons, limits),
plus the misbehaviours of issue 9. Each runs one real session against the raw-socket server and
asserts how the session ended, the protocol violation it names, that the reader raised nothing,
and that the client's counts equal what the server saw: messages each way, and the close frames
the server received from us (none after our close, no reserved code ever).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.conftest import UNIT_S
from tests.hostile.client import Outcome, drive, options
from tests.hostile.server import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Mode,
    Peer,
    Seen,
    close_payload,
    frame,
    hostile,
)

READ_S = 2 * UNIT_S


@dataclass(frozen=True)
class Case:
    """A server behaviour and what the client must make of it."""

    mode: Mode
    end: tuple[str, int]  # (who, code) the session ended with
    server_got: list[int | None]  # the close frames the server received from us
    violation: str | None = None  # words of the violation we closed for (None: no violation)
    pongs: list[bytes] | None = None  # the pongs the server received (None: not checked)
    max_message_bytes: int = 64 << 20
    check: Callable[[Outcome, Seen], None] | None = field(default=None, compare=False)


def then_close(*frames: bytes, code: int | None = 1000, reason: bytes = b"", sent: int = 0) -> Mode:
    """Send ``frames`` (holding ``sent`` whole data messages), a close frame, then read until EOF."""

    def mode(peer: Peer) -> None:
        for data in frames:
            peer.send(data)
        peer.seen.sent += sent
        peer.close(code, reason)
        peer.read(READ_S)

    return mode


def then_read(*frames: bytes, sent: int = 0) -> Mode:
    """Send ``frames`` (holding ``sent`` whole data messages) and read until the client hangs up."""

    def mode(peer: Peer) -> None:
        for data in frames:
            peer.send(data)
        peer.seen.sent += sent
        peer.read(READ_S)

    return mode


def after_close(*frames: bytes) -> Mode:
    """Send a close frame 1000, then ``frames`` (which the client must ignore), then read."""

    def mode(peer: Peer) -> None:
        peer.close(1000)
        for data in frames:
            peer.send(data)
        peer.read(READ_S)

    return mode


def messages(*payloads: bytes, binary: bool = False, chop: int = 0) -> Mode:
    """Send whole data messages (optionally each chopped into ``chop``-byte writes), then close 1000."""

    def mode(peer: Peer) -> None:
        for payload in payloads:
            data = frame(OP_BINARY if binary else OP_TEXT, payload)
            step = chop or len(data)
            for start in range(0, len(data), step):
                peer.send(data[start : start + step])
            peer.seen.sent += 1
        peer.close(1000)
        peer.read(READ_S)

    return mode


def counted(first: Mode) -> Mode:
    """Send one valid message before the mode's misbehaviour (it must still be counted)."""

    def mode(peer: Peer) -> None:
        peer.message(b"before")
        first(peer)

    return mode


SERVER_1000 = (("server", 1000), [1000])
CASES: dict[str, Case] = {}


def case(name: str, mode: Mode, end: tuple[str, int], server_got: list[int | None], **kw: object) -> None:
    CASES[name] = Case(mode, end, server_got, **kw)  # type: ignore[arg-type]


def violation(name: str, mode: Mode, words: str, code: int = 1002, **kw: object) -> None:
    """A case where the client must fail the connection with ``code`` and name the violation."""
    case(name, counted(mode), ("client", code), [code], violation=words, **kw)


# 1. Framing: text and binary messages at every length-encoding boundary, whole and chopped.
for size in (0, 125, 126, 127, 128, 65535, 65536, 1 << 20):
    case(f"1.1 text {size} bytes", messages(b"*" * size), *SERVER_1000)
    case(f"1.2 binary {size} bytes", messages(bytes(size), binary=True), *SERVER_1000)
case("1.1.8 text 65536 bytes chopped into 997-byte writes", messages(b"*" * 65536, chop=997), *SERVER_1000)

# 2. Pings and pongs.
for label, payload in (
    ("empty", b""),
    ("text", b"Hello, world!"),
    ("binary", bytes(range(8))),
    ("125", b"*" * 125),
):
    case(f"2 ping {label}", then_close(frame(OP_PING, payload)), *SERVER_1000, pongs=[payload])
case(
    "2.5 ping 126 bytes",
    counted(then_read(frame(OP_PING, b"*" * 126))),
    ("client", 1002),
    [1002],
    violation="control frame over 125 bytes",
    pongs=[],
)
case(
    "2.6 ping chopped into 1-byte writes",
    then_close(*[bytes([b]) for b in frame(OP_PING, b"*" * 125)]),
    *SERVER_1000,
    pongs=[b"*" * 125],
)
case(
    "2.7 unsolicited empty pong",
    then_close(frame(OP_PONG)),
    *SERVER_1000,
    pongs=[],
    check=lambda o, s: (
        o.summary["errors"]["uncorrelated"] == 0 or pytest.fail("a heartbeat pong is no error")
    ),
)
case("2.8 unsolicited pong with payload", then_close(frame(OP_PONG, b"unsolicited")), *SERVER_1000, pongs=[])
case(
    "2.9 unsolicited pong then ping",
    then_close(frame(OP_PONG, b"x"), frame(OP_PING, b"ping")),
    *SERVER_1000,
    pongs=[b"ping"],
)
case(
    "2.10 ten pings",
    then_close(*[frame(OP_PING, b"p%d" % i) for i in range(10)]),
    *SERVER_1000,
    pongs=[b"p%d" % i for i in range(10)],
)
case(
    "2.11 ten pings in one write",
    then_close(b"".join(frame(OP_PING, b"p%d" % i) for i in range(10))),
    *SERVER_1000,
    pongs=[b"p%d" % i for i in range(10)],
)

# 3. Reserved bits (no extension was negotiated).
for rsv, (opcode, payload) in zip(
    range(1, 8),
    [
        (OP_TEXT, b"x"),
        (OP_TEXT, b"x"),
        (OP_PING, b""),
        (OP_BINARY, b"\x00"),
        (OP_PING, b"p"),
        (OP_CLOSE, b""),
        (OP_TEXT, b"x"),
    ],
    strict=True,
):
    violation(
        f"3.{rsv} RSV={rsv} on opcode {opcode}",
        then_read(frame(opcode, payload, rsv=rsv << 4)),
        "reserved bits",
    )

# 4. Opcodes no one defined.
for opcode in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
    violation(f"4 opcode {opcode}", then_read(frame(opcode, b"x")), f"unknown opcode {opcode}")

# 5. Fragmentation.
violation(
    "5.1 fragmented ping",
    then_read(frame(OP_PING, b"a", fin=False), frame(OP_CONT, b"b")),
    "fragmented control frame",
)
violation(
    "5.2 fragmented pong",
    then_read(frame(OP_PONG, b"a", fin=False), frame(OP_CONT, b"b")),
    "fragmented control frame",
)
case(
    "5.3 text in two fragments",
    then_close(frame(OP_TEXT, b"frag", fin=False), frame(OP_CONT, b"ment"), sent=1),
    *SERVER_1000,
    check=lambda o, s: o.messages == ["fragment"] or pytest.fail(str(o.messages)),
)
case(
    "5.6 ping between fragments",
    then_close(frame(OP_TEXT, b"frag", fin=False), frame(OP_PING, b"mid"), frame(OP_CONT, b"ment"), sent=1),
    *SERVER_1000,
    pongs=[b"mid"],
    check=lambda o, s: o.messages == ["fragment"] or pytest.fail(str(o.messages)),
)
case(
    "5.19 many fragments with pings between, chopped",
    then_close(
        *[
            bytes([b])
            for b in b"".join(
                frame(OP_TEXT if i == 0 else OP_CONT, b"%d" % i, fin=i == 9) + frame(OP_PING, b"%d" % i)
                for i in range(10)
            )
        ],
        sent=1,
    ),
    *SERVER_1000,
    pongs=[b"%d" % i for i in range(10)],
    check=lambda o, s: o.messages == ["0123456789"] or pytest.fail(str(o.messages)),
)
violation(
    "5.9 continuation with no message", then_read(frame(OP_CONT, b"x")), "continuation frame with no message"
)
violation(
    "5.10 non-final continuation with no message",
    then_read(frame(OP_CONT, b"x", fin=False)),
    "continuation frame with no message",
)
violation(
    "5.15 continuation after a finished message",
    then_read(frame(OP_TEXT, b"a", fin=False), frame(OP_CONT, b"b"), frame(OP_CONT, b"c"), sent=1),
    "continuation frame with no message",
)
violation(
    "5.18 new text inside a fragmented text",
    then_read(frame(OP_TEXT, b"a", fin=False), frame(OP_TEXT, b"b")),
    "new message inside",
)
violation(
    "7.1.5 close inside a fragmented message",
    then_read(frame(OP_TEXT, b"a", fin=False), frame(OP_CLOSE, close_payload(1000), fin=False)),
    "fragmented control frame",
)

# 6. UTF-8.
KOSME = "κόσμε".encode()
case(
    "6.2 valid multi-byte text",
    messages(KOSME),
    *SERVER_1000,
    check=lambda o, s: o.messages == ["κόσμε"] or pytest.fail(str(o.messages)),
)
case(
    "6.2.3 valid text split inside a code point",
    then_close(frame(OP_TEXT, KOSME[:3], fin=False), frame(OP_CONT, KOSME[3:]), sent=1),
    *SERVER_1000,
    check=lambda o, s: o.messages == ["κόσμε"] or pytest.fail(str(o.messages)),
)
for label, data in (
    ("surrogate", KOSME + b"\xed\xa0\x80edited"),
    ("overlong", b"\xc0\xaf"),
    ("truncated", b"\xce"),
    ("in JSON", b'{"type":"x","v":"\xff"}'),
    ("in a JSON array", b'[{"id":1},"\xfe"]'),
):
    violation(
        f"6 invalid UTF-8 {label}", then_read(frame(OP_TEXT, data), sent=1), "not valid UTF-8", code=1007
    )
violation(
    "6.4 invalid UTF-8 across fragments",
    then_read(frame(OP_TEXT, KOSME, fin=False), frame(OP_CONT, b"\xed\xa0\x80"), sent=1),
    "not valid UTF-8",
    code=1007,
)
case("6 invalid UTF-8 in a binary message is fine", messages(b"\xff\xfe", binary=True), *SERVER_1000)

# 7. Closing.
case("7.1.2 close twice", then_close(frame(OP_CLOSE, close_payload(1000))), *SERVER_1000)
case(
    "7.1.3 ping after the close frame is not answered",
    after_close(frame(OP_PING, b"late")),
    *SERVER_1000,
    pongs=[],
)
case(
    "7.1.4 text after the close frame is not read",
    after_close(frame(OP_TEXT, b"late")),
    *SERVER_1000,
    check=lambda o, s: o.summary["messages"]["received"] == 0 or pytest.fail("read after close"),
)
case("7.3.1 empty close: 1005 recorded, empty echo", then_close(code=None), ("server", 1005), [None])
violation("7.3.2 close with a 1-byte payload", then_read(frame(OP_CLOSE, b"\x03")), "1-byte payload")
case(
    "7.3.4 close with a reason",
    then_close(code=1000, reason=b"bye"),
    *SERVER_1000,
    check=lambda o, s: o.session.end == ("server", 1000, "bye") or pytest.fail(str(o.session.end)),
)
case("7.3.5 close with a 123-byte reason", then_close(code=1000, reason=b"r" * 123), *SERVER_1000)
violation(
    "7.3.6 close over 125 bytes",
    then_read(frame(OP_CLOSE, close_payload(1000, b"r" * 124))),
    "control frame over 125 bytes",
)
violation(
    "7.5.1 close reason not UTF-8",
    then_read(frame(OP_CLOSE, close_payload(1000, b"\xce\xba\xff"))),
    "close reason is not valid UTF-8",
    code=1007,
)
for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999):
    case(f"7.7 close code {code} is recorded and echoed", then_close(code=code), ("server", code), [code])
for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
    violation(
        f"7.9 close code {code} may not be on the wire",
        then_read(frame(OP_CLOSE, close_payload(code))),
        "reserved code" if code in (1004, 1005, 1006, 1015) else "outside 1000-1014",
    )

# 9. Limits (--ws-max-message-bytes 1000 here).
case("9 message at the limit", messages(b"*" * 1000), *SERVER_1000, max_message_bytes=1000)
violation(
    "9 message over the limit",
    then_read(frame(OP_BINARY, bytes(1001))),
    "over the 1000-byte limit",
    code=1009,
    max_message_bytes=1000,
)
violation(
    "9 fragmented message over the limit",
    then_read(frame(OP_TEXT, b"*" * 600, fin=False), frame(OP_CONT, b"*" * 600)),
    "over the 1000-byte limit",
    code=1009,
    max_message_bytes=1000,
)
violation(
    "9 announced 2**62 bytes",
    then_read(b"\x82\x7f" + (1 << 62).to_bytes(8, "big")),
    "over the 1000-byte limit",
    code=1009,
    max_message_bytes=1000,
)

# Issue 9, item 8: garbage and masked frames.
violation(
    "garbage after the handshake", then_read(b"HTTP/1.1 500 Internal Server Error\r\n\r\n"), "reserved bits"
)
violation("binary garbage after the handshake", then_read(b"\xff" * 64), "masked")
violation("masked server frame", then_read(frame(OP_TEXT, b"hi", mask=b"abcd")), "masked")


@pytest.mark.parametrize("name", list(CASES))
def test_case(name: str) -> None:
    spec = CASES[name]
    with hostile(spec.mode) as server:
        outcome = drive(server.url, session_options=options(max_message_bytes=spec.max_message_bytes))
        (seen,) = server.wait_done(1)
    session, s = outcome.session, outcome.summary
    assert session.end is not None and session.end[:2] == spec.end, session.end
    if spec.violation is None:
        assert session.violation is None, session.violation
    else:
        assert session.violation is not None and spec.violation in session.violation.detail
        assert session.violation.code == spec.end[1]
    who, code = spec.end
    assert s["closes"][who] == {str(code): 1}  # exactly one end, counted once
    assert s["sessions"] == {"opened": 1, "ended": 1, "open_at_end": 0, "peak_concurrent": 1}
    # counts equal what the server saw
    assert s["messages"]["received"] == seen.sent
    assert s["messages"]["sent"] == seen.messages == 0
    assert seen.closes == spec.server_got
    assert seen.frames_after_close == 0  # nothing after our close frame
    assert not seen.partial
    if spec.pongs is not None:
        assert seen.pongs == spec.pongs
    if spec.check is not None:
        spec.check(outcome, seen)
