"""Read a HAR file into the WebSocket connections it recorded.

The format is Chrome DevTools' (Network panel, Export HAR): a WebSocket is an entry whose
``_resourceType`` is ``"websocket"``, its handshake in ``request``/``response`` and its data
messages in ``_webSocketMessages``: ``{"type": "send"|"receive", "time": epoch seconds,
"opcode": 1 (text) | 2 (binary, data in base64), "data": ...}``. Chrome also writes ``"error"``
frames (opcode -1) and records no close frame: the connection's end is the entry's ``time``
(milliseconds from ``startedDateTime``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from loadtest.config import redact_url
from loadtest.errors import HarError

#: Handshake answers of a connection that opened: 101 (HTTP/1.1), 200 (HTTP/2 extended CONNECT).
OPENED = (101, 200)
_EXPORT = "export it from DevTools (Network panel, Export HAR)"
_AGAIN = "record with DevTools open before the page opens its WebSocket, then export the HAR again"


@dataclass(frozen=True)
class Frame:
    """One recorded data message.

    Attributes:
        sent: True for the client's messages, False for the server's.
        at_s: seconds after the connection's start (``startedDateTime``).
        data: ``str`` for text, ``bytes`` for binary.
    """

    sent: bool
    at_s: float
    data: str | bytes


@dataclass(frozen=True)
class Connection:
    """One recorded WebSocket connection.

    Attributes:
        url: the recorded ``ws://``/``wss://`` URL (may hold secrets: never print it unredacted).
        started_s: epoch seconds of ``startedDateTime``.
        duration_s: when the connection ended, in seconds after its start.
        status: the handshake's answer (101 when it opened; 0 when it failed).
        headers: request headers as recorded, in order.
        cookies: request cookies as recorded, in order.
        frames: data messages, in time order.
        compressed: the server's answer enabled permessage-deflate.
    """

    url: str
    started_s: float
    duration_s: float
    status: int
    headers: tuple[tuple[str, str], ...]
    cookies: tuple[tuple[str, str], ...]
    frames: tuple[Frame, ...]
    compressed: bool = False

    @property
    def shown_url(self) -> str:
        """Return the URL with secret query values as ``***``."""
        return redact_url(self.url)


@dataclass(frozen=True)
class Har:
    """The WebSocket connections of a HAR file.

    Attributes:
        connections: those that opened, in the file's order.
        skipped: ``(shown URL, why)`` of WebSocket entries that cannot be replayed.
        entries: how many entries the file has (all kinds).
    """

    connections: tuple[Connection, ...]
    skipped: tuple[tuple[str, str], ...]
    entries: int


def load(path: str | Path) -> Har:
    """Read and parse the HAR file at ``path``.

    Raises:
        HarError: unreadable, not JSON, not a HAR, or no WebSocket connection in it (one sentence).
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise HarError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise HarError(f"{name} is not a HAR file (it is not UTF-8 text): {_EXPORT}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HarError(
            f"{name} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): {_EXPORT}"
        ) from None
    return parse(document, name)


def parse(document: Any, name: str = "the HAR file") -> Har:
    """Return the WebSocket connections of a parsed HAR document.

    Raises:
        HarError: not a HAR, a malformed WebSocket entry, or no WebSocket connection.
    """
    log = document.get("log") if isinstance(document, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise HarError(f"{name} is not a HAR file (it has no log.entries list): {_EXPORT}")
    sockets = [e for e in entries if isinstance(e, dict) and _is_websocket(e)]
    if not sockets:
        raise HarError(
            f"{name} has no WebSocket connection ({len(entries)} entries, none with _resourceType "
            f"websocket): {_AGAIN}"
        )
    connections: list[Connection] = []
    skipped: list[tuple[str, str]] = []
    for number, entry in enumerate(sockets, 1):
        connection = _connection(entry, f"{name}, WebSocket entry {number}")
        if connection.status not in OPENED and not connection.frames:
            skipped.append(
                (connection.shown_url, f"its handshake failed in the recording (status {connection.status})")
            )
            continue
        connections.append(connection)
    if not connections:
        raise HarError(
            f"{name} has no WebSocket connection that opened (every handshake failed in the "
            f"recording): {_AGAIN}"
        )
    return Har(tuple(connections), tuple(skipped), len(entries))


def _is_websocket(entry: dict[str, Any]) -> bool:
    if entry.get("_resourceType") == "websocket":
        return True
    url = (entry.get("request") or {}).get("url", "")
    return isinstance(url, str) and url.startswith(("ws://", "wss://")) and "_webSocketMessages" in entry


def _connection(entry: dict[str, Any], where: str) -> Connection:
    request = entry.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("url"), str):
        raise HarError(f"{where} has no request.url: {_EXPORT}")
    url = request["url"]
    if not url.startswith(("ws://", "wss://")):
        raise HarError(f"{where} has the URL {redact_url(url)!r}, not a ws:// or wss:// one: {_EXPORT}")
    started_s = _epoch(entry.get("startedDateTime"), where)
    status = (entry.get("response") or {}).get("status", 0)
    frames: list[Frame] = []
    for number, message in enumerate(entry.get("_webSocketMessages") or [], 1):
        frame = _frame(message, started_s, f"{where}, message {number}")
        if frame is not None:
            frames.append(frame)
    frames.sort(key=lambda frame: frame.at_s)  # stable: Chrome's order for equal times
    total_ms = entry.get("time")
    duration_s = max(
        total_ms / 1000.0 if _number(total_ms) and total_ms > 0 else 0.0,
        frames[-1].at_s if frames else 0.0,
    )
    return Connection(
        url=url,
        started_s=started_s,
        duration_s=duration_s,
        status=int(status) if _number(status) else 0,
        headers=_pairs(request.get("headers")),
        cookies=_pairs(request.get("cookies")),
        frames=tuple(frames),
        compressed=any(
            name.lower() == "sec-websocket-extensions" and "permessage-deflate" in value.lower()
            for name, value in _pairs((entry.get("response") or {}).get("headers"))
        ),
    )


def _frame(message: Any, started_s: float, where: str) -> Frame | None:
    if not isinstance(message, dict):
        raise HarError(f"{where} is not an object: {_EXPORT}")
    kind, opcode, data, at = (message.get(k) for k in ("type", "opcode", "data", "time"))
    if kind not in ("send", "receive") or opcode not in (1, 2):
        return None  # Chrome's "error" frames (opcode -1); control frames some tools add
    if not isinstance(data, str) or not _number(at):
        raise HarError(f"{where} has no text data or no time: {_EXPORT}")
    payload: str | bytes = data
    if opcode == 2:
        try:
            payload = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise HarError(f"{where} is binary (opcode 2) but its data is not base64: {_EXPORT}") from None
    return Frame(sent=kind == "send", at_s=max(0.0, float(at) - started_s), data=payload)


def _epoch(value: Any, where: str) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise HarError(f"{where} has no valid startedDateTime ({value!r}): {_EXPORT}") from None


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _pairs(items: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(items, list):
        return ()
    return tuple(
        (str(item["name"]), str(item.get("value", "")))
        for item in items
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    )
