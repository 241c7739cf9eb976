"""The asyncio WebSocket target server: echo, app-level ping/pong, fault injection and counters."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import hmac
import logging
import signal
import socket
import ssl
import struct
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any, cast

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED, OPEN
from websockets.typing import Subprotocol

from loadtest.server import compression, dialects
from loadtest.server.options import ServerOptions
from loadtest.server.pubsub import PubSub
from loadtest.server.stats import ServerStats

__all__ = ["ServerStats", "TargetServer", "run"]

logger = logging.getLogger("loadtest.server")

# Closing handshake timeout: a peer that never answers our close frame is aborted after this.
CLOSE_TIMEOUT = 3.0
# Closing handshake timeout used when shutting down on SIGTERM/SIGINT.
SHUTDOWN_CLOSE_TIMEOUT = 1.0
# How often a --stop-reading session checks whether the peer went away (reading is paused).
STALL_POLL_INTERVAL = 0.25
# Receive buffer of accepted sockets in --stop-reading mode, so that backpressure shows quickly.
STOP_READING_RCVBUF = 4096
# Linux TCP states (tcp_states.h) that mean the peer is still there.
_TCP_LIVE_STATES = {1}  # TCP_ESTABLISHED
# A dropped session reads at most this many 64 KiB chunks its kernel still held for it.
ABORT_READ_CHUNKS = 16
AUTH_OK = b'{"type":"auth_result","ok":true}'
AUTH_FAILED = b'{"type":"auth_result","ok":false}'


class TargetConnection(ServerConnection):
    """A server connection that tracks activity, server aborts and answered handshakes."""

    target: TargetServer  # set on the per-server subclass made by TargetServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Initialize the connection and its bookkeeping."""
        super().__init__(*args, **kwargs)
        self.last_activity = self.loop.time()
        self.aborted_by_server = False
        self.is_stats_request = False
        self.partial_bytes = 0  # payload bytes of a fragmented message still arriving
        self.frames_in_message = 0  # frames of that message beyond its first
        self.binary_message = False

    def process_event(self, event: Any) -> None:
        """Note the time of every received frame, count data messages as they arrive, process it.

        Counting here, not in the handler, counts every message that reached the server, even
        those still queued when the connection closes (the handler never sees those).
        """
        opcode = getattr(event, "opcode", None)
        if not self.target.options.idle_ignores_pings or opcode not in (Opcode.PING, Opcode.PONG):
            self.last_activity = self.loop.time()
        if opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            self.partial_bytes += len(event.data)
            if opcode is Opcode.CONT or not event.fin:
                self.frames_in_message += 1
            if opcode is Opcode.BINARY:
                self.binary_message = True
            if event.fin:
                stats = self.target.stats
                stats.received += 1
                stats.bytes_received += self.partial_bytes
                stats.binary_received += self.binary_message
                stats.fragmented_received += self.frames_in_message > 0
                self.partial_bytes = self.frames_in_message = 0
                self.binary_message = False
        super().process_event(event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Shrink the receive buffer in --stop-reading mode."""
        super().connection_made(transport)
        if self.target.options.stop_reading:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STOP_READING_RCVBUF)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """Perform the opening handshake and count it if it was answered with a non-101 status."""
        await super().handshake(*args, **kwargs)
        response = self.response
        rejected = response is not None and response.status_code != 101 and not self.is_stats_request
        if rejected and response is not None and self.protocol.eof_sent:  # the rejection was written
            self.target.stats.rejected[str(response.status_code)] += 1

    def abort_by_server(self) -> None:
        """Abort the TCP connection without a close frame, counting it as dropped, if still open.

        Bytes the kernel already holds for us are read and counted first: a message the client
        wrote whole before the abort reached this server, even if the event loop had not yet
        polled the socket (the abort would discard it unread, and the client, which counts it
        as sent, would then disagree with our ``received``).
        """
        if self.protocol.state is OPEN and not self.aborted_by_server:
            self.aborted_by_server = True
            self._read_what_arrived()
            self.transport.abort()

    def _read_what_arrived(self) -> None:
        """Feed the bytes waiting in the socket's receive queue to the protocol (bounded).

        Under TLS they are records: they go through asyncio's TLS layer as the event loop would
        hand them over (its buffered-protocol ``get_buffer``/``buffer_updated``), which passes
        the plaintext on to :meth:`data_received`.
        """
        tsock = self.transport.get_extra_info("socket")
        if tsock is None or not self.transport.is_reading():  # --stop-reading: nothing is consumed
            return
        feed: Callable[[bytes], None] = self.data_received
        if self.transport.get_extra_info("ssl_object") is not None:
            tls = getattr(self.transport, "_ssl_protocol", None)  # asyncio's SSLProtocol
            if not isinstance(tls, asyncio.BufferedProtocol):
                return  # another TLS layer: what it holds unread is not counted
            feed = functools.partial(_feed_buffered, tls)
        with tsock.dup() as sock:
            sock.setblocking(False)
            for _ in range(ABORT_READ_CHUNKS):
                try:
                    data = sock.recv(65536)
                except OSError:  # BlockingIOError (empty) or the peer reset it already
                    return
                if not data:
                    return
                feed(data)
                if self.protocol.state is not OPEN:
                    return


def _feed_buffered(protocol: asyncio.BufferedProtocol, data: bytes) -> None:
    """Hand ``data`` to a buffered protocol as the event loop does (``get_buffer``, ``buffer_updated``)."""
    view = memoryview(data)
    while view:
        buffer = memoryview(protocol.get_buffer(len(view)))
        n = min(len(buffer), len(view))
        buffer[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


class TargetServer:
    """Hold the options, counters and fault-injection state of one running server."""

    def __init__(self, options: ServerOptions) -> None:
        """Prepare a server for ``options`` without opening any socket."""
        self.options = options
        self.dialect = dialects.create(options, self._send_text)
        self.deflate = compression.DeflateCounts() if options.compression == "deflate" else None
        self.stats = ServerStats(self.dialect, self.deflate)
        self.path = options.path or dialects.default_path(options.dialect)  # "": any path
        self.handshake_seq = 0
        self.session_seq = 0
        self.rate_window = -1
        self.rate_count = 0
        self.server: Server | None = None
        self.pubsub = (
            PubSub(
                self._send,
                drop_every=options.drop_delivery_every,
                delay_s=options.delay_deliveries,
                slow_every=options.slow_subscriber_every,
                reorder_every=options.reorder_every,
            )
            if options.pubsub
            else None
        )
        self.connection_class: type[TargetConnection] = type(
            "BoundTargetConnection", (TargetConnection,), {"target": self}
        )

    def reset(self) -> None:
        """Zero the counters and restart the every-Nth sequences from 1."""
        self.stats.reset()
        self.handshake_seq = 0
        self.session_seq = 0
        if self.pubsub is not None:
            self.pubsub.reset()

    # Handshakes

    async def _delayed_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Answer a handshake after ``--handshake-delay`` seconds (a slow server or proxy)."""
        await asyncio.sleep(self.options.handshake_delay)
        return self.process_request(conn, request)

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Serve ``GET /stats`` and apply the handshake faults, returning a response to refuse the upgrade."""
        connection = cast(TargetConnection, conn)
        url = urllib.parse.urlsplit(request.path)
        query = urllib.parse.parse_qs(url.query)
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            if url.path == "/stats":
                connection.is_stats_request = True
                return self._stats_response(reset=query.get("reset", ["0"])[-1] not in ("", "0"))
            return None  # websockets answers 426 Upgrade Required (counted as rejected)
        opts = self.options
        self.handshake_seq += 1
        if opts.reject_every and opts.reject_status and self.handshake_seq % opts.reject_every == 0:
            return connection.respond(opts.reject_status, "Rejected by --reject-every.\n")
        if opts.max_handshake_rate is not None:
            window = int(connection.loop.time())
            if window != self.rate_window:
                self.rate_window, self.rate_count = window, 0
            self.rate_count += 1
            if self.rate_count > opts.max_handshake_rate:
                return connection.respond(503, "Too many handshakes this second.\n")
        if self.path and url.path.rstrip("/") != self.path.rstrip("/"):
            return connection.respond(404, f"No WebSocket endpoint at {url.path}: try {self.path}.\n")
        if opts.allowed_origins and request.headers.get("Origin") not in opts.allowed_origins:
            return connection.respond(403, "Origin not allowed.\n")
        for header in opts.required_headers:
            name, _, value = header.partition(":")
            if value.strip() not in request.headers.get_all(name.strip()):
                return connection.respond(400, f"Missing required header {name.strip()}.\n")
        if opts.token is not None and opts.auth_mode == "handshake" and not self._has_token(request, query):
            response = connection.respond(401, "Missing or wrong token.\n")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return None

    def _has_token(self, request: Request, query: dict[str, list[str]]) -> bool:
        """Return whether the request carries the token in its query string or a Bearer header."""
        expected = (self.options.token or "").encode()
        candidates = list(query.get("token", []))
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(value.strip())
        return any(hmac.compare_digest(candidate.encode(), expected) for candidate in candidates)

    def _stats_response(self, *, reset: bool) -> Response:
        """Build the ``/stats`` JSON response, resetting the counters afterwards if asked."""
        snapshot = self.stats.snapshot()
        if self.pubsub is not None:
            snapshot["pubsub"] = self.pubsub.snapshot()
        body = orjson.dumps(snapshot)
        if reset:
            self.reset()
        headers = Headers(
            [
                ("Date", email.utils.formatdate(usegmt=True)),
                ("Connection", "close"),
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ]
        )
        return Response(200, "OK", headers, body)

    # Sessions

    async def handler(self, conn: ServerConnection) -> None:
        """Run one session: schedule its faults, serve it, and count how it ended once it is closed."""
        connection = cast(TargetConnection, conn)
        opts = self.options
        self.stats.session_opened(connection.remote_address, connection.subprotocol)
        if self.deflate is not None and connection.protocol.extensions:
            self.deflate.negotiated += 1
        self.session_seq += 1
        number = self.session_seq
        connection.last_activity = connection.loop.time()
        if opts.verbose:
            logger.info("session %d opened from %s", number, connection.remote_address)
        tasks: list[asyncio.Task[None]] = []
        if opts.close_every is not None and number % opts.close_every == 0:
            tasks.append(asyncio.create_task(self._close_later(connection)))
        if opts.drop_every is not None and number % opts.drop_every == 0:
            tasks.append(asyncio.create_task(self._drop_later(connection)))
        if opts.idle_timeout is not None:
            tasks.append(asyncio.create_task(self._watch_idle(connection, opts.idle_timeout)))
        try:
            if opts.stop_reading:
                await self._stall(connection)
            elif self.dialect is not None:
                await self.dialect.serve(connection)
            else:
                await self._serve(connection)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("session %d failed; closing it with 1011", number)
            await connection.close(1011, "internal error")
        finally:
            for task in tasks:
                task.cancel()
            if self.pubsub is not None:
                self.pubsub.leave(connection)
            if connection.protocol.state is not CLOSED and connection.protocol.close_sent is None:
                connection.transport.abort()
            await connection.wait_closed()
            self.stats.session_closed(connection)
            if opts.verbose:
                proto = connection.protocol
                logger.info(
                    "session %d ended (sent %s, received %s, aborted by server: %s)",
                    number,
                    proto.close_sent,
                    proto.close_rcvd,
                    connection.aborted_by_server,
                )

    async def _serve(self, connection: TargetConnection) -> None:
        """Answer messages until the connection closes: auth first if required, then echo and pong."""
        opts = self.options
        stats = self.stats
        awaiting_auth = opts.token is not None and opts.auth_mode == "message"
        while True:
            message = await connection.recv()
            payload = message.encode() if isinstance(message, str) else message
            if opts.read_delay:
                await asyncio.sleep(opts.read_delay)
            if awaiting_auth:
                ok = self._auth_message_ok(message)
                if ok:
                    stats.auth_ok += 1
                else:
                    stats.auth_failed += 1
                await self._send(connection, AUTH_OK if ok else AUTH_FAILED)
                if not ok:
                    await connection.close(1008, "authentication failed")
                    return
                awaiting_auth = False
                continue
            if isinstance(message, str):
                if self.pubsub is not None and self.pubsub.handle(connection, payload):
                    continue
                await self._send(connection, self._pong_for(payload) or payload)
            else:
                await self._send(connection, payload, text=False)

    async def _send(self, connection: TargetConnection, payload: bytes, *, text: bool = True) -> None:
        """Send one data message and count it once it was handed to the transport.

        Nothing is sent once the session was aborted (``ConnectionClosedError``, as after the
        connection is lost): a message read just before the abort (``_read_what_arrived``) is
        counted received, and its answer would never leave; an event for a dropped subscriber
        stays undelivered.
        """
        if connection.aborted_by_server:
            raise ConnectionClosedError(None, None)
        await connection.send(payload, text=text)
        self.stats.sent += 1
        self.stats.bytes_sent += len(payload)

    async def _send_text(self, connection: TargetConnection, text: str) -> None:
        """Send one text message for a dialect, counted like the echo's."""
        await self._send(connection, text.encode())

    @staticmethod
    def _pong_for(payload: bytes) -> bytes | None:
        """Return the pong for a JSON ``{"type":"ping"}`` text payload, or None to echo it."""
        if not payload.startswith(b"{"):
            return None
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or obj.get("type") != "ping":
            return None
        pong: dict[str, Any] = {"type": "pong"}
        if "id" in obj:
            pong["id"] = obj["id"]
        return orjson.dumps(pong)

    def _auth_message_ok(self, message: str | bytes) -> bool:
        """Return whether ``message`` is ``{"type":"auth","token":TOKEN}`` with the right token."""
        try:
            obj = orjson.loads(message)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(obj, dict) or obj.get("type") != "auth" or not isinstance(obj.get("token"), str):
            return False
        return hmac.compare_digest(obj["token"].encode(), (self.options.token or "").encode())

    async def _stall(self, connection: TargetConnection) -> None:
        """Never read after the handshake; end the session when the peer goes away or it is closed."""
        connection.transport.pause_reading()
        sock = connection.transport.get_extra_info("socket")
        while connection.protocol.state is OPEN:
            done, _ = await asyncio.wait([connection.connection_lost_waiter], timeout=STALL_POLL_INTERVAL)
            if done or sock is None or not hasattr(socket, "TCP_INFO"):
                continue
            try:
                state = struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]
            except OSError:
                state = 0
            if state not in _TCP_LIVE_STATES and connection.protocol.state is OPEN:
                connection.transport.abort()  # the peer left: abnormal, not dropped by us
        await connection.wait_closed()

    # Faults

    async def _close_later(self, connection: TargetConnection) -> None:
        """Close the session with --close-code after --close-after seconds."""
        await asyncio.sleep(self.options.close_after)
        if connection.protocol.state is OPEN and self.options.close_code is not None:
            await connection.close(self.options.close_code, self.options.close_reason)

    async def _drop_later(self, connection: TargetConnection) -> None:
        """Abort the session after --drop-after seconds."""
        await asyncio.sleep(self.options.drop_after)
        connection.abort_by_server()

    async def _watch_idle(self, connection: TargetConnection, timeout: float) -> None:
        """End the session once it has received nothing for ``timeout`` seconds."""
        loop = connection.loop
        while (remaining := connection.last_activity + timeout - loop.time()) > 0:
            await asyncio.sleep(remaining)
        if connection.protocol.state is not OPEN:
            return
        if self.options.idle_close_code is None:
            connection.abort_by_server()
        else:
            await connection.close(self.options.idle_close_code, "idle timeout")

    def drop_all(self) -> int:
        """Abort every open session at once; return how many were aborted."""
        if self.server is None:
            return 0
        victims = [c for c in self.server.connections if c.protocol.state is OPEN]
        for conn in victims:
            cast(TargetConnection, conn).abort_by_server()
        logger.info("dropped all %d open sessions", len(victims))
        return len(victims)

    async def _drop_all_at(self, delay: float) -> None:
        """Abort every open session once, ``delay`` seconds after the start."""
        await asyncio.sleep(delay)
        self.drop_all()

    async def _drop_all_every(self, period: float) -> None:
        """Abort every open session every ``period`` seconds."""
        while True:
            await asyncio.sleep(period)
            self.drop_all()

    # Lifecycle

    async def run(self) -> None:
        """Listen, announce the address on stdout, and serve until SIGTERM or SIGINT."""
        opts = self.options
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with serve(
            self.handler,
            opts.host,
            opts.port,
            ssl=tls_context(opts),
            subprotocols=[Subprotocol(name) for name in self._subprotocols()] or None,
            compression=None,
            extensions=[compression.factory(self.deflate, opts)] if self.deflate is not None else None,
            process_request=self.process_request
            if not self.options.handshake_delay
            else self._delayed_request,
            create_connection=self.connection_class,
            ping_interval=opts.protocol_ping_interval,
            ping_timeout=None,
            close_timeout=CLOSE_TIMEOUT,
            max_size=opts.max_message_size,
            max_queue=1 if opts.stop_reading else 16,
        ) as server:
            self.server = server
            if opts.stop_reading:
                for sock in server.sockets:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STOP_READING_RCVBUF)
            port = server.sockets[0].getsockname()[1]
            host = f"[{opts.host}]" if ":" in opts.host else opts.host
            scheme = "wss" if opts.certfile else "ws"
            sys.stdout.write(f"loadtest-server listening on {scheme}://{host}:{port}\n")
            sys.stdout.flush()
            background: list[asyncio.Task[None]] = []
            if opts.drop_all_at is not None:
                background.append(asyncio.create_task(self._drop_all_at(opts.drop_all_at)))
            if opts.drop_all_every is not None:
                background.append(asyncio.create_task(self._drop_all_every(opts.drop_all_every)))
            try:
                await stop.wait()
            finally:
                for task in background:
                    task.cancel()
            logger.info("shutting down: closing open sessions with 1001")
            for conn in server.connections:  # do not wait the full closing timeout for silent peers
                conn.close_timeout = SHUTDOWN_CLOSE_TIMEOUT
            # Leaving the context closes the server, closes sessions with 1001 and waits for handlers.

    def _subprotocols(self) -> list[str]:
        """Return the subprotocols offered: --subprotocol's, then the dialect's."""
        offered = list(self.options.subprotocols)
        if self.dialect is not None:
            offered += [name for name in self.dialect.subprotocols if name not in offered]
        return offered


def tls_context(options: ServerOptions) -> ssl.SSLContext | None:
    """Return the server's TLS context (None: plain ws://); with ``--client-ca`` it requires client certs."""
    if not options.certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(options.certfile, options.keyfile)
    if options.client_ca:
        context.load_verify_locations(options.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def run(options: ServerOptions) -> None:
    """Run the target server with ``options`` until SIGTERM or SIGINT."""
    await TargetServer(options).run()
