"""Frozen, validated options for sessions, and the target URL check."""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loadtest.errors import ConfigError, TargetURLError

_EXAMPLE = "ws://127.0.0.1:8765/path or wss://example.com/ws"
TOKEN_MODES = ("query", "header", "message")
#: ``--ws-compression``: offer nothing, or permessage-deflate (RFC 7692; see docs/compression.md).
COMPRESSION_MODES = ("off", "deflate")


def validate_target_url(url: str) -> str:
    """Return ``url`` if it is a usable WebSocket URL, else raise one clear sentence.

    Raises:
        TargetURLError: the scheme is missing or not ws/wss, or there is no host.
    """
    url = (url or "").strip()
    if not url:
        raise TargetURLError(f"no target: pass --host {_EXAMPLE}")
    if "://" not in url:
        shown = redact_url(f"ws://{url}")
        raise TargetURLError(
            f"target {shown[5:]!r} has no scheme: a WebSocket URL starts with ws:// or wss://, e.g. {shown}"
        )
    try:
        parts = urlsplit(url)  # raises on a broken [IPv6] literal
    except ValueError as exc:
        shown = _redact_text(url)
        raise TargetURLError(
            f"target {shown!r} is not a valid URL ({exc}): use a URL such as {_EXAMPLE} (IPv6: ws://[::1]:8765/)"
        ) from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        fixed = urlunsplit(("ws" if scheme == "http" else "wss", *parts[1:]))
        raise TargetURLError(
            f"target {redact_url(url)!r} is an {scheme}:// URL: WebSocket targets use "
            f"{'ws' if scheme == 'http' else 'wss'}://, e.g. {redact_url(fixed)}"
        )
    if scheme not in ("ws", "wss"):
        raise TargetURLError(f"target scheme {scheme!r} is not ws or wss: use a URL such as {_EXAMPLE}")
    if not parts.hostname:
        raise TargetURLError(f"target {redact_url(url)!r} has no host: use a URL such as {_EXAMPLE}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise TargetURLError(f"target {redact_url(url)!r} has a bad port: use a number from 1 to 65535")
    return url


#: Query parameters that carry credentials, redacted wherever a target is shown.
SECRET_PARAMETERS = (
    "token", "access_token", "jwt", "sig", "signature", "key", "api_key", "apikey",
    "auth", "password", "secret",
)  # fmt: skip
_SECRET_QUERY = re.compile(rf"(?i)([?&](?:{'|'.join(SECRET_PARAMETERS)})=)[^&#]*")


def _redact_text(text: str) -> str:
    return _SECRET_QUERY.sub(r"\1***", re.sub(r"//[^/@]*@", "//***@", text))


def redact_url(url: str) -> str:
    """Return ``url`` with credentials in its user-info and secret query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return _SECRET_QUERY.sub(
        r"\1***", urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    )


def join_url(host: str, path: str) -> str:
    """Join a target (``ws://h:p`` or a URL with a path) and a user class's path."""
    if not path:
        return host
    if path.startswith(("ws://", "wss://")):
        return path
    return host.rstrip("/") + "/" + path.lstrip("/")


def with_query(url: str, **params: str) -> str:
    """Return ``url`` with ``params`` added to its query string."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@dataclass(frozen=True, kw_only=True)
class SessionOptions:
    """How a session connects, authenticates and measures.

    Attributes:
        connect_timeout_s: DNS + TCP + TLS + upgrade must finish within this.
        reply_timeout_s: a request without a reply by then is a failure.
        send_timeout_s: a send blocked longer ends the session (a half-written frame is unusable).
        close_timeout_s: how long to wait for the answer to our close frame.
        headers: extra handshake headers.
        origin: the ``Origin`` header (None: websocket-client's default, the target's origin).
        subprotocols: offered in ``Sec-WebSocket-Protocol``; the answer must pick one.
        cookies: sent on every handshake (the server's ``Set-Cookie`` are kept per session).
        token: credential; never logged. ``token_mode`` says where it goes.
        token_mode: ``query`` (``?token=``), ``header`` (``Authorization: Bearer``) or
            ``message`` (``{"type":"auth","token":...}`` sent after open, answered by
            ``{"type":"auth_result","ok":...}``).
        ca_file, client_cert, client_key: TLS files; ``insecure`` skips verification (explicit only).
        sndbuf_bytes: ``SO_SNDBUF`` (0 keeps the kernel's autotuning, which hides backpressure).
        backpressure_threshold_bytes: queue size counted as a threshold crossing (1 MiB).
        max_message_bytes: a message (or frame) from the server larger than this ends the session
            with 1009 (message too big), so a hostile server cannot exhaust our memory; a
            compressed message is held to it once inflated.
        compression: ``off`` or ``deflate`` (offer permessage-deflate, RFC 7692).
    """

    connect_timeout_s: float = 5.0
    reply_timeout_s: float = 10.0
    send_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    headers: dict[str, str] = field(default_factory=dict)
    origin: str | None = None
    subprotocols: tuple[str, ...] = ()
    cookies: dict[str, str] = field(default_factory=dict)
    token: str | None = field(default=None, repr=False)
    token_mode: str = "query"
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    insecure: bool = False
    sndbuf_bytes: int = 0
    backpressure_threshold_bytes: int = 1 << 20
    max_message_bytes: int = 64 << 20
    compression: str = "off"

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "reply_timeout_s", "send_timeout_s", "close_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds")
        if self.token_mode not in TOKEN_MODES:
            raise ConfigError(f"token mode {self.token_mode!r} is not one of {', '.join(TOKEN_MODES)}")
        if self.sndbuf_bytes < 0 or self.backpressure_threshold_bytes <= 0:
            raise ConfigError("SO_SNDBUF must be >= 0 and the backpressure threshold > 0 bytes")
        if self.max_message_bytes <= 0:
            raise ConfigError("the maximum message size must be a positive number of bytes")
        if self.compression not in COMPRESSION_MODES:
            raise ConfigError(
                f"compression {self.compression!r} is not one of {', '.join(COMPRESSION_MODES)}"
            )
        if self.client_key and not self.client_cert:
            raise ConfigError("a client key needs a client certificate: pass both")
        _check_handshake_values(self)


#: Headers the opening handshake writes itself, with the option that sets each.
_OWN_HEADERS = {
    "host": "--host",
    "upgrade": "(the handshake)",
    "connection": "(the handshake)",
    "sec-websocket-key": "(the handshake)",
    "sec-websocket-version": "(the handshake)",
    "sec-websocket-protocol": "--ws-subprotocol",
    "sec-websocket-extensions": "(the handshake)",
    "origin": "--ws-origin",
    "cookie": "--ws-cookie",
}
_TOKEN_CHARS = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token: a header name


def _one_line(flag: str, value: str) -> None:
    if "\r" in value or "\n" in value or "\0" in value:
        raise ConfigError(
            f"{flag} contains a line break (CR or LF) or NUL: a handshake value must be one line, "
            "or it would inject headers"
        )


def _check_handshake_values(options: SessionOptions) -> None:
    """Refuse values that would break or forge the opening handshake's headers."""
    seen: set[str] = set()
    for name, value in options.headers.items():
        _one_line(f"--ws-header {name!r}", f"{name}{value}")
        lower = name.lower()
        if not _TOKEN_CHARS.match(name):
            raise ConfigError(f"--ws-header name {name!r} is not a valid header name (letters, digits, -)")
        if lower in _OWN_HEADERS:
            raise ConfigError(
                f"--ws-header {name!r} would send a second {name} header: it is set by {_OWN_HEADERS[lower]}"
            )
        if lower == "authorization" and options.token and options.token_mode == "header":
            raise ConfigError(
                "--ws-header Authorization and --ws-token-mode header both set Authorization: pick one"
            )
        if lower in seen:
            raise ConfigError(f"--ws-header {name!r} is given twice: give each header once")
        seen.add(lower)
    for name, value in options.cookies.items():
        _one_line(f"--ws-cookie {name!r}", f"{name}{value}")
        if ";" in name + value or "=" in name:
            raise ConfigError(
                f"--ws-cookie {name!r}: a cookie name=value cannot contain ';' (give one per option)"
            )
    if options.origin is not None:
        _one_line("--ws-origin", options.origin)
    for subprotocol in options.subprotocols:
        _one_line("--ws-subprotocol", subprotocol)
        if not _TOKEN_CHARS.match(subprotocol):
            raise ConfigError(f"--ws-subprotocol {subprotocol!r} is not a valid subprotocol name")
    if options.token is not None:
        _one_line("--ws-token", options.token)


def check_tls_files(session: SessionOptions) -> None:
    """Load the TLS files a session would use, so a missing or broken one is one sentence now.

    Raises:
        ConfigError: a file does not exist, or the files do not load together.
    """
    for flag, path in (
        ("--ws-ca-file", session.ca_file),
        ("--ws-client-cert", session.client_cert),
        ("--ws-client-key", session.client_key),
    ):
        if path and not os.path.isfile(path):
            raise ConfigError(f"{flag} {path!r} does not exist or is not a file: give the path of a PEM file")
    try:
        if session.ca_file:
            ssl.create_default_context(cafile=session.ca_file)
        if session.client_cert:
            ssl.create_default_context().load_cert_chain(session.client_cert, session.client_key)
    except (ssl.SSLError, OSError, ValueError) as exc:
        which = "--ws-client-cert/--ws-client-key" if session.client_cert else "--ws-ca-file"
        raise ConfigError(
            f"{which} could not be loaded ({exc}): give PEM files that belong together"
        ) from exc
