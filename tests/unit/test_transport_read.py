"""Connection.read over a real socket pair: each read is its own bytes, whatever the buffer."""

from __future__ import annotations

import socket

import gevent

from loadtest import transport
from loadtest.transport import Connection


def _pair() -> tuple[Connection, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return Connection(ours, send_timeout_s=1.0), theirs


def test_reads_are_copies_at_their_size_not_views_of_the_shared_buffer() -> None:
    conn, peer = _pair()
    assert conn.read() is None  # nothing yet: not EOF
    peer.sendall(b"first read")
    first = conn.read()
    peer.sendall(b"SECOND")
    second = conn.read()
    assert (first, second) == (b"first read", b"SECOND")  # the second read did not overwrite the first
    assert type(first) is bytes and len(first) == 10
    peer.close()
    assert conn.read() == b""  # EOF


def test_a_read_larger_than_the_buffer_comes_in_buffer_sized_pieces() -> None:
    conn, peer = _pair()
    payload = bytes(range(256)) * (transport._RECV_CHUNK // 256 + 100)
    writer = gevent.spawn(peer.sendall, payload)
    got = bytearray()
    for _ in range(10_000):  # bounded: the writer needs a few rounds
        data = conn.read()
        if data is None:
            gevent.sleep(0.001)
            continue
        assert 0 < len(data) <= transport._RECV_CHUNK
        got += data
        if len(got) == len(payload):
            break
    writer.join(timeout=5)
    assert bytes(got) == payload
