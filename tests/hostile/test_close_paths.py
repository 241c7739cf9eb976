"""The hostile catalogue, close paths: a close frame read is the server's close, whatever the echo does.

Issue 9, items 5, 6 and 9: writes that fail after the server has gone (a pong, the echo of its
close) must not turn a recorded server close into an abnormal end; nothing is sent after our own
close; a reply whose ``type`` is not a string never breaks the reader.
"""

from __future__ import annotations

import gevent
import pytest

from loadtest.metrics.recorder import Recorder
from loadtest.report import summary
from loadtest.session import Session
from tests.conftest import UNIT_S
from tests.hostile.client import drive, options
from tests.hostile.server import OP_CLOSE, OP_PING, Peer, close_payload, frame, hostile

SESSIONS = 12


def _pings_close_then(hang_up: str):
    def mode(peer: Peer) -> None:
        # One write: 50 pings, the close frame, then the socket goes away: the client's pongs and
        # its echo hit a closed socket while the close frame is still waiting to be read.
        peer.send(
            b"".join(frame(OP_PING, b"p%d" % i) for i in range(50)) + frame(OP_CLOSE, close_payload(1011))
        )
        if hang_up == "reset":
            peer.reset()
        else:
            peer.sock.close()
        peer.seen.end = hang_up

    return mode


def _many(mode) -> list[tuple[str, int, str]]:
    with hostile(mode) as server:
        greenlets = [gevent.spawn(drive, server.url) for _ in range(SESSIONS)]
        gevent.joinall(greenlets, timeout=10 * UNIT_S, raise_error=True)
        server.wait_done(SESSIONS)
    outcomes = [g.value for g in greenlets]
    assert all(o.summary["sessions"]["ended"] == 1 for o in outcomes)
    return [o.session.end for o in outcomes]


def test_pings_then_close_1011_then_fin_is_a_server_1011() -> None:
    assert _many(_pings_close_then("fin")) == [("server", 1011, "")] * SESSIONS


def test_pings_then_close_1011_then_reset_is_a_server_1011() -> None:
    assert _many(_pings_close_then("reset")) == [("server", 1011, "")] * SESSIONS


def test_close_1011_then_reset_is_a_server_1011() -> None:
    def mode(peer: Peer) -> None:
        peer.close(1011, b"bye")
        peer.reset()

    assert _many(mode) == [("server", 1011, "bye")] * SESSIONS


def test_no_pong_and_nothing_else_after_our_close() -> None:
    def mode(peer: Peer) -> None:
        peer.read(2 * UNIT_S, until_close=True)  # our close frame
        for i in range(5):
            peer.send(frame(OP_PING, b"after %d" % i))
        gevent.sleep(0.2 * UNIT_S)
        peer.close(1000)  # the answer to our close
        peer.read(2 * UNIT_S)

    with hostile(mode) as server:
        outcome = drive(server.url, lambda session: session.close(4000, "done"))
        (seen,) = server.wait_done(1)
    assert outcome.session.end == ("client", 4000, "")
    assert seen.closes == [4000] and seen.pongs == [] and seen.frames_after_close == 0


def test_a_reply_type_that_is_not_a_string_is_a_push_not_a_crash() -> None:
    def mode(peer: Peer) -> None:
        peer.read(2 * UNIT_S, until_messages=1)  # the auth message
        for payload in (
            b'{"type":["x"]}',
            b'{"type":{"a":1}}',
            b'{"type":null}',
            b'{"type":"auth_result","ok":true}',
        ):
            peer.message(payload)
        peer.read(2 * UNIT_S)

    def body(session: Session) -> None:
        reply = session.request_typed({"type": "auth"}, reply_type="auth_result", name="auth")
        assert reply == {"type": "auth_result", "ok": True}

    with hostile(mode) as server:
        outcome = drive(server.url, body)
        (seen,) = server.wait_done(1)
    assert outcome.messages == [{"type": ["x"]}, {"type": {"a": 1}}, {"type": None}]
    assert outcome.session.end == ("client", 1000, "")
    assert outcome.summary["messages"]["received"] == seen.sent == 4
    assert outcome.summary["messages"]["sent"] == seen.messages == 1
    assert [(name, exc) for name, _, _, exc in outcome.requests] == [("connect", None), ("auth", None)]


def test_a_reserved_code_is_never_sent() -> None:
    def body(session: Session) -> None:
        for code in (1004, 1005, 1006, 1015, 999, 2000, 5000):
            with pytest.raises(ValueError, match=f"close code {code} may not be sent"):
                session.close(code)
        session.close(4001, "bye")

    def answers_close(peer: Peer) -> None:
        peer.read(2 * UNIT_S, until_close=True)
        peer.close(4001)
        peer.read(UNIT_S)

    with hostile(answers_close) as server:
        outcome = drive(server.url, body)
        (seen,) = server.wait_done(1)
    assert seen.closes == [4001]  # only the valid one went out
    assert outcome.session.end == ("client", 4001, "")


def test_a_data_write_that_hits_a_reset_leaves_the_end_to_the_reader() -> None:
    """The server closed 1011 and reset before our send: the send fails, its close frame is still read."""

    def mode(peer: Peer) -> None:
        peer.close(1011)
        peer.reset()

    recorder = Recorder()
    with hostile(mode) as server:
        session = Session(server.url, options(), recorder)
        assert session.connect()
        gevent.sleep(0.3 * UNIT_S)  # the close frame and the reset arrive before we write
        assert session.send_text("hello") is False  # the write hits the reset
        assert session.end is None and not session.is_open
        assert session.read_until_end() == ("server", 1011, "")
        server.wait_done(1)
    s = summary.build(recorder, target=server.url, duration_s=1.0)
    assert s["closes"]["server"] == {"1011": 1} and s["closes"]["abnormal"] == 0
    assert s["messages"]["sent"] == 0
