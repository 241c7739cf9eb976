"""Sessions really leave from several loopback source addresses, round-robin."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import gevent
import pytest

from loadtest.config import SessionOptions
from loadtest.metrics.recorder import Recorder
from loadtest.plugin.scale import SourceIPs
from loadtest.session import Session
from tests.integration.sessions import settled_stats

PROC_TCP = Path("/proc/net/tcp")
ESTABLISHED = "01"


def _peers_of_port(port: int) -> Counter[str]:
    """Return the remote addresses of the established TCP connections whose local port is ``port``.

    These are the peers the server's accepted sockets see (read from the kernel, not from us).
    """
    peers: Counter[str] = Counter()
    for line in PROC_TCP.read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state != ESTABLISHED or int(local.split(":")[1], 16) != port:
            continue
        address = socket.inet_ntoa(bytes.fromhex(remote.split(":")[0])[::-1])  # little-endian on x86/arm
        peers[address] += 1
    return peers


def _can_bind(address: str) -> bool:
    probe = socket.socket()
    try:
        probe.bind((address, 0))
    except OSError:
        return False
    finally:
        probe.close()
    return True


@pytest.mark.skipif(not PROC_TCP.exists(), reason="needs Linux /proc/net/tcp to see the server's peers")
def test_three_source_addresses_two_sessions_each(serve) -> None:
    if not _can_bind("127.0.0.4"):
        pytest.skip("127.0.0.2-127.0.0.4 are not usable source addresses on this host's loopback")
    server = serve()
    picker = SourceIPs.parse("127.0.0.2-127.0.0.4")
    options = SessionOptions(reply_timeout_s=5.0)
    recorder = Recorder()
    sessions = [Session(server.url, options, recorder, source_ip=picker.next()) for _ in range(6)]
    connects = [gevent.spawn(s.connect) for s in sessions]
    gevent.joinall(connects, timeout=10, raise_error=True)
    assert [g.value for g in connects] == [True] * 6
    assert all(s.is_open for s in sessions)
    readers = [gevent.spawn(s.read_until_end) for s in sessions]
    try:
        for session in sessions:
            session.request({"type": "echo", "payload": session.source_ip})
        seen_by_server = _peers_of_port(server.port)
        stats = server.stats()
    finally:
        for session in sessions:
            if session.is_open:
                session.close(1000)
        gevent.joinall(readers, timeout=5)
        gevent.killall(readers)
    assert [s.source_ip for s in sessions] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"] * 2
    assert seen_by_server == {"127.0.0.2": 2, "127.0.0.3": 2, "127.0.0.4": 2}
    assert stats["sessions"]["current"] == 6
    final = settled_stats(server)
    assert final["sessions"]["opened"] == 6 and final["closes"]["client"] == {"1000": 6}
    assert final["messages"]["received"] == 6 == recorder.counters["messages_received"]


def test_an_address_not_on_this_host_is_a_classified_handshake_failure(serve) -> None:
    server = serve()
    session = Session(server.url, SessionOptions(connect_timeout_s=2.0), Recorder(), source_ip="192.0.2.1")
    assert session.connect() is False
    assert server.stats()["sessions"]["opened"] == 0
