"""Embedded WebSocket target server: echo, app-level ping/pong, fault injection and exact counters.

The server runs in its own plain-asyncio process (never under gevent); ``EmbeddedServer`` starts and
controls that process from any caller, gevent-patched or not.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from loadtest.server.options import ServerOptions, build_parser, parse_args
from loadtest.server.process import EmbeddedServer

__all__ = ["EmbeddedServer", "ServerOptions", "build_parser", "main", "parse_args", "serve_options"]


def serve_options(options: ServerOptions) -> int:
    """Run the server with ``options`` in this process until SIGTERM or SIGINT; return the exit status."""
    from loadtest.server.app import run  # imported here so that importing the package stays light

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if options.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        asyncio.run(run(options))
    except OSError as exc:
        print(
            f"loadtest-server: cannot listen on {options.host}:{options.port}: {exc.strerror or exc}.",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m loadtest.server") -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the server; return the exit status."""
    return serve_options(parse_args(argv, prog=prog))
