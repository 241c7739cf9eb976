"""Integration tests of the embedded target server over real loopback sockets."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websocket

from loadtest.server import EmbeddedServer, ServerOptions, parse_args

ROOT = Path(__file__).resolve().parents[2]


def connect(server: EmbeddedServer, path: str = "", **kwargs: Any) -> websocket.WebSocket:
    """Open a synchronous websocket-client connection to ``server``."""
    return websocket.create_connection(server.url + path, timeout=5, **kwargs)


def recv_close(ws: websocket.WebSocket) -> tuple[int, str]:
    """Read frames until a close frame arrives; return its code and reason, then drop the socket."""
    opcode, frame = ws.recv_data_frame(True)
    while opcode != websocket.ABNF.OPCODE_CLOSE:
        opcode, frame = ws.recv_data_frame(True)
    code = struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else 1005
    ws.shutdown()
    return code, frame.data[2:].decode()


def expect_eof(ws: websocket.WebSocket) -> None:
    """Assert that the connection ends without a close frame."""
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionResetError)):
        ws.recv_data_frame(True)
    ws.shutdown()


def settled(server: EmbeddedServer, opened: int | None = None) -> dict[str, Any]:
    """Poll /stats until no session is open (and ``opened`` sessions were seen); return the stats."""
    deadline = time.monotonic() + 5
    while True:
        stats = server.stats()
        sessions = stats["sessions"]
        if sessions["current"] == 0 and (opened is None or sessions["opened"] == opened):
            return stats
        assert time.monotonic() < deadline, f"server did not settle: {stats}"
        time.sleep(0.02)


def expected(**changes: Any) -> dict[str, Any]:
    """Return an all-zero /stats document with the given sections updated."""
    base: dict[str, Any] = {
        "handshakes": {"accepted": 0, "rejected": {}, "subprotocols": {}},
        "sessions": {"opened": 0, "current": 0, "peak_concurrent": 0},
        "closes": {"server": {}, "client": {}, "abnormal": 0, "dropped": 0},
        "messages": {
            "received": 0,
            "sent": 0,
            "bytes_received": 0,
            "bytes_sent": 0,
            "binary_received": 0,
            "fragmented_received": 0,
        },
        "auth": {"ok": 0, "failed": 0},
    }
    for section, values in changes.items():
        base[section].update(values)
    opened = base["sessions"]["opened"]
    base["sessions"].setdefault("by_source", {"127.0.0.1": opened} if opened else {})
    return base


def sessions(n: int, peak: int = 1) -> dict[str, Any]:
    """Return the handshakes and sessions sections for ``n`` accepted sessions."""
    return {
        "handshakes": {"accepted": n, "rejected": {}},
        "sessions": {"opened": n, "current": 0, "peak_concurrent": peak},
    }


def test_echo_and_app_ping(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve()
    ws = connect(server)
    ws.send("héllo")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, "héllo".encode())
    ws.send_binary(b"\x00\xff")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, b"\x00\xff")
    ws.send('{"type":"ping","id":42,"t":1}')
    assert json.loads(ws.recv()) == {"type": "pong", "id": 42}
    ws.send('{"type":"ping"}')
    assert json.loads(ws.recv()) == {"type": "pong"}
    ws.send('{"type":"other"}')
    assert ws.recv() == '{"type":"other"}'
    ws.send("{not json")
    assert ws.recv() == "{not json"
    ws.close()
    pongs = len(b'{"type":"pong","id":42}') + len(b'{"type":"pong"}')
    received = 6 + 2 + len(b'{"type":"ping","id":42,"t":1}') + 15 + 16 + 9
    assert settled(server) == expected(
        **sessions(1),
        closes={"client": {"1000": 1}},
        messages={
            "received": 6,
            "binary_received": 1,
            "sent": 6,
            "bytes_received": received,
            "bytes_sent": 6 + 2 + pongs + 16 + 9,
        },
    )


def test_client_close_codes_and_reset(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve()
    connect(server).close()
    connect(server).close(status=4000)
    ws = connect(server)
    ws.send(b"", websocket.ABNF.OPCODE_CLOSE)  # a close frame without a code
    assert recv_close(ws)[0] == 1005
    ws = connect(server)
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.sock.close()  # TCP RST, no close frame
    stats = settled(server, opened=4)
    assert stats == expected(
        **sessions(4), closes={"client": {"1000": 1, "4000": 1, "1005": 1}, "abnormal": 1}
    )
    assert server.reset_stats() == stats
    assert server.stats() == expected()


def test_close_every(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve(
        "--close-every", "2", "--close-code", "4001", "--close-reason", "bye", "--close-after", "0.2"
    )
    seen = []
    for _ in range(4):
        ws = connect(server)
        ws.send("x")
        assert ws.recv() == "x"
        if len(seen) % 2 == 1:
            seen.append(recv_close(ws))
        else:
            ws.close()
            seen.append((1000, ""))
    assert seen == [(1000, ""), (4001, "bye"), (1000, ""), (4001, "bye")]
    assert settled(server, opened=4) == expected(
        **sessions(4),
        closes={"server": {"4001": 2}, "client": {"1000": 2}},
        messages={"received": 4, "sent": 4, "bytes_received": 4, "bytes_sent": 4},
    )


def test_drop_every(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--drop-every", "2", "--drop-after", "0.1")
    first = connect(server)
    second = connect(server)
    expect_eof(second)
    first.send("still here")
    assert first.recv() == "still here"
    first.close()
    assert settled(server, opened=2) == expected(
        **sessions(2, peak=2),
        closes={"client": {"1000": 1}, "abnormal": 1, "dropped": 1},
        messages={"received": 1, "sent": 1, "bytes_received": 10, "bytes_sent": 10},
    )


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_a_dropped_session_counts_what_reached_the_server_before_the_abort(tmp_path: Path, tls: bool) -> None:
    """Messages the client wrote whole before --drop-every's abort are the server's ``received``,
    even when the event loop had not polled the socket yet (they were read from the kernel
    first, through the TLS layer under TLS); their echoes are never counted as sent. Before, the
    abort discarded them unread, and a run's ``sent`` exceeded the target's ``received`` (288 vs
    289 in a distributed run)."""
    from tests.certs import make_chain

    chain = make_chain(tmp_path) if tls else None
    certs = [chain.server_cert, chain.server_key] if chain else []
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("abort_race.py")), *certs],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout.splitlines()[-1])
    assert (counts["received"], counts["bytes_received"], counts["sent"]) == (3, 21, 0)


def test_idle_timeout_aborts(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--idle-timeout", "0.3")
    busy = connect(server)
    idle = connect(server)
    for _ in range(6):  # 0.6 s of activity keeps the session alive
        busy.ping()
        time.sleep(0.1)
    busy.send("alive")
    assert busy.recv() == "alive"
    expect_eof(idle)
    busy.close()
    assert settled(server, opened=2) == expected(
        **sessions(2, peak=2),
        closes={"client": {"1000": 1}, "abnormal": 1, "dropped": 1},
        messages={"received": 1, "sent": 1, "bytes_received": 5, "bytes_sent": 5},
    )


def test_idle_timeout_with_close_code(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--idle-timeout", "0.3", "--idle-close-code", "4008")
    started = time.monotonic()
    assert recv_close(connect(server)) == (4008, "idle timeout")
    assert 0.25 < time.monotonic() - started < 3
    assert settled(server, opened=1) == expected(**sessions(1), closes={"server": {"4008": 1}})


def test_reject_every(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--reject-every", "2", "--reject-status", "503")
    statuses = []
    for _ in range(4):
        try:
            connect(server).close()
            statuses.append(101)
        except websocket.WebSocketBadStatusException as exc:
            statuses.append(exc.status_code)
    assert statuses == [101, 503, 101, 503]
    stats = settled(server, opened=2)
    assert stats["handshakes"] == {"accepted": 2, "rejected": {"503": 2}, "subprotocols": {}}
    assert stats["sessions"]["opened"] == 2
    assert stats["closes"] == {"server": {}, "client": {"1000": 2}, "abnormal": 0, "dropped": 0}


def test_allowed_origin(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--allowed-origin", "http://good.example", "--allowed-origin", "http://ok.example")
    connect(server, origin="http://ok.example").close()
    for kwargs in ({"origin": "http://evil.example"}, {"suppress_origin": True}):
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            connect(server, **kwargs)
        assert info.value.status_code == 403
    stats = settled(server, opened=1)
    assert stats["handshakes"] == {"accepted": 1, "rejected": {"403": 2}, "subprotocols": {}}


def test_token_in_handshake(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--token", "s3cret")
    connect(server, "/?token=s3cret").close()
    connect(server, header=["Authorization: Bearer s3cret"]).close()
    for path, headers in (("/", []), ("/?token=nope", []), ("/", ["Authorization: Bearer nope"])):
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            connect(server, path, header=headers)
        assert info.value.status_code == 401
    stats = settled(server, opened=2)
    assert stats["handshakes"] == {"accepted": 2, "rejected": {"401": 3}, "subprotocols": {}}
    assert stats["auth"] == {"ok": 0, "failed": 0}


def test_token_in_first_message(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--token", "s3cret", "--auth-mode", "message")
    good = connect(server)
    good.send('{"type":"auth","token":"s3cret"}')
    assert json.loads(good.recv()) == {"type": "auth_result", "ok": True}
    good.send("echo")
    assert good.recv() == "echo"
    good.close()
    bad = connect(server)
    bad.send('{"type":"auth","token":"wrong"}')
    assert json.loads(bad.recv()) == {"type": "auth_result", "ok": False}
    assert recv_close(bad)[0] == 1008
    stats = settled(server, opened=2)
    assert stats["auth"] == {"ok": 1, "failed": 1}
    assert stats["closes"] == {"server": {"1008": 1}, "client": {"1000": 1}, "abnormal": 0, "dropped": 0}
    assert stats["messages"]["received"] == 3
    assert stats["messages"]["sent"] == 3


def test_max_message_size(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--max-message-size", "1024")
    ws = connect(server)
    ws.send_binary(b"a" * 1024)
    assert ws.recv() == b"a" * 1024
    ws.send_binary(b"b" * 1025)
    assert recv_close(ws)[0] == 1009
    stats = settled(server, opened=1)
    assert stats["closes"] == {"server": {"1009": 1}, "client": {}, "abnormal": 0, "dropped": 0}
    assert (
        stats["messages"]
        == expected(
            messages={
                "received": 1,
                "sent": 1,
                "bytes_received": 1024,
                "bytes_sent": 1024,
                "binary_received": 1,
            }
        )["messages"]
    )


def test_stop_reading_builds_backpressure(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--stop-reading")
    ws = connect(server)
    sock = ws.sock
    sock.setblocking(False)
    frame = websocket.ABNF.create_frame(b"z" * 65536, websocket.ABNF.OPCODE_BINARY).format()
    sent, blocked, deadline = 0, False, time.monotonic() + 5
    while sent < 64 * 2**20 and time.monotonic() < deadline:
        try:
            sent += sock.send(frame)
        except BlockingIOError:
            blocked = True
            break
    assert blocked, f"sent {sent} bytes without backpressure"
    assert server.stats()["sessions"]["current"] == 1
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST: the stalled session notices the peer is gone
    stats = settled(server, opened=1)
    assert stats["closes"] == {"server": {}, "client": {}, "abnormal": 1, "dropped": 0}
    assert stats["messages"]["received"] == 0


def test_drop_all_at(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--drop-all-at", "1.0")
    clients = [connect(server) for _ in range(3)]
    for ws in clients:
        expect_eof(ws)
    after = connect(server)  # sessions opened later are not affected
    after.close()
    assert settled(server, opened=4) == expected(
        **sessions(4, peak=3), closes={"client": {"1000": 1}, "abnormal": 3, "dropped": 3}
    )


def test_max_handshake_rate(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--max-handshake-rate", "2")
    opened, refused = [], 0
    for _ in range(6):
        try:
            opened.append(connect(server))
        except websocket.WebSocketBadStatusException as exc:
            assert exc.status_code == 503
            refused += 1
    for ws in opened:
        ws.close()
    assert refused >= 2 and len(opened) <= 4  # 6 fast handshakes span at most two one-second windows
    stats = settled(server, opened=len(opened))
    assert stats["handshakes"] == {"accepted": len(opened), "rejected": {"503": refused}, "subprotocols": {}}


def test_read_delay_and_protocol_pings(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--read-delay", "0.2", "--protocol-ping-interval", "0.2")
    ws = connect(server)
    started = time.monotonic()
    ws.send("slow")
    opcode, frame = ws.recv_data_frame(True)
    while opcode == websocket.ABNF.OPCODE_PING:  # answered automatically by websocket-client
        opcode, frame = ws.recv_data_frame(True)
    assert (opcode, frame.data) == (websocket.ABNF.OPCODE_TEXT, b"slow")
    assert time.monotonic() - started >= 0.2
    opcode, _ = ws.recv_data_frame(True)
    assert opcode == websocket.ABNF.OPCODE_PING
    ws.close()
    stats = settled(server, opened=1)
    assert (
        stats["messages"]
        == expected(messages={"received": 1, "sent": 1, "bytes_received": 4, "bytes_sent": 4})["messages"]
    )


def test_sigterm_closes_sessions_with_1001() -> None:
    server = EmbeddedServer().start()
    ws = connect(server)
    assert server.stop() == 0
    assert recv_close(ws)[0] == 1001
    assert not server.is_running()


def test_embedded_server_reports_startup_failure() -> None:
    with pytest.raises(RuntimeError, match="close-every"):
        EmbeddedServer(["--close-every", "0", "--close-code", "1000"]).start()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 70000}, "--port"),
        ({"close_every": 2}, "--close-every and --close-code"),
        ({"close_every": 0, "close_code": 1000}, "--close-every must be an integer"),
        ({"close_every": 2, "close_code": 1006}, "--close-code must be a close code"),
        ({"idle_close_code": 1000}, "--idle-close-code needs --idle-timeout"),
        ({"idle_timeout": 0.0}, "--idle-timeout"),
        ({"reject_every": 2, "reject_status": 200}, "--reject-status"),
        ({"reject_every": 2}, "--reject-every and --reject-status"),
        ({"auth_mode": "cookie"}, "--auth-mode"),
        ({"read_delay": -1.0}, "--read-delay"),
        ({"drop_all_every": float("inf")}, "--drop-all-every"),
    ],
)
def test_options_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerOptions(**kwargs)


def test_options_round_trip() -> None:
    options = ServerOptions(
        port=0, close_every=3, close_code=4000, allowed_origins=("a", "b"), stop_reading=True, read_delay=0.5
    )
    assert parse_args(options.to_args()) == options
    assert parse_args([]) == ServerOptions()
    with pytest.raises(SystemExit) as info:
        parse_args(["--drop-every", "-1"])
    assert info.value.code == 2


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loadtest.cli`` with ``args``."""
    return subprocess.run(
        [sys.executable, "-m", "loadtest.cli", *args], capture_output=True, text=True, timeout=20, cwd=ROOT
    )


def test_cli() -> None:
    top = run_cli("--help")
    assert top.returncode == 0 and "serve" in top.stdout
    serve = run_cli("serve", "--help")
    assert serve.returncode == 0
    assert "usage: loadtest serve" in serve.stdout and "--close-every" in serve.stdout
    bad = run_cli("bogus")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "unknown subcommand 'bogus'" in bad.stderr


def test_required_headers_and_subprotocols(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve("--require-header", "X-Probe: yes", "--subprotocol", "chat", "--subprotocol", "v2")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(server)
    assert refused.value.status_code == 400
    ws = connect(server, header=["X-Probe: yes"], subprotocols=["v2"])
    assert ws.getsubprotocol() == "v2"
    ws.close()
    stats = settled(server, opened=1)
    assert stats["handshakes"] == {"accepted": 1, "rejected": {"400": 1}, "subprotocols": {"v2": 1}}


def test_fragmented_binary_messages_and_sources_are_counted(serve: Callable[..., EmbeddedServer]) -> None:
    server = serve()
    ws = connect(server)
    ws.send_frame(websocket.ABNF.create_frame(b"ab", websocket.ABNF.OPCODE_BINARY, fin=0))
    ws.send_frame(websocket.ABNF.create_frame(b"cd", websocket.ABNF.OPCODE_CONT, fin=1))
    assert ws.recv() == b"abcd"
    ws.send("plain")
    assert ws.recv() == "plain"
    ws.close()
    stats = settled(server, opened=1)
    assert stats["messages"]["received"] == 2
    assert stats["messages"]["binary_received"] == 1 and stats["messages"]["fragmented_received"] == 1
    assert stats["sessions"]["by_source"] == {"127.0.0.1": 1}


def test_tls_with_client_certificates(tmp_path: Path) -> None:

    from tests.certs import make_chain

    chain = make_chain(tmp_path)
    args = ["--certfile", chain.server_cert, "--keyfile", chain.server_key, "--client-ca", chain.ca]
    with EmbeddedServer(args, stats_client_cert=(chain.client_cert, chain.client_key)) as server:
        _tls_session(server, chain.ca, chain.client_cert, chain.client_key)


def _tls_session(server: EmbeddedServer, ca: str, cert: str, key: str) -> None:
    import ssl

    assert server.url.startswith("wss://127.0.0.1:")
    verify = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": ca}
    with pytest.raises((ssl.SSLError, ConnectionResetError, websocket.WebSocketException)):
        websocket.create_connection(server.url, timeout=5, sslopt=verify).recv()  # no client certificate
    ws = websocket.create_connection(
        server.url, timeout=5, sslopt={**verify, "certfile": cert, "keyfile": key}
    )
    ws.send("over tls")
    assert ws.recv() == "over tls"
    ws.close()
    assert settled(server, opened=1)["messages"]["received"] == 1
