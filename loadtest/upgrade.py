"""The HTTP upgrade of RFC 6455 §4, without I/O: the request we send, the answer we accept.

websocket-client builds the same request (header for header, in the same order) but reads the
answer one byte per ``recv`` (its ``read_headers``), which cost a handshake ~200 system calls and
greenlet switches; :mod:`loadtest.transport` reads it in buffered chunks and hands the bytes that
follow the headers (the server's first frames, if it was quick) to the frame parser. URL parsing
and request building live here too, so no private function of websocket-client is needed.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from loadtest import deflate
from loadtest.errors import HandshakeFailure

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: An answer whose headers do not end within this many bytes is not a WebSocket upgrade.
MAX_HEAD_BYTES = 65536


def split_url(url: str) -> tuple[str, int, str, bool]:
    """Return ``(host, port, resource, secure)`` of a ``ws://`` or ``wss://`` URL (already validated)."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname or "", parts.port or (443 if secure else 80), resource, secure


def build_request(
    host: str,
    port: int,
    resource: str,
    secure: bool,
    *,
    headers: dict[str, str],
    origin: str | None,
    subprotocols: Iterable[str],
    cookie: str,
    compression: bool = False,
) -> tuple[bytes, str]:
    """Return the upgrade request and its ``Sec-WebSocket-Key`` (the headers websocket-client sends).

    ``compression`` offers permessage-deflate (:data:`loadtest.deflate.OFFER`).
    """
    packed = f"[{host}]" if ":" in host else host
    hostport = packed if port in (80, 443) else f"{packed}:{port}"
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    lines = [f"GET {resource} HTTP/1.1", "Upgrade: websocket", f"Host: {hostport}"]
    lines.append(
        f"Origin: {origin}" if origin is not None else f"Origin: http{'s' if secure else ''}://{hostport}"
    )
    lines += [f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", "Connection: Upgrade"]
    protocols = ",".join(subprotocols)
    if protocols:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if compression:
        lines.append(f"Sec-WebSocket-Extensions: {deflate.OFFER}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"), key


def head_end(buffer: bytes) -> tuple[int, int] | None:
    """Return ``(end of the headers, start of what follows)`` once the blank line arrived, else None.

    Lines may end with CRLF or a bare LF (websocket-client accepts both, so do we).
    """
    ends = [(i, i + n) for i, n in ((buffer.find(b"\n\r\n"), 3), (buffer.find(b"\n\n"), 2)) if i >= 0]
    return min(ends) if ends else None


def parse_response(head: bytes) -> tuple[int, dict[str, str]]:
    """Return ``(status, headers)`` of an answer's head (names lowercased; ``Set-Cookie`` lines joined).

    Raises:
        HandshakeFailure: ``protocol``, the answer is not valid HTTP.
    """
    invalid = HandshakeFailure("protocol", "the answer to the upgrade is not valid HTTP")
    try:
        lines = [line.strip() for line in head.decode("utf-8").split("\n")]
    except UnicodeDecodeError as exc:
        raise invalid from exc
    status_line = lines[0].split(" ", 2)
    try:
        status = int(status_line[1])
    except (IndexError, ValueError) as exc:
        raise invalid from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            break
        name, colon, value = line.partition(":")
        if not colon:
            raise invalid
        name, value = name.lower(), value.strip()
        if name == "set-cookie" and headers.get(name):
            headers[name] += "; " + value
        else:
            headers[name] = value
    return status, headers


def check_upgrade(
    headers: dict[str, str], key: str, subprotocols: tuple[str, ...], *, compression: bool = False
) -> str | None:
    """Validate a 101 answer; return the chosen subprotocol.

    With ``compression`` (we offered permessage-deflate) the extensions are left to
    :func:`negotiated`; without, an answer that enables any fails.

    Raises:
        HandshakeFailure: ``protocol``, with what is wrong.
    """
    for name, want in (("upgrade", "websocket"), ("connection", "upgrade")):
        if want not in [v.strip().lower() for v in headers.get(name, "").split(",")]:
            raise HandshakeFailure(
                "protocol", f"101 without '{name.title()}: {want}': the proxy is not upgrading"
            )
    expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
    if headers.get("sec-websocket-accept", "").strip() != expected:
        raise HandshakeFailure("protocol", "wrong Sec-WebSocket-Accept")
    if not compression:
        # RFC 6455 §4.1: a client must fail a handshake whose answer names an extension it did
        # not offer (without --ws-compression we offer none).
        deflate.parse_answer(headers.get("sec-websocket-extensions", ""), offered=False)
    chosen = headers.get("sec-websocket-protocol")
    if subprotocols:
        if not chosen or chosen.strip().lower() not in [s.lower() for s in subprotocols]:
            raise HandshakeFailure("protocol", "subprotocol mismatch: the server picked none of ours")
        return chosen.strip()
    if chosen:
        raise HandshakeFailure("protocol", "subprotocol mismatch: the server picked one we did not offer")
    return None


def negotiated(headers: dict[str, str]) -> deflate.Params | None:
    """Return the permessage-deflate parameters a 101 enabled, after we offered it (None: declined).

    Raises:
        HandshakeFailure: ``protocol``, the answer breaks RFC 7692 (one sentence says how).
    """
    return deflate.parse_answer(headers.get("sec-websocket-extensions", ""), offered=True)


def cookies_from(headers: dict[str, str]) -> dict[str, str]:
    """Return the cookies an answer sets (``name -> value``; none if the header does not parse)."""
    raw = headers.get("set-cookie")
    if not raw:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


__all__ = [
    "build_request",
    "check_upgrade",
    "cookies_from",
    "head_end",
    "negotiated",
    "parse_response",
    "split_url",
]
