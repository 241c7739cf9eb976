"""permessage-deflate (RFC 7692) without I/O: our offer, the checks of the server's answer, the codec.

We offer ``permessage-deflate; client_max_window_bits`` (we can compress within any window the
server picks), and accept what RFC 7692 §7.1 lets a server answer: ``server_no_context_takeover``,
``client_no_context_takeover`` (then our compressor starts afresh for every message),
``server_max_window_bits=N`` (the server's window: our decompressor's) and
``client_max_window_bits=N`` (ours). Any other answer fails the handshake with one sentence
(:func:`parse_answer`): an extension we did not offer, permessage-deflate twice, an unknown or
repeated parameter, a value where none belongs, a window size outside 8-15. A window of 8 bits
for us is refused too, as the ``websockets`` library does: zlib cannot compress raw deflate in a
256-byte window (``compressobj(wbits=-8)`` raises).

:class:`Deflate` is one session's codec. Sent messages are compressed whole (RSV1 on the first
frame, the trailing ``00 00 ff ff`` of the sync flush removed, §7.2.1); received ones are
inflated as their frames arrive (a fragmented or big message piece by piece), with that tail put
back at the end (§7.2.2), ``max_length`` bytes at a time: a message that inflates beyond the
session's limit (a deflate bomb) raises a 1009 violation as soon as it passes it, having produced
at most the limit plus one chunk, whatever the compressed size.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from loadtest.errors import HandshakeFailure
from loadtest.frames import ProtocolViolation

NAME = "permessage-deflate"
#: The ``Sec-WebSocket-Extensions`` value of our upgrade request.
OFFER = f"{NAME}; client_max_window_bits"
#: What the sync flush ends with, removed from every compressed message and put back to inflate it.
TAIL = b"\x00\x00\xff\xff"
#: Bytes inflated per call: the most a message over the limit can have produced when it is refused.
INFLATE_CHUNK = 64 * 1024
#: zlib's defaults (level 6, 8 for memLevel): what browsers and most servers use.
LEVEL = zlib.Z_DEFAULT_COMPRESSION
MEM_LEVEL = 8

_BITS = re.compile(r"^(?:[89]|1[0-5])$")  # 8-15, no leading zero (RFC 7692 §7.1.2)
_FLAGS = ("server_no_context_takeover", "client_no_context_takeover")
_WINDOWS = ("server_max_window_bits", "client_max_window_bits")


@dataclass(frozen=True, kw_only=True)
class Params:
    """What the server's answer enabled (RFC 7692 §7.1); the defaults are an answer without parameters."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def header(self) -> str:
        """Return these parameters as a server would answer them (tests and the hostile server)."""
        parts = [NAME]
        parts += [flag for flag in _FLAGS if getattr(self, flag)]
        parts += [f"{name}={getattr(self, name)}" for name in _WINDOWS if getattr(self, name) != 15]
        return "; ".join(parts)


#: The hint of a refused answer (the ``protocol`` class's own is about proxies that do not upgrade).
REFUSED_HINT = "the server's compression breaks RFC 7692: fix it, or run without --ws-compression"


def _refuse(what: str) -> HandshakeFailure:
    return HandshakeFailure(
        "protocol", f"the server's permessage-deflate answer is not valid: {what}", REFUSED_HINT
    )


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_answer(header: str, *, offered: bool) -> Params | None:
    """Return what a 101's ``Sec-WebSocket-Extensions`` enabled (None: nothing, so no compression).

    Raises:
        HandshakeFailure: ``protocol``, with one sentence: the answer breaks RFC 6455 §9.1 or
            RFC 7692 §7.1 (see the module docstring).
    """
    elements = [element.strip() for element in header.split(",") if element.strip()]
    if not elements:
        return None
    if not offered:
        # RFC 6455 §4.1: a client must fail a handshake whose answer names an extension it did
        # not offer (without --ws-compression deflate we offer none).
        raise HandshakeFailure("protocol", "the server accepted an extension we did not offer")
    if len(elements) > 1:
        names = [element.split(";")[0].strip().lower() for element in elements]
        if names.count(NAME) > 1:
            raise _refuse("it accepted permessage-deflate twice")
        raise HandshakeFailure("protocol", "the server accepted an extension we did not offer")
    name, *parameters = [part.strip() for part in elements[0].split(";")]
    if name.lower() != NAME:
        raise HandshakeFailure("protocol", "the server accepted an extension we did not offer")
    values: dict[str, int | bool] = {}
    for parameter in parameters:
        key, equals, raw = parameter.partition("=")
        key = key.strip().lower()
        if key in values:
            raise _refuse(f"{key} is given twice")
        if key in _FLAGS:
            if equals:
                raise _refuse(f"{key} takes no value")
            values[key] = True
        elif key in _WINDOWS:
            value = _unquote(raw) if equals else ""
            if not _BITS.match(value):
                raise _refuse(f"{key} must be a number of bits from 8 to 15")
            values[key] = int(value)
        else:
            raise _refuse(f"unknown parameter {key[:40]!r}")
    if values.get("client_max_window_bits") == 8:
        raise _refuse("client_max_window_bits=8 cannot be honoured (zlib compresses in 9 bits or more)")
    return Params(**values)  # type: ignore[arg-type]


class Deflate:
    """One session's permessage-deflate: a compressor for what we send, a decompressor for what we read.

    With context takeover (the default) each side keeps its zlib state for the session's life;
    with ``*_no_context_takeover`` it is made afresh for every message and dropped after it, so a
    session holds no zlib state between messages.

    Attributes:
        payload_sent, wire_sent: bytes of the messages we compressed, before and after.
        payload_received, wire_received: bytes of the data messages read, inflated and as they
            came (a message the server sent uncompressed counts the same in both).
    """

    __slots__ = (
        "params",
        "max_size",
        "_compressor",
        "_decompressor",
        "_produced",
        "payload_sent",
        "wire_sent",
        "payload_received",
        "wire_received",
    )

    def __init__(self, params: Params, max_size: int = 64 << 20) -> None:
        self.params = params
        self.max_size = max_size
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None
        self._produced = 0  # bytes the message being inflated has produced so far
        self.payload_sent = self.wire_sent = 0
        self.payload_received = self.wire_received = 0

    def compress(self, payload: bytes) -> bytes:
        """Return one message's payload compressed (RFC 7692 §7.2.1), its sync-flush tail removed."""
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(
                LEVEL, zlib.DEFLATED, -self.params.client_max_window_bits, MEM_LEVEL
            )
            if not self.params.client_no_context_takeover:
                self._compressor = compressor
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        data = data[:-4] or b"\x00"  # an empty message is one 0x00 byte (§7.2.3.6)
        self.payload_sent += len(payload)
        self.wire_sent += len(data)
        return data

    def plain(self, size: int) -> None:
        """Count a data message the server sent without compressing it (RSV1 unset)."""
        self.payload_received += size
        self.wire_received += size

    def inflate(self, payload: bytes) -> bytes:
        """Return one whole compressed message inflated (:meth:`begin`, :meth:`feed`, :meth:`end`).

        Raises:
            ProtocolViolation: see :meth:`feed`.
        """
        self.begin()
        out = self.feed(payload)
        tail = self.end()
        return out + tail if tail else out

    def begin(self) -> None:
        """Start inflating a compressed message (its fragments follow, through :meth:`feed`)."""
        if self._decompressor is None or self.params.server_no_context_takeover:
            self._decompressor = zlib.decompressobj(wbits=-self.params.server_max_window_bits)
        self._produced = 0

    def feed(self, data: bytes | memoryview) -> bytes:
        """Return what a piece of the compressed message inflates to, never more than the limit and a chunk.

        Raises:
            ProtocolViolation: 1009 once the message inflates beyond ``max_size`` (a deflate
                bomb: we stop there, whatever is left of it); 1002 if the data does not inflate.
        """
        decompressor = self._decompressor
        assert decompressor is not None, "feed() before begin()"
        self.wire_received += len(data)
        limit = self.max_size
        pieces: list[bytes] = []
        try:
            # Each turn either produces a full chunk (the total grows towards the limit) or
            # consumes the input: at most limit / chunk + 2 turns.
            while True:
                out = decompressor.decompress(data, INFLATE_CHUNK)
                self._produced += len(out)
                if self._produced > limit:
                    self._decompressor = None  # the session ends: drop the state now
                    raise ProtocolViolation(f"message over the {limit}-byte limit once inflated", 1009)
                pieces.append(out)
                data = decompressor.unconsumed_tail
                if not data and len(out) < INFLATE_CHUNK:
                    break
        except zlib.error as exc:
            self._decompressor = None
            raise ProtocolViolation("a compressed message does not inflate") from exc
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def end(self) -> bytes:
        """Finish the message: inflate the sync-flush tail we put back (§7.2.2); return what it gave.

        Raises:
            ProtocolViolation: see :meth:`feed`.
        """
        wire = self.wire_received
        out = self.feed(TAIL)
        self.wire_received = wire  # the tail was never on the wire
        self.payload_received += self._produced
        decompressor = self._decompressor
        if decompressor is not None and (decompressor.eof or self.params.server_no_context_takeover):
            # No context to keep, or the server ended its deflate stream (a block with BFINAL
            # set, §7.2.3.5): the next message starts afresh.
            self._decompressor = None
        return out

    def holds_state(self) -> tuple[bool, bool]:
        """Return whether a compressor and a decompressor are kept between messages."""
        return self._compressor is not None, self._decompressor is not None


__all__ = ["OFFER", "TAIL", "Deflate", "Params", "parse_answer"]
