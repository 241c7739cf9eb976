"""Every fault the embedded server injects, seen by real sessions, with exact counts."""

from __future__ import annotations

import gevent

from loadtest.config import SessionOptions, with_query
from loadtest.session import Session
from tests.integration.sessions import assert_counts_match, run_sessions, settled_stats, wait_end


def _echo(n: int):
    def body(session: Session, index: int) -> None:
        for i in range(n):
            reply = session.request({"type": "echo", "n": i, "user": index})
            assert reply is not None and reply["n"] == i and reply["user"] == index

    return body


def test_echo_counts_and_sub_millisecond_rtt(serve) -> None:
    server = serve()
    run = run_sessions(server.url, 10, _echo(20))
    s = run.summary
    assert s["messages"]["sent"] == s["messages"]["received"] == 200
    assert s["rtt_ms"]["count"] == 200
    assert s["rtt_ms"]["min"] < 1.0 and s["rtt_ms"]["min"] != round(s["rtt_ms"]["min"])  # not whole ms
    assert s["closes"]["client"] == {"1000": 10}
    assert [r[0] for r in run.requests].count("echo") == 200
    assert_counts_match(run, settled_stats(server))


def test_protocol_and_app_ping(serve) -> None:
    server = serve()

    def body(session: Session, index: int) -> None:
        assert session.ping() is not None
        pong = session.request({"type": "ping"}, name="app_ping")
        assert pong is not None and pong["type"] == "pong"

    run = run_sessions(server.url, 3, body)
    assert run.summary["ping_rtt_ms"]["count"] == 3
    assert run.summary["rtt_ms"]["count"] == 3
    assert_counts_match(run, settled_stats(server))


def test_server_close_every_nth_with_code(serve) -> None:
    server = serve(
        "--close-every", "2", "--close-code", "1011", "--close-after", "0.2", "--close-reason", "boom"
    )
    run = run_sessions(server.url, 6, wait_end(1.0))
    assert run.summary["closes"]["server"] == {"1011": 3}
    assert run.summary["closes"]["client"] == {"1000": 3}
    ends = sorted(s.end for s in run.sessions if s.end)
    assert ends.count(("server", 1011, "boom")) == 3
    assert_counts_match(run, settled_stats(server))


def test_abrupt_drop_is_abnormal(serve) -> None:
    server = serve("--drop-every", "3", "--drop-after", "0.1")
    run = run_sessions(server.url, 6, wait_end(1.0))
    s = run.summary
    assert s["closes"]["abnormal"] == 2
    assert sum(s["closes"]["abnormal_reasons"].values()) == 2
    assert set(s["closes"]["abnormal_reasons"]) <= {"eof", "reset"}
    stats = settled_stats(server)
    assert stats["closes"]["dropped"] == 2
    assert_counts_match(run, stats)


def test_idle_timeout_drops_idle_sessions_only(serve) -> None:
    server = serve("--idle-timeout", "0.3")

    def body(session: Session, index: int) -> None:
        if index == 0:  # keeps talking: survives
            for _ in range(8):
                assert session.request({"type": "echo"}) is not None
                gevent.sleep(0.1)
        else:
            session.ended.wait(2.0)

    run = run_sessions(server.url, 3, body)
    assert run.summary["closes"]["abnormal"] == 2
    assert run.summary["closes"]["client"] == {"1000": 1}
    assert_counts_match(run, settled_stats(server))


def test_rejected_handshakes_by_status(serve) -> None:
    server = serve("--reject-every", "2", "--reject-status", "503")
    run = run_sessions(server.url, 6)
    s = run.summary
    assert s["handshake_failures"] == {"http_503": 3, "total": 3}
    assert s["sessions"]["opened"] == 3
    assert set(run.failures("connect")) == {
        "http_503: the server answered the upgrade with this HTTP status "
        "(the server or proxy is overloaded or limiting handshakes: back off)"
    }
    assert_counts_match(run, settled_stats(server))


def test_origin_allow_list(serve) -> None:
    server = serve("--allowed-origin", "https://good.test")
    bad = run_sessions(server.url, 2, options=SessionOptions(origin="https://evil.test"))
    good = run_sessions(server.url, 2, options=SessionOptions(origin="https://good.test"))
    assert bad.summary["handshake_failures"] == {"http_403": 2, "total": 2}
    assert "origin rejected or credentials missing" in bad.failures("connect")[0]
    assert good.summary["sessions"]["opened"] == 2
    stats = settled_stats(server)
    assert stats["handshakes"]["rejected"] == {"403": 2}
    assert stats["handshakes"]["accepted"] == 2


def test_token_in_query_or_header(serve) -> None:
    server = serve("--token", "s3cret")
    missing = run_sessions(server.url, 1)
    query = run_sessions(with_query(server.url, token="s3cret"), 1)
    header = run_sessions(server.url, 1, headers={"Authorization": "Bearer s3cret"})
    assert missing.summary["handshake_failures"] == {"http_401": 1, "total": 1}
    assert query.summary["sessions"]["opened"] == header.summary["sessions"]["opened"] == 1
    assert all("s3cret" not in text for text in missing.failures("connect"))
    assert settled_stats(server)["handshakes"] == {"accepted": 2, "rejected": {"401": 1}, "subprotocols": {}}


def test_auth_message_ok_and_refused(serve) -> None:
    server = serve("--token", "s3cret", "--auth-mode", "message")

    def auth(token: str):
        def body(session: Session, index: int) -> None:
            reply = session.request_typed(
                {"type": "auth", "token": token},
                reply_type="auth_result",
                name="auth",
                accept=lambda r: r.get("ok") is True,
            )
            if reply is None:
                session.ended.wait(2.0)

        return body

    ok = run_sessions(server.url, 1, auth("s3cret"))
    refused = run_sessions(server.url, 1, auth("wrong"))
    assert ok.summary["closes"]["client"] == {"1000": 1}
    assert refused.summary["closes"]["server"] == {"1008": 1}
    assert len(refused.failures("auth")) == 1
    stats = settled_stats(server)
    assert stats["auth"] == {"ok": 1, "failed": 1}


def test_message_too_big_is_1009(serve) -> None:
    server = serve("--max-message-size", "1000")

    def body(session: Session, index: int) -> None:
        assert session.send_binary(b"x" * 2000)
        session.ended.wait(2.0)

    run = run_sessions(server.url, 2, body)
    assert run.summary["closes"]["server"] == {"1009": 2}
    assert run.summary["messages"]["sent"] == 2  # sent, but refused by the server, not received
    stats = settled_stats(server)
    assert stats["closes"]["server"] == {"1009": 2}
    assert stats["messages"]["received"] == 0


def test_stopped_reader_builds_backpressure_until_send_timeout(serve) -> None:
    server = serve("--stop-reading")
    options = SessionOptions(sndbuf_bytes=65536, send_timeout_s=1.0, backpressure_threshold_bytes=32 * 1024)

    def body(session: Session, index: int) -> None:
        chunk = b"y" * 16384
        for _ in range(4096):  # at most 64 MiB, bounded
            if not session.send_binary(chunk):
                break

    run = run_sessions(server.url, 1, body, options=options)
    s = run.summary
    assert s["closes"]["abnormal_reasons"] == {"send_timeout": 1}
    assert s["backpressure"]["over_threshold"] > 0
    assert s["backpressure"]["send_queue_bytes"]["max"] >= 32 * 1024
    assert s["backpressure"]["send_stall_ms"]["max"] >= 100.0
    assert s["messages"]["sent"] < 4096


def test_drop_all_at_a_time(serve) -> None:
    server = serve("--drop-all-at", "0.8")
    gevent.sleep(0.1)
    run = run_sessions(server.url, 5, wait_end(3.0))
    assert run.summary["closes"]["abnormal"] == 5
    stats = settled_stats(server)
    assert stats["closes"]["dropped"] == 5
    assert_counts_match(run, stats)


def test_handshake_rate_cap_answers_503(serve) -> None:
    server = serve("--max-handshake-rate", "5")
    run = run_sessions(server.url, 20)
    s = run.summary
    assert s["sessions"]["opened"] + s["handshake_failures"].get("http_503", 0) == 20
    assert s["handshake_failures"].get("http_503", 0) >= 10
    assert_counts_match(run, settled_stats(server))
