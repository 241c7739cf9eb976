"""permessage-deflate on the embedded target (``--compression deflate``), with its bytes counted.

The compression itself is the ``websockets`` library's (``ServerPerMessageDeflateFactory``), a
second implementation of RFC 7692 beside the load generator's own (:mod:`loadtest.deflate`):
the window sizes and no-context-takeover choices are its options. The only addition is a
count, per data frame, of the bytes before and after the codec, so ``/stats`` can be compared
with the generator's ``compression`` section byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.frames import CTRL_OPCODES, Frame
from websockets.typing import ExtensionParameter

#: The window sizes zlib can compress in (websockets refuses 8 for its own side).
WINDOW_BITS = range(9, 16)


class DeflateCounts:
    """Sessions that negotiated permessage-deflate, and their data frames' bytes before and after it."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.negotiated = 0
        self.payload_received = self.wire_received = 0
        self.payload_sent = self.wire_sent = 0

    def snapshot(self) -> dict[str, int]:
        """Return the counters as ``/stats`` shows them (the generator's names)."""
        return {
            "negotiated": self.negotiated,
            "bytes_payload_received": self.payload_received,
            "bytes_wire_received": self.wire_received,
            "bytes_payload_sent": self.payload_sent,
            "bytes_wire_sent": self.wire_sent,
        }


class _CountingDeflate(PerMessageDeflate):
    """The library's codec, counting the data bytes it decodes and encodes."""

    counts: DeflateCounts

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        decoded = super().decode(frame, max_size=max_size)
        if frame.opcode not in CTRL_OPCODES:
            self.counts.wire_received += len(frame.data)
            self.counts.payload_received += len(decoded.data)
        return decoded

    def encode(self, frame: Frame) -> Frame:
        encoded = super().encode(frame)
        if frame.opcode not in CTRL_OPCODES:
            self.counts.payload_sent += len(frame.data)
            self.counts.wire_sent += len(encoded.data)
        return encoded


class CountingFactory(ServerPerMessageDeflateFactory):
    """``ServerPerMessageDeflateFactory`` whose extensions count into ``counts``."""

    def __init__(self, counts: DeflateCounts, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counts = counts

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        response, ext = super().process_request_params(params, accepted_extensions)
        counting = _CountingDeflate(
            ext.remote_no_context_takeover,
            ext.local_no_context_takeover,
            ext.remote_max_window_bits,
            ext.local_max_window_bits,
            ext.compress_settings,
        )
        counting.counts = self.counts
        return response, counting


def factory(counts: DeflateCounts, options: Any) -> CountingFactory:
    """Return the extension factory of the server's ``--deflate-*`` options."""
    return CountingFactory(
        counts,
        server_no_context_takeover=options.deflate_server_no_context_takeover,
        client_no_context_takeover=options.deflate_client_no_context_takeover,
        server_max_window_bits=options.deflate_server_max_window_bits,
        client_max_window_bits=options.deflate_client_max_window_bits,
    )
