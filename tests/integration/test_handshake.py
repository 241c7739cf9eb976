"""Every class of failed handshake, against real sockets on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.config import SessionOptions
from tests.integration.peers import make_cert, raw_peer, server_tls, upgrade
from tests.integration.sessions import run_sessions
from tests.ports import free_port


def _classes(url: str, **options: object) -> tuple[dict[str, int], list[str]]:
    run = run_sessions(url, 1, options=SessionOptions(**options))  # type: ignore[arg-type]
    failures = {k: v for k, v in run.summary["handshake_failures"].items() if k != "total"}
    return failures, run.failures("connect")


def test_refused_when_nothing_listens() -> None:
    port = free_port()
    failures, messages = _classes(f"ws://127.0.0.1:{port}/")
    assert failures == {"refused": 1}
    assert messages == [
        "refused: connection refused"
        " (nothing listens there: check the host, the port and that the server is up)"
    ]


def test_timeout_when_the_upgrade_is_never_answered() -> None:
    with raw_peer(lambda request: None) as port:
        failures, messages = _classes(f"ws://127.0.0.1:{port}/", connect_timeout_s=0.3)
    assert failures == {"timeout": 1}
    assert messages[0].startswith("timeout: no answer within the connect timeout")


def test_dns_failure() -> None:
    failures, _ = _classes("ws://no-such-host.invalid:80/", connect_timeout_s=3.0)
    assert failures == {"dns": 1}


@pytest.mark.parametrize(
    ("answer", "expected", "words"),
    [
        (
            lambda r: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            "http_200",
            "the proxy is not upgrading",
        ),
        (
            lambda r: b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n",
            "http_426",
            "not upgrading",
        ),
        (lambda r: b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", "http_502", "could not reach"),
        (lambda r: b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "protocol", "not valid HTTP"),
        (
            lambda r: upgrade(r, accept="d3JvbmcgYWNjZXB0IHZhbHVlIQ=="),
            "protocol",
            "wrong Sec-WebSocket-Accept",
        ),
        (lambda r: upgrade(r, upgrade_header=False), "protocol", "the proxy is not upgrading"),
        (lambda r: b"", "reset", "closed the connection during the handshake"),
    ],
)
def test_wrong_answers_are_classified(answer, expected: str, words: str) -> None:
    with raw_peer(answer) as port:
        failures, messages = _classes(f"ws://127.0.0.1:{port}/")
    assert failures == {expected: 1}
    assert words in messages[0]


def test_subprotocol_mismatch() -> None:
    with raw_peer(lambda r: upgrade(r)) as port:
        failures, messages = _classes(f"ws://127.0.0.1:{port}/", subprotocols=("chat.v2",))
    assert failures == {"protocol": 1}
    assert "subprotocol mismatch" in messages[0]


def test_tls_failures_are_classified(tmp_path: Path, serve) -> None:
    self_signed = make_cert(tmp_path, "localhost-ip", san="IP:127.0.0.1")
    other_name = make_cert(tmp_path, "example.test", san="DNS:example.test")
    with raw_peer(lambda r: upgrade(r), tls=server_tls(*self_signed)) as port:
        url = f"wss://127.0.0.1:{port}/"
        assert _classes(url)[0] == {"tls": 1}
        assert "self-signed" in _classes(url)[1][0]
        # the right CA bundle makes the same server pass, and TLS time is measured
        run = run_sessions(url, 1, options=SessionOptions(ca_file=self_signed[0]))
        assert run.summary["sessions"]["opened"] == 1
        assert run.summary["connect_phases_ms"]["tls"]["count"] == 1
        # skipping verification is an explicit opt-in that works
        assert run_sessions(url, 1, options=SessionOptions(insecure=True)).summary["sessions"]["opened"] == 1
    with raw_peer(lambda r: upgrade(r), tls=server_tls(*other_name)) as port:
        failures, messages = _classes(f"wss://127.0.0.1:{port}/", ca_file=other_name[0])
        assert failures == {"tls": 1} and "host name mismatch" in messages[0]
    plain = serve()
    failures, messages = _classes(plain.url.replace("ws://", "wss://"))
    assert failures == {"tls": 1} and "speak TLS" in messages[0]
