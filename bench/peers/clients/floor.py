"""The CPython floor client: one thread, the standard library only (socket, select.epoll).

    python -I -S bench/peers/clients/floor.py --url ws://127.0.0.1:PORT/ --workload loop --sessions 100

What a WebSocket client costs in CPython with nothing in the way: the handshake written by
hand (and its ``Sec-WebSocket-Accept`` checked), one mask per frame taken from a pooled
``os.urandom`` buffer, an incremental frame parser that handles extended lengths, fragments,
pings and the closing handshake, and protocol errors closed with 1002. No JSON, no
correlation, no statistics: only the work the protocol needs.

Workloads: ``loop`` (closed loop: ``--in-flight`` frames written with one ``send``, the next burst
when all came back), ``idle`` (idle sessions, a protocol ping every ``--ping-interval`` seconds,
the first at open), ``connect`` (``--sessions`` loops of connect, one echo, close). A session lost in
``loop`` or ``idle`` is reopened. Runs for ``--seconds`` at most, then prints its counts and exits.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import os
import select
import socket
import struct
import sys
import time
import urllib.parse

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PAYLOAD = b'{"type":"echo","payload":"0123456789abcdef"}'
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPS = (OP_TEXT, OP_BINARY)
CONNECTING, HANDSHAKE, OPEN, CLOSING = range(4)
READ, WRITE = select.EPOLLIN, select.EPOLLOUT


class ProtocolError(Exception):
    """The server broke RFC 6455: the session is closed with 1002."""


class Randomness:
    """Masks and keys from a pooled ``os.urandom`` buffer: one syscall per 1,024 masks."""

    __slots__ = ("pool", "pos")

    def __init__(self) -> None:
        self.pool = b""
        self.pos = 0

    def take(self, n: int) -> bytes:
        """Return ``n`` fresh random bytes."""
        if self.pos + n > len(self.pool):
            self.pool, self.pos = os.urandom(4096), 0
        chunk = self.pool[self.pos : self.pos + n]
        self.pos += n
        return chunk


RANDOM = Randomness()


def encode(opcode: int, payload: bytes) -> bytes:
    """Return one masked client frame (FIN set)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    mask = RANDOM.take(4)
    if not n:
        return header + mask
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")
    return header + mask + masked


class Parser:
    """Incremental RFC 6455 frame parser for frames from a server (unmasked)."""

    __slots__ = ("buf", "fragments", "fragment_op")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.fragments: list[bytes] | None = None
        self.fragment_op = 0

    def feed(self, data: bytes | memoryview) -> list[tuple[int, bytes]]:
        """Add received bytes; return the complete messages and control frames as ``(opcode, payload)``."""
        buf = self.buf
        buf += data
        out: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b0 & 0x70:
                raise ProtocolError("reserved bits set (no extension was negotiated)")
            if b1 & 0x80:
                raise ProtocolError("a server frame is masked")
            n, head = b1 & 0x7F, 2
            if n == 126:
                if end - pos < 4:
                    break
                n, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif n == 127:
                if end - pos < 10:
                    break
                n, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if end - pos < head + n:
                break
            fin, opcode = b0 & 0x80, b0 & 0x0F
            payload = bytes(buf[pos + head : pos + head + n])
            pos += head + n
            if opcode >= 0x8:
                if not fin or n > 125 or opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                    raise ProtocolError("bad control frame")
                out.append((opcode, payload))
            elif opcode == OP_CONT:
                if self.fragments is None:
                    raise ProtocolError("a continuation with nothing to continue")
                self.fragments.append(payload)
                if fin:
                    out.append((self.fragment_op, b"".join(self.fragments)))
                    self.fragments = None
            elif opcode in DATA_OPS:
                if self.fragments is not None:
                    raise ProtocolError("a new message inside a fragmented one")
                if fin:
                    out.append((opcode, payload))
                else:
                    self.fragments, self.fragment_op = [payload], opcode
            else:
                raise ProtocolError(f"reserved opcode {opcode}")
        del buf[:pos]
        return out


class Conn:
    """One session: its socket, state, parser and what is still to write."""

    __slots__ = ("sock", "state", "parser", "key", "response", "out", "outstanding", "ping_due")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.state = CONNECTING
        self.parser = Parser()
        self.key = b""
        self.response = bytearray()
        self.out = bytearray()
        self.outstanding = 0
        self.ping_due = 0.0


class Client:
    """The event loop: ``sessions`` connections driven by one epoll.

    ``select.epoll`` itself rather than ``selectors`` (a key object per event), and one receive
    buffer for all sockets (``recv(n)`` would allocate n bytes per call: for n over glibc's mmap
    threshold, an mmap, mremap and munmap per receive).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        url = urllib.parse.urlsplit(args.url)
        self.address = (url.hostname or "127.0.0.1", url.port or 80)
        self.request_line = f"GET {url.path or '/'} HTTP/1.1\r\nHost: {url.netloc}\r\n".encode()
        self.workload: str = args.workload
        self.sessions: int = args.sessions
        self.in_flight: int = args.in_flight
        self.ping_interval_s: float = args.ping_interval
        self.epoll = select.epoll()
        self.conns: dict[int, Conn] = {}
        self.buffer = bytearray(262144)
        self.view = memoryview(self.buffer)
        self.pings: collections.deque[tuple[float, Conn]] = collections.deque()
        self.counts = collections.Counter[str]()

    # -- opening ---------------------------------------------------------------------------
    def open(self) -> None:
        """Start one connection (non-blocking connect)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = Conn(sock)
        err = sock.connect_ex(self.address)
        if err not in (0, 115):  # EINPROGRESS
            sock.close()
            self.counts["connect_errors"] += 1
            return
        self.conns[sock.fileno()] = conn
        self.epoll.register(sock.fileno(), WRITE)

    def on_connected(self, conn: Conn) -> None:
        if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.lost(conn, "connect_errors")
            return
        conn.key = base64.b64encode(RANDOM.take(16))
        conn.state = HANDSHAKE
        self.epoll.modify(conn.sock.fileno(), READ)
        self.write(
            conn,
            self.request_line
            + b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
            + conn.key
            + b"\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )

    def on_handshake(self, conn: Conn, data: bytes) -> None:
        conn.response += data
        head_end = conn.response.find(b"\r\n\r\n")
        if head_end < 0:
            if len(conn.response) > 16384:
                self.lost(conn, "handshake_errors")
            return
        lines = bytes(conn.response[:head_end]).split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(conn.key + GUID).digest())
        if not lines[0].startswith(b"HTTP/1.1 101") or headers.get(b"sec-websocket-accept") != accept:
            self.lost(conn, "handshake_errors")
            return
        rest = bytes(conn.response[head_end + 4 :])
        conn.response = bytearray()
        conn.state = OPEN
        self.counts["opened"] += 1
        self.on_open(conn)
        if rest:
            self.on_frames(conn, rest)

    def on_open(self, conn: Conn) -> None:
        if self.workload == "idle":
            conn.ping_due = time.monotonic()
            self.send_ping(conn)
        else:
            self.send_burst(conn)

    # -- the workloads -----------------------------------------------------------------------
    def send_burst(self, conn: Conn) -> None:
        if self.in_flight == 1:
            burst = encode(OP_TEXT, PAYLOAD)
        else:  # one send for the whole burst, a mask per frame
            burst = b"".join([encode(OP_TEXT, PAYLOAD) for _ in range(self.in_flight)])
        conn.outstanding = self.in_flight
        self.write(conn, burst)

    def send_ping(self, conn: Conn) -> None:
        self.write(conn, encode(OP_PING, b"floor"))
        self.counts["pings"] += 1
        conn.ping_due += self.ping_interval_s
        self.pings.append((conn.ping_due, conn))

    def on_message(self, conn: Conn, payload: bytes) -> None:
        self.counts["messages"] += 1
        if payload != PAYLOAD:
            self.counts["wrong_echo"] += 1
        conn.outstanding -= 1
        if conn.outstanding > 0:
            return
        if self.workload == "connect":
            conn.state = CLOSING
            self.write(conn, encode(OP_CLOSE, struct.pack("!H", 1000)))
        else:
            self.send_burst(conn)

    def on_frames(self, conn: Conn, data: bytes | memoryview) -> None:
        try:
            frames = conn.parser.feed(data)
        except ProtocolError:
            self.write(conn, encode(OP_CLOSE, struct.pack("!H", 1002)))
            self.lost(conn, "protocol_errors")
            return
        for opcode, payload in frames:
            if opcode in DATA_OPS:
                self.on_message(conn, payload)
            elif opcode == OP_PING:
                self.write(conn, encode(OP_PONG, payload))
            elif opcode == OP_PONG:
                self.counts["pongs"] += 1
            elif opcode == OP_CLOSE:
                if conn.state != CLOSING:  # the server closed first: answer with its code
                    self.write(conn, encode(OP_CLOSE, payload[:2]))
                    self.lost(conn, "server_closes")
                else:
                    self.counts["closed"] += 1
                    self.finish(conn)
                    self.open()
                return

    # -- I/O -----------------------------------------------------------------------------------
    def write(self, conn: Conn, data: bytes) -> None:
        if conn.sock.fileno() < 0:  # lost earlier in this batch of frames
            return
        if conn.out:
            conn.out += data
            return
        try:
            sent = conn.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.lost(conn, "send_errors")
            return
        if sent < len(data):
            conn.out += data[sent:]
            self.epoll.modify(conn.sock.fileno(), READ | WRITE)

    def flush(self, conn: Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            return
        except OSError:
            self.lost(conn, "send_errors")
            return
        del conn.out[:sent]
        if not conn.out:
            self.epoll.modify(conn.sock.fileno(), READ)

    def finish(self, conn: Conn) -> None:
        fd = conn.sock.fileno()
        if fd >= 0:
            self.epoll.unregister(fd)
            del self.conns[fd]
            conn.sock.close()

    def lost(self, conn: Conn, counter: str) -> None:
        """Count a failure and reopen the slot (a closed socket's pings are skipped)."""
        if conn.sock.fileno() < 0:
            return
        self.counts[counter] += 1
        self.finish(conn)
        self.open()

    def run(self, seconds: float) -> None:
        for _ in range(self.sessions):
            self.open()
        deadline = time.monotonic() + seconds
        poll, pings, conns, view = self.epoll.poll, self.pings, self.conns, self.view
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            while pings and pings[0][0] <= now:
                _, pinged = pings.popleft()
                if pinged.state == OPEN and pinged.sock.fileno() >= 0:
                    self.send_ping(pinged)
            timeout = deadline - now
            if pings:
                timeout = min(timeout, max(0.0, pings[0][0] - now))
            for fd, mask in poll(timeout):
                conn = conns.get(fd)
                if conn is None:  # closed earlier in this batch
                    continue
                if conn.state == CONNECTING:
                    if mask & WRITE:  # (an event for a closed socket whose fd was reused carries no WRITE)
                        self.on_connected(conn)
                    continue
                if mask & WRITE and conn.out:
                    self.flush(conn)
                if not mask & (READ | select.EPOLLHUP | select.EPOLLERR) or conn.sock.fileno() < 0:
                    continue
                try:
                    n = conn.sock.recv_into(self.buffer)
                except BlockingIOError:
                    continue
                except OSError:
                    self.lost(conn, "recv_errors")
                    continue
                if not n:
                    self.lost(conn, "eof")
                elif conn.state == HANDSHAKE:
                    self.on_handshake(conn, bytes(view[:n]))
                else:
                    self.on_frames(conn, view[:n])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--workload", choices=("loop", "idle", "connect"), required=True)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--ping-interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    client = Client(args)
    client.run(args.seconds)
    print(" ".join(f"{name}={count}" for name, count in sorted(client.counts.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
