"""Unit tests for loadtest.config: target URL validation, URL helpers and SessionOptions."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest.config import (
    SessionOptions,
    join_url,
    redact_url,
    validate_target_url,
    with_query,
)
from loadtest.errors import ConfigError, TargetURLError


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:8765/path",
        "wss://example.com/ws",
        "ws://example.com",
        "ws://example.com:80",
        "wss://example.com:443/a/b?x=1&y=2",
        "WS://Example.com/ws",
        "ws://[::1]:8765/ws",
    ],
)
def test_ws_and_wss_urls_are_accepted(url: str) -> None:
    assert validate_target_url(url) == url


def test_surrounding_whitespace_is_stripped() -> None:
    assert validate_target_url("  ws://h:1/x \n") == "ws://h:1/x"


def _message(url: str) -> str:
    with pytest.raises(TargetURLError) as info:
        validate_target_url(url)
    message = str(info.value)
    assert "\n" not in message
    assert message.strip() == message
    return message


def test_target_url_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        validate_target_url("http://h/x")


def test_https_suggests_wss() -> None:
    message = _message("https://example.com/ws")
    assert "wss://example.com/ws" in message
    assert message == (
        "target 'https://example.com/ws' is an https:// URL: WebSocket targets use wss://, e.g. wss://example.com/ws"
    )


def test_http_suggests_ws() -> None:
    message = _message("http://h/x")
    assert "ws://h/x" in message
    assert "wss://" not in message
    assert "http://" in message


def test_http_suggestion_keeps_port_path_and_query() -> None:
    message = _message("http://h:8080/x?room=1")
    assert message.endswith("e.g. ws://h:8080/x?room=1")


def test_https_message_redacts_credentials() -> None:
    message = _message("https://alice:hunter2@example.com/ws?token=s3cret")
    assert "hunter2" not in message
    assert "s3cret" not in message
    assert "wss://***@example.com/ws?token=***" in message


def test_missing_scheme_suggests_ws() -> None:
    message = _message("example.com/ws")
    assert "ws://example.com/ws" in message
    assert "no scheme" in message


@pytest.mark.parametrize("url", ["example.com/ws?token=s3cret", "alice:s3cret@example.com/ws"])
def test_missing_scheme_message_redacts_secrets(url: str) -> None:
    message = _message(url)
    assert "s3cret" not in message


def test_ftp_is_rejected() -> None:
    message = _message("ftp://x")
    assert "'ftp' is not ws or wss" in message


def test_no_host_is_rejected() -> None:
    assert "has no host" in _message("ws://")
    assert "has no host" in _message("ws:///path")
    assert "has no host" in _message("ws://:80/x")


@pytest.mark.parametrize("url", ["ws://h:99999", "ws://h:abc", "ws://h:-1"])
def test_bad_port_is_rejected(url: str) -> None:
    assert "has a bad port: use a number from 1 to 65535" in _message(url)


def test_port_zero_is_rejected() -> None:
    assert "bad port" in _message("ws://h:0")


@pytest.mark.parametrize("url", ["", "   "])
def test_empty_target_is_rejected(url: str) -> None:
    assert _message(url).startswith("no target: pass --host ws://")


def test_redact_url_hides_query_tokens() -> None:
    out = redact_url("wss://h/x?a=1&token=T0KEN&access_token=AcC3ss#frag")
    assert "T0KEN" not in out
    assert "AcC3ss" not in out
    assert out == "wss://h/x?a=1&token=***&access_token=***#frag"


def test_redact_url_is_case_insensitive_and_covers_other_secrets() -> None:
    out = redact_url("ws://h/x?Token=aaa&api_key=bbb&password=ccc&room=lobby")
    for secret in ("aaa", "bbb", "ccc"):
        assert secret not in out
    assert "room=lobby" in out


def test_redact_url_hides_user_info() -> None:
    out = redact_url("wss://alice:hunter2@example.com:8443/ws")
    assert "hunter2" not in out
    assert "alice" not in out
    assert out == "wss://***@example.com:8443/ws"


def test_redact_url_leaves_plain_urls_alone() -> None:
    assert redact_url("ws://127.0.0.1:8765/path?room=1") == "ws://127.0.0.1:8765/path?room=1"


def test_with_query_adds_params() -> None:
    assert with_query("ws://h/p", token="abc") == "ws://h/p?token=abc"


def test_with_query_keeps_existing_query_and_fragment() -> None:
    assert with_query("ws://h/p?a=1&b=#f", token="abc") == "ws://h/p?a=1&b=&token=abc#f"


def test_with_query_escapes_values() -> None:
    assert with_query("ws://h/p", token="a b/c&d=e") == "ws://h/p?token=a+b%2Fc%26d%3De"


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("ws://h:1", "", "ws://h:1"),
        ("ws://h:1", "chat", "ws://h:1/chat"),
        ("ws://h:1/", "/chat", "ws://h:1/chat"),
        ("ws://h:1/api/", "v1/chat", "ws://h:1/api/v1/chat"),
        ("ws://h:1", "wss://other/x", "wss://other/x"),
        ("ws://h:1", "ws://other/x", "ws://other/x"),
    ],
)
def test_join_url(host: str, path: str, expected: str) -> None:
    assert join_url(host, path) == expected


def test_session_options_defaults() -> None:
    options = SessionOptions()
    assert options.connect_timeout_s == 5.0
    assert options.reply_timeout_s == 10.0
    assert options.send_timeout_s == 10.0
    assert options.close_timeout_s == 2.0
    assert options.token is None
    assert options.token_mode == "query"
    assert options.backpressure_threshold_bytes == 1 << 20


@pytest.mark.parametrize(
    "name", ["connect_timeout_s", "reply_timeout_s", "send_timeout_s", "close_timeout_s"]
)
@pytest.mark.parametrize("value", [0, 0.0, -1.0])
def test_non_positive_timeouts_raise(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a positive number of seconds"):
        SessionOptions(**{name: value})  # type: ignore[arg-type]


def test_bad_token_mode_raises() -> None:
    with pytest.raises(ConfigError, match="token mode 'cookie' is not one of query, header, message"):
        SessionOptions(token_mode="cookie")


@pytest.mark.parametrize("mode", ["query", "header", "message"])
def test_token_modes_accepted(mode: str) -> None:
    assert SessionOptions(token="t", token_mode=mode).token_mode == mode


def test_client_key_without_cert_raises() -> None:
    with pytest.raises(ConfigError, match="client key needs a client certificate"):
        SessionOptions(client_key="/tmp/key.pem")


def test_client_key_with_cert_is_accepted() -> None:
    options = SessionOptions(client_cert="/tmp/cert.pem", client_key="/tmp/key.pem")
    assert (options.client_cert, options.client_key) == ("/tmp/cert.pem", "/tmp/key.pem")


@pytest.mark.parametrize("kwargs", [{"sndbuf_bytes": -1}, {"backpressure_threshold_bytes": 0}])
def test_bad_buffer_sizes_raise(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError, match="SO_SNDBUF"):
        SessionOptions(**kwargs)  # type: ignore[arg-type]


def test_repr_hides_token() -> None:
    options = SessionOptions(token="s3cret")
    assert "s3cret" not in repr(options)
    assert "s3cret" not in str(options)
    assert options.token == "s3cret"


def test_session_options_are_frozen() -> None:
    options = SessionOptions()
    with pytest.raises(AttributeError):
        options.token = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"headers": {"X-A": "1\r\nX-Injected: yes"}}, "contains a line break"),
        ({"headers": {"X-A\n": "1"}}, "contains a line break"),
        ({"cookies": {"sid": "a\nb"}}, "contains a line break"),
        ({"origin": "http://a\r\nX: y"}, "--ws-origin contains a line break"),
        ({"subprotocols": ("chat\r\n",)}, "--ws-subprotocol contains a line break"),
        ({"token": "abc\r\nX: y", "token_mode": "header"}, "--ws-token contains a line break"),
        ({"headers": {"Host": "evil.test"}}, "would send a second Host header: it is set by --host"),
        ({"headers": {"sec-websocket-key": "x"}}, "would send a second sec-websocket-key header"),
        ({"headers": {"Origin": "x"}}, "it is set by --ws-origin"),
        ({"headers": {"Bad Name": "x"}}, "is not a valid header name"),
        (
            {"headers": {"Authorization": "Bearer a"}, "token": "b", "token_mode": "header"},
            "both set Authorization",
        ),
        ({"cookies": {"a": "1; b=2"}}, "cannot contain ';'"),
        ({"subprotocols": ("a b",)}, "is not a valid subprotocol name"),
    ],
)
def test_handshake_values_that_would_forge_headers_are_refused(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as error:
        SessionOptions(**kwargs)
    assert words in str(error.value)


ISSUE_LIST = [
    "token",
    "access_token",
    "jwt",
    "sig",
    "signature",
    "key",
    "api_key",
    "apikey",
    "auth",
    "password",
]


@pytest.mark.parametrize("param", [*ISSUE_LIST, "secret", "Signature", "JWT"])
def test_every_common_secret_query_parameter_is_redacted(param: str) -> None:
    assert redact_url(f"wss://h.test/ws?a=1&{param}=s3cret&b=2") == f"wss://h.test/ws?a=1&{param}=***&b=2"


def test_a_broken_ipv6_target_is_one_sentence() -> None:
    assert "is not a valid URL (Invalid IPv6 URL)" in _message("ws://[::1/")
