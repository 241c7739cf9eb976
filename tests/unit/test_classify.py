"""Unit tests for handshake classification, the 101 check, the buffered reader and the hint tables."""

from __future__ import annotations

import base64
import errno
import hashlib
import socket
import ssl

import pytest
from websocket._abnf import ABNF
from websocket._exceptions import (
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketTimeoutException,
)

from loadtest.errors import ConnectionEnded, HandshakeFailure
from loadtest.metrics import close_codes
from loadtest.metrics.handshake import HANDSHAKE_HINTS, hint, http_class
from loadtest.transport import Connection, classify
from loadtest.upgrade import check_upgrade as _check_upgrade

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def _accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _cert_error(code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    exc.verify_code = code
    return exc


# -- classify ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "failure_class", "detail"),
    [
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "dns",
            "the host name did not resolve",
        ),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused", "connection refused"),
        (TimeoutError(), "timeout", "no answer within the connect timeout"),
        # socket.timeout is an alias of TimeoutError since 3.10; kept to pin that it still classifies
        (socket.timeout("timed out"), "timeout", "no answer within the connect timeout"),  # noqa: UP041
        (
            ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
            "reset",
            "the server closed the connection during the handshake",
        ),
        (
            BrokenPipeError(errno.EPIPE, "Broken pipe"),
            "reset",
            "the server closed the connection during the handshake",
        ),
        (
            WebSocketConnectionClosedException("Connection to remote host was lost."),
            "reset",
            "the server closed the connection during the handshake",
        ),
        (
            WebSocketException("Invalid status line: 'garbage'"),
            "protocol",
            "the answer to the upgrade is not valid HTTP",
        ),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable", "no route to the host"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable", "no route to the host"),
        (
            OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
            "unreachable",
            "no route to the host",
        ),
        (OSError(errno.EMFILE, "Too many open files"), "error", "socket error EMFILE"),
        (OSError("no errno"), "error", "socket error unknown"),
    ],
)
def test_classify(exc: BaseException, failure_class: str, detail: str) -> None:
    failure = classify(exc)
    assert isinstance(failure, HandshakeFailure)
    assert failure.failure_class == failure_class
    assert failure.detail == detail
    assert str(failure) == f"{failure_class}: {detail}"


def test_classify_passes_handshake_failure_through() -> None:
    original = HandshakeFailure("http_403", "the server answered the upgrade with this HTTP status")
    assert classify(original) is original


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        (62, "host name mismatch"),
        (64, "host name mismatch (IP address)"),
        (10, "expired"),
        (18, "self-signed"),
        (19, "self-signed or unknown issuer"),
        (20, "self-signed or unknown issuer"),
        (21, "self-signed or unknown issuer"),
        (1, "certificate verify failed"),
    ],
)
def test_classify_certificate_errors(code: int, fragment: str) -> None:
    failure = classify(_cert_error(code))
    assert failure.failure_class == "tls"
    assert failure.detail.startswith("certificate verification failed: ")
    assert fragment in failure.detail


def test_classify_certificate_error_without_verify_code() -> None:
    failure = classify(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    assert failure.failure_class == "tls"
    assert failure.detail == "certificate verification failed: certificate verify failed"


@pytest.mark.parametrize(
    "text",
    [
        "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)",
        "[SSL: RECORD_LAYER_FAILURE] record layer failure (_ssl.c:1000)",
        "[SSL: PACKET_LENGTH_TOO_LONG] packet length too long (_ssl.c:1000)",
    ],
)
def test_classify_plain_port_spoken_to_with_tls(text: str) -> None:
    failure = classify(ssl.SSLError(1, text))
    assert failure.failure_class == "tls"
    assert failure.detail == "handshake failed: the port does not speak TLS"
    assert "does not speak TLS" in failure.detail


def test_classify_other_ssl_error() -> None:
    failure = classify(ssl.SSLError(1, "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure"))
    assert failure.failure_class == "tls"
    assert failure.detail == "handshake failed"


@pytest.mark.parametrize("exc", [KeyError("x"), ValueError("bug"), RuntimeError("bug"), AttributeError("x")])
def test_classify_reraises_non_network_exceptions(exc: Exception) -> None:
    with pytest.raises(type(exc)) as info:
        classify(exc)
    assert info.value is exc


def test_classify_websocket_timeout_is_timeout() -> None:
    # read_headers() turns the TimeoutError that gevent.Timeout raises inside recv into
    # WebSocketTimeoutException: a server that never answers the upgrade is a timeout, not "protocol".
    failure = classify(WebSocketTimeoutException("Connection timed out"))
    assert failure.failure_class == "timeout"
    assert failure.detail == "no answer within the connect timeout"


def test_classify_tls_eof_means_port_may_not_speak_tls() -> None:
    failure = classify(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    assert failure.failure_class == "tls"
    assert failure.detail == "the server hung up during the TLS handshake: the port may not speak TLS"


# -- _check_upgrade ---------------------------------------------------------------------------------


def _headers(**extra: str) -> dict[str, str]:
    headers = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-accept": _accept(KEY)}
    headers.update(extra)
    return headers


def test_accept_for_rfc_sample_key() -> None:
    # RFC 6455 section 1.3 example
    assert _accept(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_check_upgrade_accepts_correct_answer() -> None:
    assert _check_upgrade(_headers(), KEY, ()) is None


def test_check_upgrade_header_values_are_case_and_list_tolerant() -> None:
    headers = _headers(upgrade="WebSocket", connection="keep-alive, Upgrade")
    assert _check_upgrade(headers, KEY, ()) is None


def test_check_upgrade_accept_surrounding_whitespace_is_tolerated() -> None:
    assert _check_upgrade(_headers(**{"sec-websocket-accept": f" {_accept(KEY)} "}), KEY, ()) is None


def _failure(headers: dict[str, str], subprotocols: tuple[str, ...] = ()) -> HandshakeFailure:
    with pytest.raises(HandshakeFailure) as info:
        _check_upgrade(headers, KEY, subprotocols)
    return info.value


def test_check_upgrade_wrong_accept() -> None:
    failure = _failure(_headers(**{"sec-websocket-accept": _accept("b3RoZXIga2V5IDEyMzQ1Ng==")}))
    assert failure.failure_class == "protocol"
    assert "Sec-WebSocket-Accept" in failure.detail


def test_check_upgrade_missing_accept() -> None:
    headers = _headers()
    del headers["sec-websocket-accept"]
    failure = _failure(headers)
    assert failure.failure_class == "protocol"
    assert failure.detail == "wrong Sec-WebSocket-Accept"


def test_check_upgrade_missing_upgrade_header() -> None:
    headers = _headers()
    del headers["upgrade"]
    failure = _failure(headers)
    assert failure.failure_class == "protocol"
    assert "not upgrading" in failure.detail
    assert failure.detail == "101 without 'Upgrade: websocket': the proxy is not upgrading"


def test_check_upgrade_missing_connection_header() -> None:
    headers = _headers(connection="keep-alive")
    failure = _failure(headers)
    assert failure.failure_class == "protocol"
    assert failure.detail == "101 without 'Connection: upgrade': the proxy is not upgrading"


def test_check_upgrade_returns_chosen_subprotocol() -> None:
    headers = _headers(**{"sec-websocket-protocol": " Chat.v2 "})
    assert _check_upgrade(headers, KEY, ("chat.v1", "chat.v2")) == "Chat.v2"


def test_check_upgrade_subprotocol_offered_but_none_chosen() -> None:
    failure = _failure(_headers(), ("chat.v1",))
    assert failure.failure_class == "protocol"
    assert "subprotocol mismatch" in failure.detail
    assert failure.detail == "subprotocol mismatch: the server picked none of ours"


def test_check_upgrade_subprotocol_chosen_not_among_offered() -> None:
    failure = _failure(_headers(**{"sec-websocket-protocol": "mqtt"}), ("chat.v1",))
    assert failure.failure_class == "protocol"
    assert failure.detail == "subprotocol mismatch: the server picked none of ours"


def test_check_upgrade_subprotocol_chosen_but_not_offered() -> None:
    failure = _failure(_headers(**{"sec-websocket-protocol": "chat.v1"}))
    assert failure.failure_class == "protocol"
    assert "subprotocol mismatch" in failure.detail
    assert failure.detail == "subprotocol mismatch: the server picked one we did not offer"


# -- Connection.recv_message over a scripted socket (no network) ------------------------------------


class _FakeSocket:
    """Hands out scripted reads (``recv_into``, as the connection reads): bytes, or an exception to raise."""

    def __init__(self, chunks: list[bytes | BaseException]) -> None:
        self.chunks = list(chunks)
        self.recv_calls = 0

    def fileno(self) -> int:
        return -1

    def recv_into(self, buffer: memoryview) -> int:
        self.recv_calls += 1
        item = self.chunks.pop(0)
        if isinstance(item, BaseException):
            raise item
        size = min(len(item), len(buffer))
        buffer[:size] = item[:size]
        return size

    def close(self) -> None:
        pass


def _connection(chunks: list[bytes | BaseException]) -> tuple[Connection, _FakeSocket]:
    sock = _FakeSocket(chunks)
    return Connection(sock, send_timeout_s=1.0), sock  # type: ignore[arg-type]


def _server_frame(opcode: int, payload: bytes) -> bytes:
    return ABNF(1, 0, 0, 0, opcode, 0, payload).format()  # server frames are unmasked


def test_one_recv_serves_every_frame_it_holds() -> None:
    wire = b"".join(_server_frame(ABNF.OPCODE_TEXT, b"m%d" % i) for i in range(5))
    conn, sock = _connection([wire])
    assert [conn.recv_message() for _ in range(5)] == [(ABNF.OPCODE_TEXT, b"m%d" % i) for i in range(5)]
    assert sock.recv_calls == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (b"", "eof"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "reset"),
        (BrokenPipeError(errno.EPIPE, "pipe"), "reset"),
        (OSError(errno.EBADF, "bad fd"), "error"),
    ],
)
def test_recv_message_ends_connection(error: bytes | BaseException, reason: str) -> None:
    conn, _ = _connection([error])
    with pytest.raises(ConnectionEnded) as info:
        conn.recv_message()
    assert info.value.reason == reason


def test_recv_message_reassembles_frames_split_across_chunks() -> None:
    wire = (
        _server_frame(ABNF.OPCODE_TEXT, b"hello")
        + _server_frame(ABNF.OPCODE_BINARY, b"x" * 300)  # 16-bit extended length
        + _server_frame(ABNF.OPCODE_BINARY, b"y" * 70_000)  # 64-bit extended length
        + _server_frame(ABNF.OPCODE_CLOSE, b"\x03\xf3bye")
    )
    assert wire[:2] == b"\x81\x05"
    chunks: list[bytes | BaseException] = [wire[:1], wire[1:3], wire[3:9], wire[9:200], wire[200:], b""]
    conn, _ = _connection(chunks)

    frames = [conn.recv_message() for _ in range(4)]

    assert frames == [
        (ABNF.OPCODE_TEXT, b"hello"),
        (ABNF.OPCODE_BINARY, b"x" * 300),
        (ABNF.OPCODE_BINARY, b"y" * 70_000),
        (ABNF.OPCODE_CLOSE, b"\x03\xf3bye"),
    ]
    with pytest.raises(ConnectionEnded) as info:
        conn.recv_message()
    assert info.value.reason == "eof"


# -- handshake hints ------------------------------------------------------------------------------


def test_http_class() -> None:
    assert http_class(403) == "http_403"


@pytest.mark.parametrize("failure_class", ["http_200", "http_400", "http_426"])
def test_hint_proxy_not_upgrading(failure_class: str) -> None:
    assert "proxy is not upgrading" in hint(failure_class)


@pytest.mark.parametrize("failure_class", sorted(HANDSHAKE_HINTS))
def test_every_class_has_its_hint(failure_class: str) -> None:
    text = hint(failure_class)
    assert text == HANDSHAKE_HINTS[failure_class]
    assert text.strip()
    assert "\n" not in text


@pytest.mark.parametrize(
    ("failure_class", "expected"),
    [
        ("http_401", "credentials missing or wrong: check the token"),
        ("http_403", "origin rejected or credentials missing"),
        ("http_302", "redirected: point the run at the final ws:// URL"),
        ("http_204", "the proxy is not upgrading: the answer was not 101 Switching Protocols"),
        ("http_418", "the server refused the upgrade: check its logs"),
        ("http_abc", HANDSHAKE_HINTS["protocol"]),
        ("no_such_class", HANDSHAKE_HINTS["error"]),
    ],
)
def test_hint_fallbacks(failure_class: str, expected: str) -> None:
    assert hint(failure_class) == expected


# -- close codes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "meaning", "code_hint"),
    [
        (1000, "normal closure", "expected"),
        (1006, "abnormal closure, no close frame", "check network, server logs and proxy idle timeouts"),
        (1009, "message too big", "reduce message size or raise the server limit"),
        (1011, "internal server error", "server bug: check its logs"),
        (4001, "application-defined", "the application closed it: check the server's own code table"),
        (3000, "registered by a library or framework", "not a standard code: check the server"),
        (999, "unknown", "not a standard code: check the server"),
    ],
)
def test_close_code_meaning_and_hint(code: int, meaning: str, code_hint: str) -> None:
    assert close_codes.meaning(code) == meaning
    assert close_codes.hint(code) == code_hint


def test_close_code_constants() -> None:
    assert (close_codes.SERVER, close_codes.CLIENT, close_codes.ABNORMAL) == ("server", "client", "abnormal")
    assert close_codes.NO_STATUS == 1005
    assert close_codes.ABNORMAL_CODE == 1006
