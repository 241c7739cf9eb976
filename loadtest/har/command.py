"""``loadtest har FILE.har -o scenarios/recorded.py``: write a locustfile that replays a HAR file.

No Locust import here (the command stays fast and never patches the process with gevent).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtest.errors import HarError
from loadtest.har import codegen, parse
from loadtest.har.detect import Plan
from loadtest.har.script import Cookie, Token

DESCRIPTION = (
    "Write a locustfile in which each user replays one WebSocket connection recorded in a HAR file "
    "(Chrome DevTools: Network panel, Export HAR): the client's messages at their recorded offsets "
    "(--ws-har-speed), binary frames included, then the recorded close, then again. Ids, UUIDs and "
    "times are replaced by generated values and secrets by --ws-token/--ws-cookie placeholders; the "
    "file lists every replacement for you to review."
)


def main(argv: Sequence[str], prog: str) -> int:
    """Run the command; return its exit status (2: bad input, said in one sentence)."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    parser.add_argument("file", help="the HAR file")
    parser.add_argument(
        "-o", "--output", default="-", metavar="PATH", help="the locustfile to write (default: print it)"
    )
    parser.add_argument(
        "--match", default="", metavar="TEXT", help="replay only the connections whose URL contains TEXT"
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite an output file that loadtest har did not write"
    )
    args = parser.parse_args(list(argv))
    try:
        har = select(parse.load(args.file), args.match, args.file)
        plans = codegen.plans(har)
        shown_output = "recorded.py" if args.output == "-" else args.output
        text = codegen.module(har, plans, args.file, shown_output)
        if args.output == "-":
            sys.stdout.write(text)
        else:
            write(Path(args.output), text, force=args.force)
    except HarError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    report = sys.stdout if args.output != "-" else sys.stderr
    print("\n".join(summary(har, plans, args.file, args.output)), file=report)
    return 0


def select(har: parse.Har, match: str, name: str) -> parse.Har:
    """Return ``har`` with only the connections whose URL contains ``match``."""
    if not match:
        return har
    kept = tuple(c for c in har.connections if match in c.url)
    if not kept:
        urls = ", ".join(c.shown_url for c in har.connections)
        raise HarError(f"no WebSocket connection of {name} has {match!r} in its URL (they are: {urls})")
    return parse.Har(kept, har.skipped, har.entries)


def write(path: Path, text: str, *, force: bool) -> None:
    """Write the locustfile, refusing to replace a file that ``loadtest har`` did not write."""
    try:
        if path.exists() and not force:
            with path.open(encoding="utf-8", errors="replace") as existing:
                first = existing.readline()
            if codegen.MARK not in first:
                raise HarError(
                    f"{path} exists and was not written by loadtest har: pick another path, or give --force"
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise HarError(f"cannot write {path}: {exc.strerror or exc}") from None


def summary(har: parse.Har, plans: list[Plan], source: str, output: str) -> list[str]:
    """Return what was written, for the person who ran the command."""
    where = "printed" if output == "-" else f"wrote {output}"
    total = len(har.connections) + len(har.skipped)
    connections = codegen.count(total, "WebSocket connection")
    lines = [f"{where}: {len(plans)} of {connections} in {source} ({har.entries} HAR entries)"]
    width = max(len(p.recording.label) for p in plans)
    for p in plans:
        r = p.recording
        binary = f" ({p.binary} binary)" if p.binary else ""
        answered = f', {p.answered} answered by "{r.correlation}"' if r.correlation else ""
        messages = f"{len(r.steps)} client messages{binary}{answered}"
        lines.append(f"  {r.label:<{width}}  {r.url}  {r.close_at_s:g} s, {messages}")
    lines += [f"  not replayed: {url}: {why}" for url, why in har.skipped]
    secrets = [
        f"{item.where[0]} {item.name}"
        for p in plans
        for item in p.replacements
        if isinstance(item.becomes, Token | Cookie) and item.where and not item.where[0].startswith("step")
    ]
    secrets += [
        f"message field {item.name}"
        for p in plans
        for item in p.replacements
        if isinstance(item.becomes, Token) and item.where and item.where[0].startswith("step")
    ]
    replaced = codegen.count(sum(len(p.replacements) for p in plans), "replacement")
    shown = ", ".join(dict.fromkeys(secrets)) or "none found"
    lines.append(f"  {replaced} listed in the file for review; secrets not written: {shown}")
    lines.append("run it: " + " ".join(codegen.usage(plans, "recorded.py" if output == "-" else output)))
    return lines
