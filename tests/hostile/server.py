"""A hostile WebSocket server on 127.0.0.1: one raw-socket server, one mode per misbehaviour.

A mode is a function ``mode(peer)`` that runs after the handshake and does to the client what a
broken or hostile server does: garbage, reserved bits, masked frames, a close frame with a code
that may not be sent, a close followed by a reset, a reader that never reads... The server parses
what the client sends with its own small parser (not the one under test) and records it in
:class:`Seen`, so a test can compare the client's counts with what the server really saw.

It runs in the test process under gevent (the suite is monkey-patched), so it serves in-process
sessions and ``locust`` subprocesses alike.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import gevent

from tests.conftest import UNIT_S
from tests.integration.peers import upgrade

Mode = Callable[["Peer"], None]
Handshake = Callable[[bytes], bytes | None]
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


@dataclass
class Seen:
    """What the server saw on one connection."""

    messages: int = 0  # whole data messages received from the client
    bytes: int = 0  # their payload bytes
    closes: list[int | None] = field(default_factory=list)  # close frames received (None: no code)
    pongs: list[bytes] = field(default_factory=list)
    frames_after_close: int = 0  # frames the client sent after its close frame (must stay 0)
    sent: int = 0  # whole data messages this server sent (counted by Peer.message)
    partial: bool = False  # the client's bytes ended in the middle of a frame
    end: str = ""  # how reading ended: eof, reset, close (a close frame), timeout, mode
    done: bool = False  # the mode function returned


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bytes = b"") -> bytes:
    """Return one server frame (unmasked unless ``mask`` is given: servers must not mask)."""
    first = (0x80 if fin else 0) | rsv | opcode
    size = len(payload)
    if size < 126:
        head = bytes((first, size))
    elif size < 65536:
        head = struct.pack("!BBH", first, 126, size)
    else:
        head = struct.pack("!BBQ", first, 127, size)
    if mask:
        head = bytes((head[0], head[1] | 0x80)) + head[2:] + mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class Peer:
    """One accepted connection, driven by a mode; records what the client sends."""

    def __init__(self, sock: socket.socket, seen: Seen) -> None:
        self.sock = sock
        self.seen = seen
        self.on_message: Callable[[bytes], None] | None = None  # called with each whole client message
        self._buffer = bytearray()
        self._fragments: list[bytes] = []  # a client message in progress

    # -- sending --------------------------------------------------------------------------
    def send(self, data: bytes) -> bool:
        """Write raw bytes; return False if the client has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def message(self, payload: bytes, *, binary: bool = False) -> bool:
        """Send one whole, valid data message and count it."""
        ok = self.send(frame(OP_BINARY if binary else OP_TEXT, payload))
        self.seen.sent += ok
        return ok

    def close(self, code: int | None = 1000, reason: bytes = b"") -> bool:
        """Send a close frame (``None``: an empty one)."""
        return self.send(frame(OP_CLOSE, b"" if code is None else close_payload(code, reason)))

    def fin(self) -> None:
        """Half-close: the client reads EOF, we can still read."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    # -- reading --------------------------------------------------------------------------
    def read(self, timeout_s: float, *, until_close: bool = False, until_messages: int = 0) -> str:
        """Read and record client frames until EOF, the client's close frame or ``until_messages``
        messages (when asked); return why it stopped."""
        self.seen.end = self._read(timeout_s, until_close, until_messages)
        return self.seen.end

    def _read(self, timeout_s: float, until_close: bool, until_messages: int) -> str:
        deadline = gevent.get_hub().loop.now() + timeout_s
        while True:
            while self._parse_one():
                if until_close and self.seen.closes:
                    return "close"
                if until_messages and self.seen.messages >= until_messages:
                    return "messages"
            left = deadline - gevent.get_hub().loop.now()
            if left <= 0:
                return "timeout"
            try:
                with gevent.Timeout(left, TimeoutError):
                    chunk = self.sock.recv(65536)
            except TimeoutError:
                return "timeout"
            except OSError:
                self.seen.partial = bool(self._buffer or self._fragments)
                return "reset"
            if not chunk:
                self.seen.partial = bool(self._buffer or self._fragments)
                return "eof"
            self._buffer += chunk

    def _parse_one(self) -> bool:
        buf = self._buffer
        if len(buf) < 2:
            return False
        first, size = buf[0], buf[1] & 0x7F
        head = 2
        if size == 126:
            if len(buf) < 4:
                return False
            size, head = struct.unpack_from("!H", buf, 2)[0], 4
        elif size == 127:
            if len(buf) < 10:
                return False
            size, head = struct.unpack_from("!Q", buf, 2)[0], 10
        assert buf[1] & 0x80, "the client sent an unmasked frame"
        if len(buf) < head + 4 + size:
            return False
        key = bytes(buf[head : head + 4])
        data = bytes(buf[head + 4 : head + 4 + size])
        del buf[: head + 4 + size]
        payload = (
            int.from_bytes(data, "little") ^ int.from_bytes((key * (size // 4 + 1))[:size], "little")
        ).to_bytes(size, "little")
        opcode = first & 0x0F
        seen = self.seen
        if seen.closes:
            seen.frames_after_close += 1
        if opcode == OP_CLOSE:
            seen.closes.append(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
        elif opcode == OP_PONG:
            seen.pongs.append(payload)
        elif opcode in (OP_CONT, OP_TEXT, OP_BINARY):
            self._fragments.append(payload)
            if first & 0x80:
                message = b"".join(self._fragments)
                self._fragments = []
                seen.messages += 1
                seen.bytes += len(message)
                if self.on_message is not None:
                    self.on_message(message)
        return True


class HostileServer:
    """Serve ``mode`` on a free loopback port; ``seen`` has one :class:`Seen` per connection."""

    def __init__(self, mode: Mode, *, handshake: Handshake = upgrade, rcvbuf: int = 0) -> None:
        self.mode = mode
        self.handshake = handshake
        self.rcvbuf = rcvbuf
        self.seen: list[Seen] = []
        self.errors: list[BaseException] = []
        self._listener = socket.socket()
        if rcvbuf:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        self._greenlets: list[gevent.Greenlet] = []
        self._socks: list[socket.socket] = []

    def _serve(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            self._socks.append(conn)
            self._greenlets.append(gevent.spawn(self._handle, conn))

    def _handle(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request and len(request) < 65536:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            request += chunk
        answer = self.handshake(request)
        if answer is None:  # say nothing: hold the connection open
            return
        seen = Seen()
        self.seen.append(seen)
        try:
            conn.sendall(answer)
            if b" 101 " in answer.split(b"\r\n", 1)[0] + b" ":
                self.mode(Peer(conn, seen))
        except OSError:
            seen.end = seen.end or "mode"
        except BaseException as exc:  # a bug in a mode: the test must see it
            self.errors.append(exc)
            raise
        finally:
            seen.done = True

    def wait_done(self, count: int, timeout_s: float = 5 * UNIT_S) -> list[Seen]:
        """Return ``seen`` once ``count`` connections have finished their mode (bounded wait)."""
        deadline = gevent.get_hub().loop.now() + timeout_s
        while (
            len(self.seen) < count or not all(s.done for s in self.seen)
        ) and gevent.get_hub().loop.now() < deadline:
            gevent.sleep(0.01)
        assert not self.errors, self.errors
        assert len(self.seen) == count and all(s.done for s in self.seen), self.seen
        return self.seen

    def start(self) -> HostileServer:
        self._greenlets.append(gevent.spawn(self._serve))
        return self

    def stop(self) -> None:
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        gevent.joinall(self._greenlets, timeout=2 * UNIT_S)
        self._listener.close()
        for sock in self._socks:
            sock.close()


@contextmanager
def hostile(mode: Mode, **options: object) -> Iterator[HostileServer]:
    """Run a :class:`HostileServer` for the ``with`` block."""
    server = HostileServer(mode, **options).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def upgrade_with(*headers: str) -> Handshake:
    """Return a handshake answer that adds ``headers`` to a valid 101."""

    def answer(request: bytes) -> bytes:
        return upgrade(request)[:-2] + "".join(f"{h}\r\n" for h in headers).encode() + b"\r\n"

    return answer


def status(line: str) -> Handshake:
    """Return a handshake answer with this status line and no body."""
    return lambda request: f"{line}\r\nContent-Length: 0\r\n\r\n".encode()
