"""Close codes, who closed, and the field guide's one-line hints.

Every session ends in exactly one of three ways, and the summary counts each:

* ``server``: the server's close frame came first; its code (1005 when it carried none).
* ``client``: we sent the first close frame; the code we sent.
* ``abnormal``: 1006, the connection ended with no close frame (reset, EOF, declared dead,
  a send that timed out half-way through a frame, a stop that could not finish a frame).

Keys are bounded by construction: a close code is counted under its number only from 1000 to
4999 (a server's code outside the codes allowed on the wire is a protocol violation the session
answers with 1002), and an abnormal end under one of :data:`ABNORMAL_REASONS`.
"""

from __future__ import annotations

SERVER = "server"
CLIENT = "client"
ABNORMAL = "abnormal"

NO_STATUS = 1005
ABNORMAL_CODE = 1006

#: code -> (meaning, hint); from ../shared/TROUBLESHOOTING-MAP.md
CLOSE_CODES: dict[int, tuple[str, str]] = {
    1000: ("normal closure", "expected"),
    1001: ("going away", "server shutting down or client navigating"),
    1002: ("protocol error", "a frame broke the protocol: check message format"),
    1003: ("unsupported data", "server refused text/binary type"),
    1005: ("no status code", "the close frame carried no code"),
    1006: (
        "abnormal closure, no close frame",
        "check network, server logs and proxy idle timeouts",
    ),
    1007: ("invalid payload data", "a text message was not valid UTF-8"),
    1008: ("policy violation", "origin or authentication rejected"),
    1009: ("message too big", "reduce message size or raise the server limit"),
    1010: ("mandatory extension", "the client asked for an extension the server lacks"),
    1011: ("internal server error", "server bug: check its logs"),
    1012: ("service restart", "server restarting: expect reconnects"),
    1013: ("try again later", "server overloaded: back off before reconnecting"),
    1014: ("bad gateway", "proxy could not reach the upstream"),
    1015: ("TLS handshake failure", "check certificates"),
}

#: Why a connection ended without a close frame.
ABNORMAL_REASONS: dict[str, str] = {
    "eof": "the peer closed the TCP connection without a close frame",
    "reset": "the connection was reset (RST)",
    "dead": "declared dead: no pong or reply in time (half-open)",
    "send_timeout": "a send timed out mid-frame; the connection could not be used again",
    "close_timeout": "our close frame was not answered in time",
    "stopped_mid_send": "the run stopped in the middle of a frame that could not be finished in time",
    "stopped": "the run stopped before the session could be closed in time",
    "storm": "dropped on purpose by a reconnect storm",
    "error": "the socket failed",
    "other": "ended without a close frame for another reason",
}


def code_key(code: int) -> str:
    """Return the counter key of a close code: its number from 1000 to 4999, else ``other``."""
    return str(code) if 1000 <= code <= 4999 else "other"


def reason_key(reason: str) -> str:
    """Return the counter key of an abnormal end's reason (``error`` when empty, ``other`` if unknown)."""
    if not reason:
        return "error"
    return reason if reason in ABNORMAL_REASONS else "other"


def meaning(code: int) -> str:
    """Return the standard meaning of a close code."""
    if code in CLOSE_CODES:
        return CLOSE_CODES[code][0]
    if 3000 <= code <= 3999:
        return "registered by a library or framework"
    if 4000 <= code <= 4999:
        return "application-defined"
    return "unknown"


def hint(code: int) -> str:
    """Return the field guide's hint for a close code."""
    if code in CLOSE_CODES:
        return CLOSE_CODES[code][1]
    if 4000 <= code <= 4999:
        return "the application closed it: check the server's own code table"
    return "not a standard code: check the server"
