"""The hostile catalogue, permessage-deflate: bad answers to our offer, bombs, RSV1 where it may not be.

Real sessions against a raw-socket server on 127.0.0.1 (:mod:`tests.hostile.server`), which
answers the upgrade as each test says and then sends compressed frames built with zlib.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import zlib

import pytest
from locust import task

from loadtest import WebSocketUser
from loadtest.deflate import REFUSED_HINT
from tests.conftest import UNIT_S
from tests.hostile.client import drive, options
from tests.hostile.server import OP_TEXT, Peer, frame, hostile, upgrade_with
from tests.hostile.test_stop import CLOSE_S, STOP_AT_S, Burster, paused_reader, run_until_stopped

DEFLATE = options(compression="deflate", max_message_bytes=1 << 20)


def _compressed(payload: bytes, times: int = 1) -> bytes:
    """Return ``payload`` repeated ``times``, compressed as one message (never held whole)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = b"".join(compressor.compress(payload) for _ in range(times))
    return (data + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


@pytest.mark.parametrize(
    ("header", "sentence"),
    [
        ("permessage-deflate; server_max_window_bits=16", "server_max_window_bits must be a number of bits"),
        ("permessage-deflate; client_max_window_bits", "client_max_window_bits must be a number of bits"),
        ("permessage-deflate; x_max=1", "unknown parameter 'x_max'"),
        ("permessage-deflate, permessage-deflate", "accepted permessage-deflate twice"),
        ("x-webkit-deflate-frame", "accepted an extension we did not offer"),
    ],
)
def test_an_answer_against_rfc_7692_is_a_protocol_handshake_failure(header: str, sentence: str) -> None:
    handshake = upgrade_with(f"Sec-WebSocket-Extensions: {header}")
    with hostile(lambda peer: peer.read(UNIT_S), handshake=handshake) as server:
        outcome = drive(server.url, session_options=DEFLATE)
    assert outcome.summary["handshake_failures"] == {"protocol": 1, "total": 1}
    assert outcome.summary["compression"]["negotiated"] == 0
    [failure] = outcome.failures("connect")
    assert failure.startswith("protocol: ") and sentence in failure
    if "not valid" in failure:  # not the proxy hint: the server answered, against RFC 7692
        assert failure.endswith(f"({REFUSED_HINT})")


def test_a_server_that_declines_gives_an_uncompressed_session() -> None:
    def mode(peer: Peer) -> None:
        peer.message(b"plain")
        peer.read(UNIT_S, until_messages=1)

    with hostile(mode) as server:
        outcome = drive(server.url, lambda s: s.send_text("hi"), session_options=DEFLATE)
        seen = server.wait_done(1)
    assert outcome.messages == ["plain"]
    assert (seen[0].messages, seen[0].bytes) == (1, 2)  # our message went out as it is
    compression = outcome.summary["compression"]
    assert (compression["offered"], compression["negotiated"], compression["bytes_wire_sent"]) == (1, 0, 0)


def test_a_compressed_frame_without_negotiation_is_1002_and_counted() -> None:
    def mode(peer: Peer) -> None:
        peer.send(frame(OP_TEXT, _compressed(b"hello"), rsv=0x40))
        peer.read(UNIT_S, until_close=True)

    with hostile(mode) as server:  # --ws-compression off: nothing offered, nothing negotiated
        outcome = drive(server.url)
        seen = server.wait_done(1)
    assert outcome.summary["closes"]["client"] == {"1002": 1}
    assert outcome.summary["errors"]["bad_frames"] == 1
    assert seen[0].closes == [1002]


def test_a_deflate_bomb_ends_the_session_with_1009_and_bounded_memory() -> None:
    bomb = _compressed(b"\x00" * (1 << 20), 1024)  # 1 GiB of zeros: ~1 MiB compressed
    assert len(bomb) < 2 << 20

    def mode(peer: Peer) -> None:
        peer.send(frame(OP_TEXT, bomb[: len(bomb) // 2], fin=False, rsv=0x40))  # fragmented, too
        peer.send(frame(0, bomb[len(bomb) // 2 :]))
        peer.read(2 * UNIT_S, until_close=True)

    limit = 4 << 20  # the compressed message fits: only inflating reveals the bomb
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with hostile(mode, handshake=upgrade_with("Sec-WebSocket-Extensions: permessage-deflate")) as server:
        outcome = drive(server.url, session_options=options(compression="deflate", max_message_bytes=limit))
        seen = server.wait_done(1)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kib) / 1024
    assert outcome.summary["closes"]["client"] == {"1009": 1}
    assert seen[0].closes == [1009]
    assert outcome.session.violation is not None
    assert "once inflated" in outcome.session.violation.detail
    assert outcome.summary["messages"]["received"] == 0
    # The test process's peak RSS grew by far less than the 1 GiB the bomb holds (the limit, a
    # chunk, the compressed frames); a peak reached earlier in this process hides nothing above it.
    assert grown_mib < 64, f"peak RSS grew by {grown_mib:.0f} MiB (pid {os.getpid()})"


class CompressedBurster(WebSocketUser):
    """Burster's pipelined writes, compressed: random payloads, so the writes stay big and block.

    (Not a subclass of Burster: Locust would pick its zero-filled task too.)
    """

    abstract = True
    wait_time = Burster.wait_time
    backoff = Burster.backoff
    session_options = dataclasses.replace(Burster.session_options, compression="deflate")

    @task
    def burst(self) -> None:
        session = self.wait_open()
        if session is not None:
            session.request_burst([os.urandom(2_000) for _ in range(100)], name="burst")


@pytest.mark.parametrize("finished", [True, False])
def test_a_write_the_stop_cuts_counts_compressed_messages_as_the_server_reads_them(finished: bool) -> None:
    class User(CompressedBurster):
        pass

    pause_s = STOP_AT_S + (CLOSE_S / 3 if finished else CLOSE_S + 1.0 * UNIT_S)
    handshake = upgrade_with("Sec-WebSocket-Extensions: permessage-deflate")
    with hostile(paused_reader(pause_s, answer_close=finished), handshake=handshake, rcvbuf=4096) as server:
        _, s, _ = run_until_stopped(User, server.url, 2)
        seen = server.wait_done(2, timeout_s=10 * UNIT_S)
    assert any(x.partial for x in seen) != finished, (s["closes"], seen)  # a write was cut, or none
    compression = s["compression"]
    sent = s["messages"]["sent"]
    assert 0 < sent == sum(x.messages for x in seen) and (sent < 200) != finished
    assert compression["bytes_wire_sent"] == sum(x.bytes for x in seen)  # what the server read, compressed
    assert compression["bytes_payload_sent"] == s["messages"]["bytes_sent"] == sent * 2_011  # magic, id, data
