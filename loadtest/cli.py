"""The ``loadtest`` command line: dispatch to subcommands."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

__all__ = ["SUBCOMMANDS", "main"]

PROG = "loadtest"


def _serve(argv: Sequence[str]) -> int:
    """Run the embedded target server (same as ``python -m loadtest.server``)."""
    from loadtest.server import main as server_main

    return server_main(argv, prog=f"{PROG} serve")


def _doctor(argv: Sequence[str]) -> int:
    """Check one endpoint the way the troubleshooting guide walks it."""
    from loadtest.doctor import main as doctor_main

    return doctor_main(argv, prog=f"{PROG} doctor")


def _options(argv: Sequence[str]) -> int:
    """Print every --ws-* option: its variable, default, scope, web UI field and help."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"{PROG} options", description=_options.__doc__)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (docs/options.md)")
    args = parser.parse_args(list(argv))
    from loadtest.option_docs import render  # no Locust import: fast, and no gevent patching

    print(render(markdown=args.markdown), end="")
    return 0


def _har(argv: Sequence[str]) -> int:
    """Write a locustfile that replays the WebSocket connections of a HAR file."""
    from loadtest.har.command import main as har_main  # no Locust import: fast, and no gevent patching

    return har_main(argv, prog=f"{PROG} har")


def version_text() -> str:
    """Return this package's version and those of the parts it runs on."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    parts = ", ".join(f"{name} {of(name)}" for name in ("locust", "websocket-client", "gevent", "websockets"))
    return f"{PROG} {of('loadtest-ws')} ({parts}, Python {platform.python_version()})"


# name -> (one-line help, runner taking the remaining arguments and returning an exit status)
SUBCOMMANDS: dict[str, tuple[str, Callable[[Sequence[str]], int]]] = {
    "serve": ("run the embedded WebSocket target server (echo, faults, /stats)", _serve),
    "options": ("list every --ws-* option: variable, default, scope, web UI field, help", _options),
    "doctor": (
        "check one endpoint step by step: DNS, TCP, TLS, upgrade, Origin, ping, message, close",
        _doctor,
    ),
    "har": ("write a locustfile replaying the WebSocket connections of a browser's HAR file", _har),
}


def _usage() -> str:
    """Return the top-level help text listing the subcommands."""
    width = max(len(name) for name in SUBCOMMANDS)
    lines = [
        f"usage: {PROG} <subcommand> [options]",
        "",
        "WebSocket load and soak testing on Locust.",
        "",
        "subcommands:",
        *(f"  {name:<{width}}  {help_text}" for name, (help_text, _) in SUBCOMMANDS.items()),
        "",
        f"Run '{PROG} <subcommand> --help' for the options of a subcommand, '{PROG} --version' for versions.",
        "A load test itself runs with locust: locust -f scenarios/echo.py --headless -u 10 -t 30s",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``loadtest`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(_usage(), file=sys.stderr)
        return 2
    name, rest = args[0], args[1:]
    if name in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if name in ("-V", "--version"):
        print(version_text())
        return 0
    entry = SUBCOMMANDS.get(name)
    if entry is None:
        known = ", ".join(sorted(SUBCOMMANDS))
        print(f"{PROG}: unknown subcommand {name!r} (known: {known}); run '{PROG} --help'.", file=sys.stderr)
        return 2
    try:
        return entry[1](rest)
    except SystemExit as exc:  # argparse exits on --help and bad options
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
