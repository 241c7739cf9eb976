"""Stable classes of failed handshakes and their one-line hints.

Locust groups failures by message, so a class and its detail never contain ids, ports or times.
The set of classes is bounded by construction: ``http_100`` to ``http_599``, the named classes
below, and ``protocol`` for any other answer (a server answering with random status numbers
cannot grow our memory).
"""

from __future__ import annotations

#: class -> hint; ``http_<status>`` classes are looked up by :func:`hint`.
HANDSHAKE_HINTS: dict[str, str] = {
    "timeout": "slow server, dropped SYN or overloaded proxy: raise --ws-connect-timeout or check the path",
    "refused": "nothing listens there: check the host, the port and that the server is up",
    "unreachable": "no route to the host: check the address, firewall and network",
    "dns": "the host name does not resolve: check its spelling and DNS",
    "tls": "check certificates, the host name and that the port speaks TLS (or pass a CA bundle)",
    "protocol": "the answer is not a valid WebSocket upgrade: check the proxy forwards Upgrade/Connection",
    "reset": "the server closed the connection during the handshake: check its logs and limits",
    "error": "the socket failed during the handshake",
    "bad_url": "use a ws:// or wss:// URL such as ws://127.0.0.1:8765/path",
}

_HTTP_HINTS: dict[int, str] = {
    200: "the proxy is not upgrading: forward the Upgrade and Connection headers",
    400: "the proxy is not upgrading, or the request is malformed: check Upgrade/Connection headers",
    401: "credentials missing or wrong: check the token",
    403: "origin rejected or credentials missing",
    404: "no WebSocket endpoint at this path: check the URL path",
    426: "the proxy is not upgrading: forward Upgrade/Connection and use HTTP/1.1",
    429: "rate limited: slow the handshake rate or back off",
    500: "server error during the handshake: check its logs",
    502: "the proxy could not reach the WebSocket server",
    503: "the server or proxy is overloaded or limiting handshakes: back off",
    504: "the proxy timed out waiting for the WebSocket server",
}


def http_class(status: int) -> str:
    """Return the class of a handshake answered with HTTP ``status`` instead of 101.

    A number outside 100-599 is not an HTTP status: the answer is not valid HTTP (``protocol``).
    """
    return f"http_{status}" if 100 <= status <= 599 else "protocol"


def bounded_class(failure_class: str) -> str:
    """Return ``failure_class`` if it is one of the bounded set of classes, else ``protocol``."""
    if failure_class in HANDSHAKE_HINTS:
        return failure_class
    digits = failure_class[5:]
    if failure_class.startswith("http_") and len(digits) == 3 and digits.isascii() and digits.isdigit():
        return failure_class if "100" <= digits <= "599" else "protocol"
    return "protocol"


def hint(failure_class: str) -> str:
    """Return the one-line hint for a failure class."""
    if failure_class.startswith("http_"):
        try:
            status = int(failure_class[5:])
        except ValueError:
            return HANDSHAKE_HINTS["protocol"]
        if status in _HTTP_HINTS:
            return _HTTP_HINTS[status]
        if 300 <= status < 400:
            return "redirected: point the run at the final ws:// URL"
        if status < 400:
            return "the proxy is not upgrading: the answer was not 101 Switching Protocols"
        return "the server refused the upgrade: check its logs"
    return HANDSHAKE_HINTS.get(failure_class, HANDSHAKE_HINTS["error"])
