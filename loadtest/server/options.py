"""Command-line options of the embedded target server."""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from websockets.frames import EXTERNAL_CLOSE_CODES

__all__ = ["ServerOptions", "build_parser", "parse_args"]

AUTH_MODES = ("handshake", "message")
DIALECTS = ("echo", "socketio", "graphql-ws", "stomp")  # loadtest.server.dialects.DIALECTS


def _is_sendable_close_code(code: int) -> bool:
    """Return whether a server may put ``code`` in a close frame."""
    return code in EXTERNAL_CLOSE_CODES or 3000 <= code <= 4999


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """Hold every option of the embedded server; invalid values raise ``ValueError``."""

    host: str = "127.0.0.1"
    port: int = 8765
    verbose: bool = False
    close_every: int | None = None
    close_code: int | None = None
    close_after: float = 0.0
    close_reason: str = ""
    drop_every: int | None = None
    drop_after: float = 0.0
    idle_timeout: float | None = None
    idle_close_code: int | None = None
    idle_ignores_pings: bool = False
    reject_every: int | None = None
    reject_status: int | None = None
    allowed_origins: tuple[str, ...] = ()
    required_headers: tuple[str, ...] = ()
    subprotocols: tuple[str, ...] = ()
    certfile: str | None = None
    keyfile: str | None = None
    client_ca: str | None = None
    token: str | None = None
    auth_mode: str = "handshake"
    max_message_size: int | None = None
    read_delay: float = 0.0
    stop_reading: bool = False
    drop_all_at: float | None = None
    drop_all_every: float | None = None
    max_handshake_rate: int | None = None
    handshake_delay: float = 0.0
    protocol_ping_interval: float | None = None
    pubsub: bool = False
    drop_delivery_every: int | None = None
    delay_deliveries: float = 0.0
    reorder_every: int | None = None
    slow_subscriber_every: int | None = None
    dialect: str = "echo"
    path: str | None = None
    heartbeat: float | None = None
    namespaces: tuple[str, ...] = ()
    stomp_vhost: str = "/"
    stomp_login: str | None = None
    stomp_passcode: str | None = None
    compression: str = "off"
    deflate_server_max_window_bits: int | None = None
    deflate_client_max_window_bits: int | None = None
    deflate_server_no_context_takeover: bool = False
    deflate_client_no_context_takeover: bool = False

    def __post_init__(self) -> None:
        """Validate the options, raising ``ValueError`` with one sentence on the first bad value."""
        if not self.host:
            raise ValueError("--host must not be empty.")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be between 0 and 65535, got {self.port}.")
        for name in ("close_every", "drop_every", "reject_every", "max_handshake_rate", *_PUBSUB_EVERY):
            _check_positive_int(name, getattr(self, name))
        if self.max_message_size is not None:
            _check_positive_int("max_message_size", self.max_message_size)
        for name in ("close_after", "drop_after", "read_delay", "handshake_delay", "delay_deliveries"):
            _check_seconds(name, getattr(self, name), allow_zero=True)
        for name in ("idle_timeout", "drop_all_every", "protocol_ping_interval", "heartbeat"):
            value = getattr(self, name)
            if value is not None:
                _check_seconds(name, value, allow_zero=False)
        if self.drop_all_at is not None:
            _check_seconds("drop_all_at", self.drop_all_at, allow_zero=True)
        if (self.close_every is None) != (self.close_code is None):
            raise ValueError("--close-every and --close-code must be given together.")
        for name in ("close_code", "idle_close_code"):
            code = getattr(self, name)
            if code is not None and not _is_sendable_close_code(code):
                raise ValueError(
                    f"--{_flag(name)} must be a close code a server may send "
                    f"(1000-1003, 1007-1014 or 3000-4999), got {code}."
                )
        if len(self.close_reason.encode()) > 123:
            raise ValueError("--close-reason must be at most 123 bytes of UTF-8.")
        if self.close_reason and self.close_every is None:
            raise ValueError("--close-reason needs --close-every and --close-code.")
        if self.idle_ignores_pings and self.idle_timeout is None:
            raise ValueError("--idle-ignores-pings needs --idle-timeout.")
        if self.idle_close_code is not None and self.idle_timeout is None:
            raise ValueError("--idle-close-code needs --idle-timeout.")
        if (self.reject_every is None) != (self.reject_status is None):
            raise ValueError("--reject-every and --reject-status must be given together.")
        if self.reject_status is not None and not 400 <= self.reject_status <= 599:
            raise ValueError(
                f"--reject-status must be an HTTP status from 400 to 599, got {self.reject_status}."
            )
        if self.auth_mode not in AUTH_MODES:
            raise ValueError(f"--auth-mode must be 'handshake' or 'message', got {self.auth_mode!r}.")
        if self.token is not None and not self.token:
            raise ValueError("--token must not be empty.")
        for header in self.required_headers:
            name, colon, _ = header.partition(":")
            if not colon or not name.strip():
                raise ValueError(f"--require-header must look like 'Name: value', got {header!r}.")
        if self.keyfile and not self.certfile:
            raise ValueError("--keyfile needs --certfile.")
        if self.client_ca and not self.certfile:
            raise ValueError("--client-ca needs --certfile (client certificates are a TLS feature).")
        if any(not origin for origin in self.allowed_origins):
            raise ValueError("--allowed-origin must not be empty.")
        if self.stop_reading and (self.auth_mode == "message" and self.token is not None):
            raise ValueError("--stop-reading cannot be combined with --auth-mode message.")
        if not self.pubsub:
            for name in (*_PUBSUB_EVERY, "delay_deliveries"):
                if getattr(self, name):
                    raise ValueError(f"--{_flag(name)} is a fault of the pub/sub mode: give --pubsub too.")
        if self.slow_subscriber_every is not None and not self.delay_deliveries:
            raise ValueError("--slow-subscriber-every needs --delay-deliveries (its delay).")
        self._check_dialect()
        self._check_compression()
        if self.pubsub and self.dialect != "echo":
            raise ValueError("--pubsub is a mode of the echo dialect: give either --pubsub or --dialect.")

    def _check_compression(self) -> None:
        """Validate --compression and the permessage-deflate choices that need it."""
        if self.compression not in ("off", "deflate"):
            raise ValueError(f"--compression must be 'off' or 'deflate', got {self.compression!r}.")
        for name in ("deflate_server_max_window_bits", "deflate_client_max_window_bits"):
            bits = getattr(self, name)
            if bits is not None and not 9 <= bits <= 15:
                raise ValueError(f"--{_flag(name)} must be from 9 to 15 (zlib's windows), got {bits}.")
        chosen = [
            f.name
            for f in dataclasses.fields(self)
            if f.name.startswith("deflate_") and getattr(self, f.name)
        ]
        if chosen and self.compression != "deflate":
            raise ValueError(f"--{_flag(chosen[0])} needs --compression deflate.")

    def _check_dialect(self) -> None:
        """Validate the dialect and the options that belong to one dialect only."""
        if self.dialect not in DIALECTS:
            raise ValueError(f"--dialect must be one of {', '.join(DIALECTS)}, got {self.dialect!r}.")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"--path must start with '/', got {self.path!r}.")
        if self.heartbeat is not None and self.dialect == "echo":
            raise ValueError("--heartbeat needs a --dialect (protocol pings: see --protocol-ping-interval).")
        if self.namespaces and self.dialect != "socketio":
            raise ValueError("--namespace needs --dialect socketio.")
        if any(not ns.startswith("/") for ns in self.namespaces):
            raise ValueError("--namespace must start with '/'.")
        stomp_set = self.stomp_vhost != "/" or self.stomp_login is not None or self.stomp_passcode is not None
        if stomp_set and self.dialect != "stomp":
            raise ValueError("--stomp-vhost, --stomp-login and --stomp-passcode need --dialect stomp.")
        if self.dialect != "echo" and (
            self.stop_reading or (self.token is not None and self.auth_mode == "message")
        ):
            raise ValueError("--stop-reading and --auth-mode message belong to the echo, not to a --dialect.")

    def to_args(self) -> list[str]:
        """Render the options as command-line arguments accepted by ``parse_args``."""
        args: list[str] = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value == field.default:
                continue
            flag = "--" + _flag(field.name)
            if field.name in _REPEATED:
                for item in value:
                    args += [f"--{_REPEATED[field.name]}", item]
            elif isinstance(value, bool):
                args.append(flag)
            else:
                args += [flag, str(value)]
        return args


#: The every-Nth faults of the pub/sub mode.
_PUBSUB_EVERY = ("drop_delivery_every", "reorder_every", "slow_subscriber_every")

#: Repeatable options: field name -> flag (without the dashes).
_REPEATED = {
    "allowed_origins": "allowed-origin",
    "required_headers": "require-header",
    "subprotocols": "subprotocol",
    "namespaces": "namespace",
}


def _flag(name: str) -> str:
    """Return the command-line spelling of a field name, without the dashes."""
    return name.replace("_", "-")


def _check_positive_int(name: str, value: int | None) -> None:
    """Raise ``ValueError`` unless ``value`` is None or an integer of at least 1."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"--{_flag(name)} must be an integer of at least 1, got {value!r}.")


def _check_seconds(name: str, value: float, *, allow_zero: bool) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite, non-negative (or positive) number of seconds."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        raise ValueError(f"--{_flag(name)} must be a finite number of seconds, {bound}, got {value!r}.")


def build_parser(prog: str = "python -m loadtest.server") -> argparse.ArgumentParser:
    """Build the argument parser of the embedded server."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the embedded WebSocket target server: echo, app-level ping/pong, fault injection, "
        "and exact counters at GET /stats.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    add("--port", type=int, default=8765, help="TCP port; 0 picks a free port (default: %(default)s)")
    add("--verbose", action="store_true", help="log every connection to stderr")

    faults = parser.add_argument_group("closes and drops")
    faults.add_argument("--close-every", type=int, metavar="N", help="close every Nth accepted session")
    faults.add_argument("--close-code", type=int, metavar="CODE", help="close code used by --close-every")
    faults.add_argument(
        "--close-after",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="delay before that close (default: 0)",
    )
    faults.add_argument(
        "--close-reason", default="", metavar="TEXT", help="close reason used by --close-every"
    )
    faults.add_argument(
        "--drop-every", type=int, metavar="N", help="abort every Nth session (no close frame)"
    )
    faults.add_argument(
        "--drop-after", type=float, default=0.0, metavar="SECONDS", help="delay before that drop (default: 0)"
    )
    faults.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help="end a session that received nothing for SECONDS",
    )
    faults.add_argument(
        "--idle-close-code",
        type=int,
        metavar="CODE",
        help="close idle sessions with CODE instead of aborting",
    )
    faults.add_argument(
        "--idle-ignores-pings",
        action="store_true",
        help="with --idle-timeout: only data frames count as activity (like some load balancers)",
    )
    faults.add_argument(
        "--drop-all-at", type=float, metavar="SECONDS", help="abort all sessions once, at SECONDS"
    )
    faults.add_argument(
        "--drop-all-every", type=float, metavar="SECONDS", help="abort all sessions every SECONDS"
    )

    hs = parser.add_argument_group("handshakes")
    hs.add_argument(
        "--reject-every", type=int, metavar="N", help="answer every Nth handshake with --reject-status"
    )
    hs.add_argument("--reject-status", type=int, metavar="STATUS", help="HTTP status used by --reject-every")
    hs.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        dest="allowed_origins",
        metavar="ORIGIN",
        help="accept only this Origin (repeatable); others get 403",
    )
    hs.add_argument(
        "--require-header",
        action="append",
        default=[],
        dest="required_headers",
        metavar="'NAME: VALUE'",
        help="a handshake without this exact header value gets 400 (repeatable)",
    )
    hs.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        dest="subprotocols",
        metavar="NAME",
        help="subprotocols the server supports, picked from the client's offer (repeatable)",
    )
    hs.add_argument("--token", help="require this token (?token= or Authorization: Bearer); else 401")
    hs.add_argument(
        "--auth-mode",
        choices=AUTH_MODES,
        default="handshake",
        help="where --token is checked (default: %(default)s)",
    )
    hs.add_argument(
        "--max-handshake-rate",
        type=int,
        metavar="PER_SECOND",
        help="answer 503 beyond this many handshakes a second",
    )
    hs.add_argument(
        "--handshake-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long before answering each handshake (a slow server or proxy)",
    )

    tls = parser.add_argument_group("TLS (wss://)")
    tls.add_argument("--certfile", metavar="PEM", help="serve wss:// with this certificate (chain)")
    tls.add_argument("--keyfile", metavar="PEM", help="the certificate's key (if not in --certfile)")
    tls.add_argument("--client-ca", metavar="PEM", help="require client certificates signed by this CA")

    flow = parser.add_argument_group("messages and flow control")
    flow.add_argument(
        "--max-message-size",
        type=int,
        metavar="BYTES",
        help="close with 1009 on a bigger message (default: no limit)",
    )
    flow.add_argument(
        "--read-delay", type=float, default=0.0, metavar="SECONDS", help="sleep after each received message"
    )
    flow.add_argument(
        "--stop-reading", action="store_true", help="never read after the handshake (backpressure)"
    )
    flow.add_argument(
        "--protocol-ping-interval", type=float, metavar="SECONDS", help="send protocol pings every SECONDS"
    )

    pubsub = parser.add_argument_group("publish/subscribe (see docs/fanout.md)")
    pubsub.add_argument(
        "--pubsub",
        action="store_true",
        help='answer {"type":"subscribe"|"unsubscribe"|"publish","topic":T}: publishes go to subscribers',
    )
    pubsub.add_argument("--drop-delivery-every", type=int, metavar="N", help="drop every Nth delivery")
    pubsub.add_argument(
        "--delay-deliveries",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="delay each delivery by SECONDS (default: 0)",
    )
    pubsub.add_argument(
        "--reorder-every",
        type=int,
        metavar="N",
        help="send every Nth delivery after the next one to the same subscriber (a swap)",
    )
    pubsub.add_argument(
        "--slow-subscriber-every",
        type=int,
        metavar="N",
        help="with --delay-deliveries: delay only every Nth subscriber's deliveries (a slow subscriber)",
    )
    deflate = parser.add_argument_group("permessage-deflate (see docs/compression.md)")
    deflate.add_argument(
        "--compression",
        choices=("off", "deflate"),
        default="off",
        help="accept permessage-deflate when a client offers it (default: %(default)s); bytes at /stats",
    )
    deflate.add_argument(
        "--deflate-server-max-window-bits", type=int, metavar="BITS", help="our window (9-15; default 15)"
    )
    deflate.add_argument(
        "--deflate-client-max-window-bits",
        type=int,
        metavar="BITS",
        help="the window the client must compress in (9-15; default: its own choice)",
    )
    deflate.add_argument(
        "--deflate-server-no-context-takeover", action="store_true", help="compress every message afresh"
    )
    deflate.add_argument(
        "--deflate-client-no-context-takeover",
        action="store_true",
        help="require the client to compress every message afresh",
    )
    dialects = parser.add_argument_group("protocols (instead of the echo)")
    dialects.add_argument(
        "--dialect",
        choices=DIALECTS,
        default="echo",
        help="speak Socket.IO v4, GraphQL over WebSocket (graphql-transport-ws) or STOMP 1.2 "
        "(default: %(default)s); counters per protocol at /stats",
    )
    dialects.add_argument(
        "--path",
        metavar="PATH",
        help="serve WebSocket upgrades at this path only, others get 404 (default: any path for "
        "the echo; /socket.io/, /graphql, /ws for the dialects)",
    )
    dialects.add_argument(
        "--heartbeat",
        type=float,
        metavar="SECONDS",
        help="the dialect's heartbeat: Engine.IO pingInterval (default 25), STOMP heart-beat "
        "(default 10), graphql-transport-ws server pings (default none)",
    )
    dialects.add_argument(
        "--namespace",
        action="append",
        default=[],
        dest="namespaces",
        metavar="NS",
        help="socketio: serve only these namespaces (repeatable; default: any); others get CONNECT_ERROR",
    )
    dialects.add_argument(
        "--stomp-vhost", default="/", metavar="HOST", help="stomp: the host header CONNECT needs"
    )
    dialects.add_argument("--stomp-login", metavar="USER", help="stomp: the login CONNECT needs")
    dialects.add_argument("--stomp-passcode", metavar="PASS", help="stomp: the passcode CONNECT needs")
    return parser


def parse_args(
    argv: Sequence[str] | None = None, *, prog: str = "python -m loadtest.server"
) -> ServerOptions:
    """Parse command-line arguments into ``ServerOptions``, exiting with status 2 on bad values."""
    parser = build_parser(prog)
    namespace = parser.parse_args(argv)
    values = vars(namespace)
    for name in _REPEATED:
        values[name] = tuple(values[name])
    try:
        return ServerOptions(**values)
    except ValueError as exc:
        parser.error(str(exc))
