"""Receiving one big message: CPU cost of reassembly, and how long other greenlets are kept waiting.

    python -m bench.big_message [--mib 50] [--fragment-mib 0] [--repeat 3]

Issue 9's goal: a 50 MB message costs under 1 CPU-second to reassemble, and never blocks the other
sessions for more than a few milliseconds. Two measurements:

* ``parser``: the frame parser alone (no socket), fed the message in 256 KiB pieces as ``recv``
  returns them: CPU seconds until the message comes out;
* ``session``: a real session in this (gevent) process receives the message from a plain-socket
  server in another process, while a ticker greenlet wakes every millisecond; we report this
  process's CPU time for the message and the longest gap between two ticks, in CPU time of this
  thread (the longest time our code kept the hub from running anyone else; wall-clock gaps also
  count the time the OS gave the CPU to other processes, so they are printed beside it).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

from bench.common import cpu_s  # noqa: E402
from loadtest.config import SessionOptions  # noqa: E402
from loadtest.frames import FrameParser  # noqa: E402
from loadtest.metrics.recorder import Recorder  # noqa: E402
from loadtest.session import Session  # noqa: E402

# A plain-socket server (its own process, no gevent): answers the upgrade, sends one binary
# message of argv[1] bytes (as frames of argv[2] bytes, 0: one frame), closes 1000, waits for EOF.
SERVER = r"""
import base64, hashlib, socket, struct, sys
size, fragment = int(sys.argv[1]), int(sys.argv[2])
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(1)
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
request = b""
while b"\r\n\r\n" not in request:
    request += conn.recv(4096)
lines = request.split(b"\r\n")
key = [l.split(b":", 1)[1].strip() for l in lines if l.lower().startswith(b"sec-websocket-key")][0]
accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
def frame(opcode, fin, n):
    head = struct.pack("!BBQ", (0x80 if fin else 0) | opcode, 127, n)
    return head
payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
step = fragment or size
for start in range(0, size, step):
    chunk = payload[start:start + step]
    conn.sendall(frame(2 if start == 0 else 0, start + step >= size, len(chunk)) + chunk)
conn.sendall(b"\x88\x02\x03\xe8")
while conn.recv(65536):
    pass
"""


def parser_cpu_s(size: int, fragment: int) -> float:
    """Return the CPU seconds the parser takes to turn ``size`` bytes in 256 KiB pieces into a message."""
    step = fragment or size
    wire = b"".join(
        bytes(((0x80 if start + step >= size else 0) | (2 if start == 0 else 0), 127))
        + min(step, size - start).to_bytes(8, "big")
        + bytes(min(step, size - start))
        for start in range(0, size, step)
    )
    parser = FrameParser(max_size=size)
    started = time.process_time()
    message = None
    for start in range(0, len(wire), 256 * 1024):
        parser.feed(wire[start : start + 256 * 1024])
        message = parser.next_message() or message
    elapsed = time.process_time() - started
    assert message is not None and len(message[1]) == size
    return elapsed


def session_run(size: int, fragment: int) -> dict[str, float]:
    """Receive the message in a real session; return CPU seconds and the longest hub stall in ms."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(size), str(fragment)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    got: list[int] = []
    gaps_ms: list[float] = []  # thread CPU time between ticks
    wall_gaps_ms: list[float] = []
    session = Session(
        f"ws://127.0.0.1:{port}/",
        SessionOptions(max_message_bytes=size),
        Recorder(),
        on_message=lambda data: got.append(len(data)),
    )

    def ticker() -> None:
        last, last_wall = time.thread_time(), time.perf_counter()
        while not session.ended.is_set():
            gevent.sleep(0.001)
            now, now_wall = time.thread_time(), time.perf_counter()
            gaps_ms.append((now - last) * 1000)
            wall_gaps_ms.append((now_wall - last_wall) * 1000)
            last, last_wall = now, now_wall

    assert session.connect()
    ticks = gevent.spawn(ticker)
    started_cpu, started = cpu_s(), time.perf_counter()
    session.read_until_end()
    cpu, wall = cpu_s() - started_cpu, time.perf_counter() - started
    ticks.join(timeout=1)
    server.wait(timeout=10)
    assert got == [size], got
    assert session.end is not None and session.end[:2] == ("server", 1000), session.end
    return {
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "max_stall_cpu_ms": round(max(gaps_ms), 1),
        "max_stall_wall_ms": round(max(wall_gaps_ms), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=50.0, help="message size in MiB")
    parser.add_argument("--fragment-mib", type=float, default=0.0, help="send it as frames of this size")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size, fragment = int(args.mib * 2**20), int(args.fragment_mib * 2**20)
    rows = []
    for _ in range(args.repeat):
        rows.append({"parser_cpu_s": round(parser_cpu_s(size, fragment), 3), **session_run(size, fragment)})
    print(json.dumps({"mib": args.mib, "fragment_mib": args.fragment_mib, "runs": rows}))


if __name__ == "__main__":
    main()
