"""WebSocket frames and messages (RFC 6455 §5 and §7), without I/O.

websocket-client's frame reader does several Python calls and two ``recv`` per frame; the load
generator's own CPU is the budget of a load test, so messages are parsed here straight out of a
buffer that one ``recv`` fills with as many frames as arrived.

The parser enforces every rule a client must check on what a server sends, so that a hostile or
broken server is a classified outcome and never a crash or unbounded memory:

* framing: reserved bits, masked server frames, unknown opcodes, control frames that are
  fragmented or longer than 125 bytes, continuation frames with nothing to continue, a new
  message inside a fragmented one: :class:`ProtocolViolation` with code 1002;
* close frames: a 1-byte payload or a code that may not appear on the wire is 1002, a reason that
  is not UTF-8 is 1007 (:func:`parse_close`);
* size: a message (a reassembled fragmented one included) over ``max_size`` is 1009, raised from
  the frame header, before its payload is buffered;
* compression: RSV1 is the permessage-deflate bit (RFC 7692 §6); it is allowed only when the
  session negotiated the extension (:attr:`FrameParser.inflater` set), and only on the first
  frame of a data message. A compressed message is inflated by :mod:`loadtest.deflate` as its
  bytes arrive (a small frame once whole, fragments and big frames read by read), its inflated
  size held to ``max_size`` as it grows: a deflate bomb is 1009 as soon as it passes the limit,
  never memory. A violation found while :meth:`FrameParser.feed` inflates is raised by the next
  :meth:`FrameParser.next_message`.

Reassembly is linear in the message size and never one long copy: bytes that arrive while a
small frame is incomplete are kept as a list of pieces and joined once when it is complete; the
payload of a big frame, and a fragmented message, are written piece by piece into an
``io.BytesIO`` as they arrive, whose ``getvalue()`` hands over its buffer without copying. (Joining
the whole buffer on every ``recv`` made a 50 MB message cost ~15 CPU-seconds; joining it once at
the end blocked every other session for the ~30 ms of one 50 MB copy.)
"""

from __future__ import annotations

import io
import os
import struct
from typing import TYPE_CHECKING

from loadtest.errors import LoadtestError

if TYPE_CHECKING:
    from loadtest.deflate import Deflate

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
_U16 = struct.Struct("!BBH")
_U64 = struct.Struct("!BBQ")

#: ``(opcode, payload)``: a whole data message (text or binary, fragments joined) or a control frame.
Message = tuple[int, bytes]

#: The close code of a close frame without a payload (never sent on the wire).
NO_STATUS = 1005
#: Codes defined for the wire by RFC 6455 §7.4.1 and the IANA registry (1012-1014 came later);
#: 1004, 1005, 1006 and 1015 are reserved and never appear in a close frame.
WIRE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})
#: Bytes of the longest frame header a server can send (no mask key).
MAX_HEADER = 10


class MaskPool:
    """Mask keys cut from one ``os.urandom`` buffer: one ``getrandom`` call per 1,024 frames.

    RFC 6455 §5.3 wants each key freshly drawn from a strong source of entropy and unpredictable:
    every key is four bytes of the kernel's CSPRNG output, each used once; only the system call
    is shared (one ``os.urandom(4)`` per frame was ~4% of the generator's CPU on small echoes).
    """

    __slots__ = ("_pool", "_offset", "pool_bytes")

    def __init__(self, pool_bytes: int = 4096) -> None:
        self.pool_bytes = pool_bytes
        self._pool = b""
        self._offset = pool_bytes

    def take(self) -> bytes:
        """Return the next unused 4-byte key."""
        offset = self._offset
        if offset + 4 > len(self._pool):
            self._pool, offset = os.urandom(self.pool_bytes), 0
        self._offset = offset + 4
        return self._pool[offset : offset + 4]


_MASKS = MaskPool()


def valid_close_code(code: int) -> bool:
    """Return True if ``code`` may be sent in a close frame (RFC 6455 §7.4)."""
    return code in WIRE_CODES or 3000 <= code <= 4999


class ProtocolViolation(LoadtestError):
    """The server broke RFC 6455; the session fails with ``code``.

    Attributes:
        detail: stable text naming the violation (Locust groups failures by message).
        code: the close code we answer with: 1002 (protocol error), 1007 (invalid UTF-8) or
            1009 (message too big).
    """

    def __init__(self, detail: str, code: int = 1002) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


def parse_close(payload: bytes) -> tuple[int, str]:
    """Return ``(code, reason)`` of a close frame's payload (1005 and "" when it is empty).

    Raises:
        ProtocolViolation: a 1-byte payload or a code not allowed on the wire (1002); a reason
            that is not UTF-8 (1007).
    """
    if not payload:
        return NO_STATUS, ""
    if len(payload) == 1:
        raise ProtocolViolation("close frame with a 1-byte payload")
    code = (payload[0] << 8) | payload[1]
    if not valid_close_code(code):
        if code in _RESERVED_CODES:  # four values: their number is a useful, bounded detail
            raise ProtocolViolation(f"close frame with the reserved code {code}")
        raise ProtocolViolation("close frame with a code outside 1000-1014 and 3000-4999")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolViolation("close reason is not valid UTF-8", 1007) from exc
    return code, reason


def encode_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask_key: bytes | None = None, rsv1: bool = False
) -> bytes:
    """Return one masked client frame (its key from the process's :class:`MaskPool`).

    ``rsv1`` marks the first frame of a compressed message (permessage-deflate).
    """
    key = _MASKS.take() if mask_key is None else mask_key
    size = len(payload)
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 65536:
        head = _U16.pack(first, 0xFE, size)
    else:
        head = _U64.pack(first, 0xFF, size)
    if not size:
        return head + key
    # XOR with the repeated key as one big integer: ~2.5x faster than websocket-client's
    # array-based ABNF.mask for small messages, same bytes (a unit test checks both agree).
    masked = int.from_bytes(payload, "little") ^ int.from_bytes((key * ((size >> 2) + 1))[:size], "little")
    return head + key + masked.to_bytes(size, "little")


def encode_message(opcode: int, payload: bytes, fragment_bytes: int = 0, *, rsv1: bool = False) -> bytes:
    """Return one message as one frame, or as frames of at most ``fragment_bytes`` (RFC 6455 §5.4).

    ``rsv1``: ``payload`` is compressed (permessage-deflate): the bit goes on the first frame only.
    """
    if fragment_bytes <= 0 or len(payload) <= fragment_bytes:
        return encode_frame(opcode, payload, rsv1=rsv1)
    chunks = [payload[i : i + fragment_bytes] for i in range(0, len(payload), fragment_bytes)]
    last = len(chunks) - 1
    return b"".join(
        encode_frame(opcode if index == 0 else OP_CONT, chunk, fin=index == last, rsv1=rsv1 and index == 0)
        for index, chunk in enumerate(chunks)
    )


def sent_messages(data: bytes, sent: int) -> tuple[int, int]:
    """Return ``(messages, payload bytes)`` of the data messages wholly inside ``data[:sent]``.

    ``data`` is what we encoded (masked client frames, possibly several messages and control
    frames); used when a write was cut short, to count exactly the messages the server can read.
    """
    messages = payload_bytes = pending = offset = 0
    while offset + 6 <= sent:
        first, size = data[offset], data[offset + 1] & 0x7F
        head = 6
        if size == 126:
            size, head = int.from_bytes(data[offset + 2 : offset + 4], "big"), 8
        elif size == 127:
            size, head = int.from_bytes(data[offset + 2 : offset + 10], "big"), 14
        offset += head + size
        if offset > sent:
            break
        if first & 0x08:  # a control frame (our ping) is not a message
            continue
        pending += size
        if first & 0x80:
            messages, payload_bytes, pending = messages + 1, payload_bytes + pending, 0
    return messages, payload_bytes


class FrameParser:
    """Split a byte stream from the server into messages and control frames.

    Args:
        max_size: a message (all its fragments together) over this many bytes is a violation
            with code 1009, detected from the frame header before the payload is buffered.
        direct_bytes: a frame at least this long that spans reads has its payload written into
            a buffer as it arrives (see the module docstring) instead of being joined at the end.

    Attributes:
        copied_bytes: bytes copied to put pieces of frames that spanned reads, and fragments,
            together (about once each: reassembly is linear in the message size).
        inflater: the session's permessage-deflate codec once negotiated (None: RSV1 is a
            violation).
    """

    __slots__ = (
        "_buffer",
        "_offset",
        "_pieces",
        "_pieces_bytes",
        "_need",
        "_sink",
        "_sink_first",
        "_sink_left",
        "_ready",
        "_fragments",
        "_fragment_opcode",
        "_fragment_bytes",
        "_fragment_compressed",
        "_failed",
        "inflater",
        "max_size",
        "direct_bytes",
        "copied_bytes",
    )

    def __init__(self, max_size: int = 64 * 1024 * 1024, direct_bytes: int = 64 * 1024) -> None:
        self._buffer = b""
        self._offset = 0
        self._pieces: list[bytes] = []  # bytes fed after _buffer while its (small) frame is incomplete
        self._pieces_bytes = 0
        self._need = 0  # bytes from _offset that frame needs
        self._sink: io.BytesIO | None = None  # where the payload of a big incomplete frame goes
        self._sink_first = 0  # that frame's first byte (FIN, opcode)
        self._sink_left = 0  # the payload bytes it still needs
        self._ready: tuple[int, bytes | None] | None = None  # a big frame completed by feed() (-1: failed)
        self._fragments: io.BytesIO | None = None  # the fragmented message so far
        self._fragment_opcode = 0
        self._fragment_bytes = 0
        self._fragment_compressed = False
        self._failed: ProtocolViolation | None = None  # found while feeding, raised by next_message
        self.inflater: Deflate | None = None
        self.max_size = max_size
        self.direct_bytes = direct_bytes
        self.copied_bytes = 0

    def feed(self, data: bytes) -> None:
        """Append bytes read from the socket (a violation they reveal is raised by :meth:`next_message`)."""
        if self._failed is not None:
            return  # the stream is beyond parsing
        if self._offset >= len(self._buffer) and not self._pieces and self._sink is None:
            self._buffer, self._offset = data, 0  # the common case: everything before was parsed
            return
        if self._sink is not None:
            self._feed_sink(data)
            return
        self._pieces.append(data)
        self._pieces_bytes += len(data)
        if len(self._buffer) - self._offset + self._pieces_bytes < self._need:
            return  # still incomplete: keep the pieces, copy nothing
        joined = b"".join((memoryview(self._buffer)[self._offset :], *self._pieces))
        self.copied_bytes += len(joined)
        self._buffer, self._offset, self._need = joined, 0, 0
        self._pieces, self._pieces_bytes = [], 0

    def _start_sink(self, first: int, payload: memoryview, size: int) -> None:
        """Write a big frame's payload as it arrives: into the fragmented message it belongs to,
        else into a buffer of its own."""
        opcode = first & 0x0F
        # A compressed frame is inflated as it arrives, like the fragments of a message.
        if opcode == OP_CONT or (opcode in (OP_TEXT, OP_BINARY) and (first & 0xC0) != 0x80):
            if self._fragments is None:
                self._start_fragments(first)
            self._sink = self._fragments
        else:
            self._sink = io.BytesIO()
        self._sink_first, self._sink_left = first, size
        self._buffer, self._offset = b"", 0
        self._feed_sink(payload)

    def _feed_sink(self, data: bytes | memoryview) -> None:
        sink, left = self._sink, self._sink_left
        assert sink is not None
        taken = data if len(data) <= left else memoryview(data)[:left]
        if sink is self._fragments:
            self._fragment_bytes += len(taken)
            if self._fragment_compressed:
                inflater = self.inflater
                assert inflater is not None
                try:
                    sink.write(inflater.feed(taken))
                except ProtocolViolation as violation:  # feed() never raises: next_message() will
                    self._failed, self._ready, self._sink = violation, (-1, None), None
                    return
            else:
                sink.write(taken)
        else:
            sink.write(taken)
        self.copied_bytes += len(taken)
        self._sink_left = left = left - len(taken)
        if left:
            return
        self._ready = (self._sink_first, None if sink is self._fragments else sink.getvalue())
        self._sink = None
        self._buffer, self._offset = bytes(data[len(taken) :]), 0  # at most the rest of one read

    def buffered_bytes(self) -> int:
        """Return the bytes held: unparsed input, a big frame so far, an unfinished message."""
        held = len(self._buffer) - self._offset + self._pieces_bytes + self._fragment_bytes
        if self._sink is not None and self._sink is not self._fragments:
            held += self._sink.tell()
        if self._ready is not None and self._ready[1] is not None:
            held += len(self._ready[1])
        return held

    def next_message(self) -> Message | None:
        """Return the next data message or control frame, or None until more bytes are fed.

        A close frame's payload has been checked with :func:`parse_close`.

        Raises:
            ProtocolViolation: the server broke a rule (see the module docstring).
        """
        while True:
            if self._ready is not None:  # a big frame feed() completed (its header was checked)
                first, ready = self._ready
                if first < 0:  # feed() found the violation (inflating as bytes arrived): for good
                    assert self._failed is not None
                    raise self._failed
                self._ready = None
                if ready is None:  # written straight into the fragmented message
                    if first & 0x80:
                        return self._end_fragments()
                    continue
                payload = ready
            else:
                buffer, offset = self._buffer, self._offset
                available = len(buffer) - offset
                if available < 2:
                    self._need = 2
                    return None
                first, second = buffer[offset], buffer[offset + 1]
                size = second & 0x7F
                head = 2
                if size >= 126:
                    head = 4 if size == 126 else 10
                    if available < head:
                        self._need = head
                        return None
                    size = int.from_bytes(buffer[offset + 2 : offset + head], "big")
                # One test passes the usual frame (a whole text or binary message, unmasked, no
                # reserved bits, within the limit); anything else goes through every check.
                if (first != 0x81 and first != 0x82) or second & 0x80 or self._fragments is not None:
                    self._check(first, second, size)
                elif size > self.max_size:
                    raise ProtocolViolation(f"message over the {self.max_size}-byte limit", 1009)
                end = offset + head + size
                if len(buffer) < end:
                    if size >= self.direct_bytes:
                        self._start_sink(first, memoryview(buffer)[offset + head :], size)
                        if self._ready is not None:  # its first bytes inflated beyond the limit
                            continue
                    else:
                        self._need = head + size
                    return None
                self._offset, self._need = end, 0
                payload = buffer[offset + head : end]
            opcode = first & 0x0F
            if first & 0x80 and opcode:
                if opcode == OP_CLOSE:
                    parse_close(payload)
                elif self.inflater is not None and opcode <= OP_BINARY:
                    payload = self._inflated(first & 0x40, payload)
                return opcode, payload  # the hot path: one whole message, or a control frame
            if opcode:  # the first frame of a fragmented message
                self._start_fragments(first)
            fragments = self._fragments
            assert fragments is not None
            if self._fragment_compressed:
                inflater = self.inflater
                assert inflater is not None
                fragments.write(inflater.feed(payload))
            else:
                fragments.write(payload)
            self.copied_bytes += len(payload)
            self._fragment_bytes += len(payload)
            if first & 0x80:
                return self._end_fragments()

    def _start_fragments(self, first: int) -> None:
        """Start a message whose frames are written as they come (fragments, or a big compressed frame)."""
        self._fragments, self._fragment_opcode, self._fragment_bytes = io.BytesIO(), first & 0x0F, 0
        self._fragment_compressed = bool(first & 0x40)
        if self._fragment_compressed:
            inflater = self.inflater
            assert inflater is not None  # _check refused RSV1 otherwise
            inflater.begin()

    def _end_fragments(self) -> Message:
        fragments = self._fragments
        assert fragments is not None
        self._fragments, self._fragment_bytes = None, 0
        inflater = self.inflater
        if inflater is not None:
            if self._fragment_compressed:
                fragments.write(inflater.end())
            else:
                inflater.plain(fragments.tell())
        return self._fragment_opcode, fragments.getvalue()  # hands over its buffer: no copy

    def _inflated(self, compressed: int | bool, payload: bytes) -> bytes:
        """Return a whole data message of a session that negotiated compression, inflated if it was."""
        inflater = self.inflater
        assert inflater is not None
        if compressed:
            return inflater.inflate(payload)
        inflater.plain(len(payload))
        return payload

    def _check(self, first: int, second: int, size: int) -> None:
        """Check a frame header against what a client must refuse (before buffering its payload)."""
        opcode = first & 0x0F
        if first & 0x70 or second & 0x80:
            if second & 0x80:
                raise ProtocolViolation("the server masked a frame")
            if first & 0x70 != 0x40 or self.inflater is None:
                raise ProtocolViolation("reserved bits set (an extension we did not negotiate)")
            if opcode not in (OP_TEXT, OP_BINARY):  # RFC 7692 §6: only a data message's first frame
                raise ProtocolViolation("RSV1 (compressed) set on a control or continuation frame")
        if opcode & 0x08:
            if opcode > OP_PONG:
                raise ProtocolViolation(f"unknown opcode {opcode}")
            if not first & 0x80:
                raise ProtocolViolation("fragmented control frame")
            if size > 125:
                raise ProtocolViolation("control frame over 125 bytes")
        elif opcode > OP_BINARY:
            raise ProtocolViolation(f"unknown opcode {opcode}")
        elif opcode == OP_CONT:
            if self._fragments is None:
                raise ProtocolViolation("continuation frame with no message to continue")
            if size > self.max_size - self._fragment_bytes:
                raise ProtocolViolation(f"message over the {self.max_size}-byte limit", 1009)
        elif self._fragments is not None:
            raise ProtocolViolation("new message inside a fragmented one")
        elif size > self.max_size:
            raise ProtocolViolation(f"message over the {self.max_size}-byte limit", 1009)
