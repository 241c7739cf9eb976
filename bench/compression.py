"""What permessage-deflate costs the load generator: memory per session, CPU per message.

    python -m bench.compression [--sessions 300] [--size 1024] [--messages 2000]

Two measurements (docs/compression.md says why the default is off):

* ``memory``: ``--sessions`` real sessions in this (gevent) process against the embedded target
  in its own process, each doing 5 echo round trips of a ``--size``-byte order-book JSON message
  and then staying open; RSS after (``gc.collect()``) minus RSS before, per session. One child
  process per mode, so each starts from the same RSS: ``off``, ``deflate`` (context takeover:
  both zlib states live as long as the session) and ``deflate`` with the target requiring no
  context takeover both ways (a zlib state per message, freed after it). ``zlib_alloc_kib`` is
  what zlib allocated and still holds per session (tracemalloc sees its raw allocations); RSS
  counts only the pages zlib touched.
* ``cpu``: the codec alone (no socket), compressing and inflating ``--messages`` messages of
  several sizes with and without context takeover: µs of CPU per message each way, and the
  wire/payload ratio.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import zlib  # noqa: E402

import gevent  # noqa: E402
import orjson  # noqa: E402

from bench.common import rss_kib  # noqa: E402
from loadtest.config import SessionOptions  # noqa: E402
from loadtest.deflate import Deflate, Params  # noqa: E402
from loadtest.metrics.recorder import Recorder  # noqa: E402
from loadtest.payload import json_message  # noqa: E402
from loadtest.server.process import EmbeddedServer  # noqa: E402
from loadtest.session import Session  # noqa: E402

MODES = {
    "off": ("off", []),
    "deflate": ("deflate", ["--compression", "deflate"]),
    "deflate-no-context-takeover": (
        "deflate",
        ["--compression", "deflate"]
        + ["--deflate-server-no-context-takeover", "--deflate-client-no-context-takeover"],
    ),
}


def memory(mode: str, sessions: int, size: int) -> dict[str, float]:
    """Open ``sessions`` sessions in ``mode``; return RSS and zlib allocations per session."""
    compression, server_args = MODES[mode]
    server = EmbeddedServer(server_args).start()
    options = SessionOptions(compression=compression, reply_timeout_s=30.0)
    recorder = Recorder()
    opened: list[Session] = []
    try:
        # a first session warms every code path, so what follows counts sessions, not imports
        _one(server.url, options, recorder, size, [])
        gc.collect()
        rss_before = rss_kib()
        tracemalloc.start()
        traced_before = tracemalloc.get_traced_memory()[0]
        for start in range(0, sessions, 50):  # 50 handshakes at a time: a modest load
            batch = [gevent.spawn(_one, server.url, options, recorder, size, opened) for _ in range(50)]
            gevent.joinall(batch[: sessions - start], timeout=60, raise_error=True)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - traced_before
        tracemalloc.stop()
        rss_after = rss_kib()
        assert len(opened) == sessions, f"{len(opened)} of {sessions} sessions opened"
        negotiated = sum(s.compressed for s in opened)
        for session in opened:
            session.close(1000)
    finally:
        server.stop()
    return {
        "sessions": sessions,
        "negotiated": negotiated,
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "rss_kib_per_session": round((rss_after - rss_before) / sessions, 1),
        "allocated_kib_per_session": round(traced / 1024 / sessions, 1),
    }


def _one(url: str, options: SessionOptions, recorder: Recorder, size: int, opened: list[Session]) -> None:
    session = Session(url, options, recorder)
    assert session.connect()
    session.start_reading()
    for n in range(5):
        assert session.request(json_message(size, n)) is not None
    opened.append(session)


def cpu(messages: int) -> list[dict[str, float]]:
    """Return µs of CPU per message compressed and inflated, per size and context takeover."""
    rows = []
    for size in (256, 1024, 4096, 16384):
        # every message different (a repeated one would be found whole in the window)
        payloads = [orjson.dumps(json_message(size, size * messages + n)) for n in range(messages)]
        for takeover in (True, False):
            params = Params(server_no_context_takeover=not takeover, client_no_context_takeover=not takeover)
            ours, theirs = Deflate(params), Deflate(params)
            peer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
            wire = []
            started = time.process_time()
            for n in range(messages):
                wire.append(ours.compress(payloads[n]))
            compress_us = (time.process_time() - started) / messages * 1e6
            # the peer's messages, compressed as the server would (fresh per message without takeover)
            peer_wire = []
            for n in range(messages):
                if not takeover:
                    peer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
                data = peer.compress(payloads[n]) + peer.flush(zlib.Z_SYNC_FLUSH)
                peer_wire.append(data[:-4])
            started = time.process_time()
            for data in peer_wire:
                theirs.inflate(data)
            inflate_us = (time.process_time() - started) / messages * 1e6
            rows.append(
                {
                    "size": size,
                    "context_takeover": takeover,
                    "compress_us": round(compress_us, 1),
                    "inflate_us": round(inflate_us, 1),
                    "ratio": round(ours.wire_sent / ours.payload_sent, 3),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one child per mode
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(memory(args.mode, args.sessions, args.size)))
        return
    print(f"memory: {args.sessions} sessions, 5 echoes of {args.size} B each, then open")
    for mode in MODES:
        child = subprocess.run(
            [sys.executable, "-m", "bench.compression", "--mode", mode]
            + ["--sessions", str(args.sessions), "--size", str(args.size)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        print(f"  {mode:<28} {child.stdout.strip()}")
    print(f"cpu: the codec alone, {args.messages} messages per row")
    for row in cpu(args.messages):
        print(f"  {json.dumps(row)}")


if __name__ == "__main__":
    main()
