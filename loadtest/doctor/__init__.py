"""``loadtest doctor URL``: one endpoint checked the way the troubleshooting guide walks it.

    loadtest doctor wss://example.com/ws [--ws-token T] [--ws-origin O] [--json]
    loadtest doctor ws://127.0.0.1:8765/ --find-idle-timeout [--max-idle 600]

The connection options are the load test's own (``--ws-header``, ``--ws-origin``,
``--ws-subprotocol``, ``--ws-cookie``, ``--ws-token``/``--ws-token-mode``, the TLS options,
``--ws-max-message-bytes``), so the doctor opens exactly what a run would. Exit status 0 when no
check failed, 1 when one did, 2 for bad input. Plain blocking sockets: no Locust, no gevent.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from loadtest import option_values
from loadtest import options as ws_options
from loadtest.config import check_tls_files, redact_url
from loadtest.errors import ConfigError

#: The options of the option table the doctor takes (how a session connects).
CONNECTION_OPTIONS = (
    "ws_header",
    "ws_origin",
    "ws_subprotocol",
    "ws_cookie",
    "ws_token",
    "ws_token_mode",
    "ws_ca_file",
    "ws_client_cert",
    "ws_client_key",
    "ws_insecure",
    "ws_max_message_bytes",
)
_MARK = {"ok": " ok ", "warn": "warn", "fail": "FAIL", "skip": "skip"}


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Return the doctor's argument parser: its own options plus the table's connection options."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="the WebSocket URL to check (ws:// or wss://)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="each step's deadline (default 5)"
    )
    parser.add_argument(
        "--message", default="", metavar="TEXT", help='the message to send (default {"type":"ping","id":1})'
    )
    parser.add_argument(
        "--find-idle-timeout", action="store_true", help="find how long a silent session survives"
    )
    parser.add_argument(
        "--max-idle", type=float, default=600.0, metavar="S", help="give up that search after S (600)"
    )
    parser.add_argument(
        "--keepalive-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="pings and data every S in that search (1)",
    )
    group = parser.add_argument_group("connection options (as for a load test)")
    for dest in CONNECTION_OPTIONS:
        option = ws_options.BY_DEST[dest]
        group.add_argument(option.flag, dest=dest, **option.argparse_kwargs())
    return parser


def render(result: dict[str, Any]) -> str:
    """Return the report for people: one line per check, the hint under warnings and failures."""
    lines = [f"loadtest doctor {result['target']}"]
    for check in result["checks"]:
        lines.append(f" [{_MARK[check['status']]}] {check['name']:<8} {check['detail']}")
        if check["hint"] and check["status"] in ("warn", "fail"):
            lines.append(f"            -> {check['hint']}")
    idle = result.get("idle")
    if idle is not None:
        if idle["idle_timeout_s"] is None:
            lines.append(f" idle timeout: none within {idle['max_idle_s']:g} s of silence")
        else:
            alive = idle["keeps_alive"] or {}
            keep = ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in alive.items())
            lines.append(
                f" idle timeout: a silent session ended after {idle['idle_timeout_s']:g} s "
                f"(±{idle['precision_s']:g} s, {idle['probes']['silent']['how']}); kept alive by {keep}"
            )
    failed = sum(c["status"] == "fail" for c in result["checks"])
    lines.append(" nothing failed" if not failed else f" {failed} check(s) failed")
    return "\n".join(lines)


def main(argv: Sequence[str], *, prog: str = "loadtest doctor") -> int:
    """Run the doctor; return 0 (nothing failed), 1 (a check failed) or 2 (bad input)."""
    from loadtest.doctor.checklist import Doctor
    from loadtest.doctor.idle import find_idle_timeout

    args = build_parser(prog).parse_args(list(argv))
    namespace = argparse.Namespace(**{o.dest: o.default for o in ws_options.OPTIONS})
    for dest in CONNECTION_OPTIONS:
        setattr(namespace, dest, getattr(args, dest))
    try:
        session = option_values.session_options(namespace)
        check_tls_files(session)  # the run's own check: one sentence
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    doctor = Doctor(args.url, session, timeout_s=args.timeout, message=args.message)
    checks = doctor.run()
    result: dict[str, Any] = {
        "target": redact_url(doctor.url),
        "checks": [c.as_dict() for c in checks],
        "idle_timeout_s": None,
    }
    if args.find_idle_timeout and not any(c.status == "fail" for c in checks):
        idle = find_idle_timeout(doctor, max_idle_s=args.max_idle, interval_s=args.keepalive_interval)
        result["idle_timeout_s"] = idle["idle_timeout_s"]
        result["idle"] = idle
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(result))
    return 1 if any(c.status == "fail" for c in checks) else 0
