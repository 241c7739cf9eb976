"""STOMP 1.2 frames, without I/O: encoding, an incremental parser, heart-beat negotiation.

A frame is ``COMMAND EOL *(name:value EOL) EOL body NUL *(EOL)``. Header values are escaped
(``\\\\``, ``\\n``, ``\\r``, ``\\c`` for a colon) in every frame but CONNECT and CONNECTED, and an
unknown escape is a fatal error; a repeated header keeps its first value; ``content-length``
gives the body's size in octets (the body may then hold NULs), otherwise the body ends at the
first NUL. Over a WebSocket (STOMP over WebSocket, as RabbitMQ's Web STOMP and Spring serve it)
a message usually holds one frame, often followed by an EOL; a message of EOLs only is a
heart-beat. The parser still accepts frames split across messages and several in one.

Specification: https://stomp.github.io/stomp-specification-1.2.html
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

CLIENT_COMMANDS = frozenset(
    {
        "CONNECT",
        "STOMP",
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "ACK",
        "NACK",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "DISCONNECT",
    }
)
SERVER_COMMANDS = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
#: Frames whose headers are never escaped (STOMP 1.0 compatibility of the handshake).
_UNESCAPED = frozenset({"CONNECT", "CONNECTED"})
_ESCAPES = {b"\\\\": b"\\", b"\\n": b"\n", b"\\r": b"\r", b"\\c": b":"}
_EOL = frozenset(b"\r\n")


class FrameError(ValueError):
    """Bytes that are not a STOMP 1.2 frame (the message says why): fatal for the connection."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: its command, headers (first value of each name, in order) and body."""

    command: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        """Return a header's value, or ``default``."""
        return self.headers.get(name, default)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace(":", "\\c")


def encode(
    command: str, headers: Iterable[tuple[str, str]] | dict[str, str] = (), body: bytes = b""
) -> bytes:
    """Return the frame's bytes; a body gets its ``content-length`` (unless a header gives one)."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    escape = command not in _UNESCAPED
    lines = [command]
    for name, value in items:
        if escape:
            name, value = _escape(name), _escape(value)
        elif any(c in name + value for c in "\r\n") or ":" in name:
            raise FrameError(f"a {command} header cannot hold a line break or a colon in its name: {name!r}")
        lines.append(f"{name}:{value}")
    if body and not any(name == "content-length" for name, _ in items):
        lines.append(f"content-length:{len(body)}")
    return "\n".join(lines).encode() + b"\n\n" + body + b"\x00"


def _unescape(raw: bytes) -> bytes:
    if b"\\" not in raw:
        return raw
    out, at = bytearray(), 0
    while (slash := raw.find(b"\\", at)) >= 0:
        out += raw[at:slash]
        pair = raw[slash : slash + 2]
        if pair not in _ESCAPES:
            raise FrameError(f"an undefined escape {pair!r} in a header (fatal in STOMP 1.2)")
        out += _ESCAPES[pair]
        at = slash + 2
    return bytes(out + raw[at:])


class Parser:
    """Turn received bytes into frames; heart-beats come out as ``None``.

    Args:
        max_frame_bytes: a frame larger than this is an error (its bytes are never all held).
    """

    __slots__ = ("_buffer", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = 64 << 20) -> None:
        self._buffer = bytearray()
        self.max_frame_bytes = max_frame_bytes

    def feed(self, data: bytes) -> list[Frame | None]:
        """Return the frames completed by ``data`` (``[None]`` for a heart-beat message)."""
        if not self._buffer and data and all(byte in _EOL for byte in data):
            return [None]  # a message of EOLs only, between frames: a heart-beat
        self._buffer += data
        frames: list[Frame | None] = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        if len(self._buffer) > self.max_frame_bytes:
            raise FrameError(f"a frame over {self.max_frame_bytes} bytes")
        return frames

    def _next(self) -> Frame | None:
        buffer = self._buffer
        start = 0
        while start < len(buffer) and buffer[start] in _EOL:  # EOLs after a frame belong to it
            start += 1
        if start:
            del buffer[:start]
        head_end = buffer.find(b"\n\n")
        crlf_end = buffer.find(b"\r\n\r\n")
        if crlf_end >= 0 and (head_end < 0 or crlf_end < head_end):
            head, body_at = bytes(buffer[:crlf_end]), crlf_end + 4
        elif head_end >= 0:
            head, body_at = bytes(buffer[:head_end]), head_end + 2
        else:
            return None
        lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")]
        command = lines[0].decode("utf-8", "replace")
        if command not in CLIENT_COMMANDS and command not in SERVER_COMMANDS:
            raise FrameError(f"an unknown command {command[:30]!r}")
        headers = self._headers(command, lines[1:])
        length_text = headers.get("content-length")
        if length_text is not None:
            if not length_text.isdigit():
                raise FrameError(f"a content-length that is not a number: {length_text!r}")
            end = body_at + int(length_text)
            if end > self.max_frame_bytes:
                raise FrameError(f"a frame over {self.max_frame_bytes} bytes")
            if len(buffer) <= end:
                return None
            if buffer[end] != 0:
                raise FrameError("the body is not followed by NUL where its content-length ends")
        else:
            end = buffer.find(b"\x00", body_at)
            if end < 0:
                return None
        body = bytes(buffer[body_at:end])
        del buffer[: end + 1]
        return Frame(command, headers, body)

    @staticmethod
    def _headers(command: str, lines: list[bytes]) -> dict[str, str]:
        headers: dict[str, str] = {}
        escaped = command not in _UNESCAPED
        for line in lines:
            name, colon, value = line.partition(b":")
            if not colon:
                raise FrameError(f"a header line without a colon: {line[:40]!r}")
            if escaped:
                name, value = _unescape(name), _unescape(value)
            try:
                key = name.decode()
                text = value.decode()
            except UnicodeDecodeError as exc:
                raise FrameError("a header that is not UTF-8") from exc
            headers.setdefault(key, text)  # a repeated header: the first value wins
        return headers


def parse_heart_beat(value: str) -> tuple[int, int]:
    """Return the two numbers of a ``heart-beat`` header (``"0,0"`` when absent)."""
    if not value:
        return 0, 0
    parts = value.split(",")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise FrameError(f"a heart-beat header that is not two numbers: {value!r}")
    return int(parts[0]), int(parts[1])


def negotiate(ours: tuple[int, int], theirs: tuple[int, int]) -> tuple[int, int]:
    """Return ``(send every ms, expect every ms)`` for our ``heart-beat`` and the peer's (0: none).

    Each side says ``cx,cy``: it can send every ``cx`` ms and wants to receive every ``cy`` ms.
    We send every ``max(our cx, their cy)`` unless either is 0, and expect the peer's every
    ``max(their cx, our cy)`` unless either is 0 (the specification's rule).
    """
    send = 0 if ours[0] == 0 or theirs[1] == 0 else max(ours[0], theirs[1])
    expect = 0 if theirs[0] == 0 or ours[1] == 0 else max(theirs[0], ours[1])
    return send, expect
