"""Write the locustfile that replays a HAR file's WebSocket connections.

The recorded data goes inline, as Python literals: the generated file is what a person reviews
(the replacements, the secrets that were left out), so it shows everything it sends, and one
file is all a distributed run needs (Locust can ship a single locustfile to its workers). Long
binary frames are base64 (``B64``), long strings are split over lines; every line fits the
project's 110 columns.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from loadtest.har.detect import Plan, Replacement, plan
from loadtest.har.parse import Connection, Har
from loadtest.har.script import Cookie, Corr, Fresh, Now, Recording, Send, Token

#: Found in the first line of every generated file: ``loadtest har`` overwrites only such files.
MARK = "written by `loadtest har`"
WIDTH = 110
INLINE_BYTES = 48  # longer binary frames are written as base64
CHUNK = 72  # characters per line of a split string or base64 literal
CLASS_NAME = "RecordedUser"


def plans(har: Har) -> list[Plan]:
    """Return a plan per connection, each with a distinct label from its path."""
    used: set[str] = set()
    out = []
    for connection in har.connections:
        label = _label(connection, used)
        used.add(label)
        out.append(plan(connection, label))
    return out


def _label(connection: Connection, used: set[str]) -> str:
    segments = [s for s in urlsplit(connection.url).path.split("/") if s]
    base = re.sub(r"[^a-z0-9]+", "_", (segments[-1] if segments else "root").lower()).strip("_") or "root"
    base = base if base[0].isalpha() else f"ws_{base}"
    label, number = base, 1
    while label in used:
        number += 1
        label = f"{base}_{number}"
    return label


def module(har: Har, plans: list[Plan], source: str, output: str) -> str:
    """Return the locustfile's source for ``plans`` (from the HAR file named ``source``)."""
    bodies = [_recording(p.recording) for p in plans]
    used = {type(m).__name__ for m in _markers(p.recording for p in plans)} | {"HarUser", "Recording", "Send"}
    used |= {"B64"} if any("B64(" in body for body in bodies) else set()
    names = sorted(used, key=lambda n: (not n.isupper(), n))  # isort's order: constants, then classes
    connections = count(len(plans), "recorded connection")
    lines = ['"""' + f"Replay of {PurePath(source).name}, {MARK}: {connections}."]
    lines += ["", *_usage(plans, output), ""]
    lines += _wrap(
        "Each user replays one recorded connection (round robin over the recordings below): the "
        "client's messages at their recorded offsets (--ws-har-speed 2 is twice as fast, 0 as fast "
        "as possible), the recorded close, then again on a new connection (after the --ws-reconnect "
        "delay). Replies matched by a correlation field are Locust requests with their RTT; each "
        "replay is a `replay <label>` row. Secrets were not written here: --ws-token and "
        "--ws-cookie give them at run time. Edit freely, and review the replacements listed above "
        "each recording.",
        "",
    )
    for url, why in har.skipped:
        lines += ["", *_wrap(f"Not replayed: {url}: {why}.", "")]
    lines += ['"""', "", *_import(names)]
    constants = [p.recording.label.upper() for p in plans]
    for p, constant, body in zip(plans, constants, bodies, strict=True):
        lines += ["", *_comment(p), f"{constant} = {body}"]
    lines += [
        "",
        "",
        f"class {CLASS_NAME}(HarUser):",
        '    scenario_options = ("har",)  # --ws-har-speed shows in the web UI form',
        f"    recordings = ({constants[0]},)"
        if len(constants) == 1
        else f"    recordings = ({', '.join(constants)})",
    ]
    return "\n".join(lines) + "\n"


def count(number: int, noun: str) -> str:
    """Return "1 message", "2 messages"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def usage(plans: list[Plan], output: str) -> list[str]:
    """Return the locust command that runs the file, in pieces (an option and its value each)."""
    first = urlsplit(plans[0].recording.url)
    words = [f"locust -f {output}", f"--host {first.scheme}://{first.netloc}", "-u 10 -r 10 -t 1m"]
    if any(p.recording.uses_token for p in plans):
        words.append("--ws-token TOKEN")
    for name in dict.fromkeys(n for p in plans for n, v in p.recording.cookies.items() if v == Cookie()):
        words.append(f"--ws-cookie {name}=VALUE")
    if any(p.compressed for p in plans):  # as the browser did (docs/compression.md)
        words.append("--ws-compression deflate")
    return words


def _usage(plans: list[Plan], output: str) -> list[str]:
    words = usage(plans, output)
    lines = ["    " + words[0]]
    for word in words[1:]:
        if len(lines[-1]) + len(word) + 3 > WIDTH - 10:
            lines[-1] += " \\"
            lines.append("        " + word)
        else:
            lines[-1] += " " + word
    return lines


def _wrap(text: str, indent: str) -> list[str]:
    lines, line = [], indent
    for word in text.split(" "):
        if len(line) + len(word) + 1 > WIDTH - 10 and line.strip():
            lines.append(line)
            line = indent
        line += ("" if line.strip() == "" else " ") + word
    return [*lines, line]


def _import(names: list[str]) -> list[str]:
    line = f"from loadtest.har.replay import {', '.join(names)}"
    if len(line) <= WIDTH:
        return [line]
    return ["from loadtest.har.replay import (", *(f"    {n}," for n in names), ")"]


def _comment(p: Plan) -> list[str]:
    r = p.recording
    when = f"{datetime.fromtimestamp(p.started_s, UTC):%Y-%m-%d %H:%M:%S} UTC"
    client = f"{count(len(r.steps), 'client message')}" + (f" ({p.binary} binary)" if p.binary else "")
    answered = f'; {p.answered} answered by "{r.correlation}" (RTT measured)' if r.correlation else ""
    lines = [f"# {r.label}: {r.url} (recorded {when})"]
    lines += [f"# {r.close_at_s:g} s, {client}, {count(p.received, 'server message')}{answered}"]
    if p.replacements:
        lines.append("# Replaced (review them):")
        lines += [_replacement(item) for item in p.replacements]
    return lines


def _replacement(item: Replacement) -> str:
    steps = [int(w.split()[1]) for w in item.where if w.startswith("step ")]
    where = ", ".join(
        [w for w in item.where if not w.startswith("step ")] + ([_ranges(steps)] if steps else [])
    )
    becomes = _short(_one_line(item.becomes), 40)
    head = f"#   {where} {item.name}: "
    tail = f" -> {becomes} ({item.why})"
    return _short(head + _short(item.recorded, max(12, WIDTH - len(head) - len(tail))) + tail, WIDTH)


def _ranges(numbers: list[int]) -> str:
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = [f"{run[0]}-{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)) for run in runs]
    return ("step " if len(numbers) == 1 else "steps ") + ", ".join(parts)


def _short(text: str, width: int) -> str:
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= width else text[: width - 3] + "..."


def _recording(r: Recording) -> str:
    fields: list[tuple[str, Any]] = [("label", r.label), ("url", r.url), ("path", r.path)]
    fields += [(name, getattr(r, name)) for name in ("query", "headers", "cookies") if getattr(r, name)]
    fields += [("origin", r.origin)] if r.origin else []
    fields += [("subprotocols", r.subprotocols)] if r.subprotocols else []
    fields += [("correlation", r.correlation)] if r.correlation else []
    fields += [("close_at_s", r.close_at_s)]
    lines = ["Recording("]
    lines += [f"    {name}={source(value, 4, len(name) + 2)}," for name, value in fields]
    lines.append("    steps=(")
    lines += [f"        {_send(step)}," for step in r.steps]
    lines += ["    ),", ")"]
    return "\n".join(lines)


def _send(step: Send) -> str:
    name = f", name={_str(step.name)}" if step.name else ""
    head = f"Send({step.at_s!r}, "
    return head + source(step.message, 8, len(head), len(name) + 2) + name + ")"


# -- Python literals ---------------------------------------------------------------------------
def source(value: Any, indent: int, used: int = 0, after: int = 0) -> str:
    """Return ``value`` as Python source, on one line if it fits after ``indent + used`` columns."""
    one = _one_line(value)
    if indent + used + len(one) + after <= WIDTH:
        return one
    pad = " " * (indent + 4)
    if isinstance(value, dict) and value:
        items = [f"{pad}{_str(k)}: {source(v, indent + 4, len(_str(k)) + 2, 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list | tuple) and value:
        items = [f"{pad}{source(v, indent + 4, 0, 1)}," for v in value]
        close = "]" if isinstance(value, list) else ")"
        return (
            ("[" if isinstance(value, list) else "(") + "\n" + "\n".join(items) + "\n" + " " * indent + close
        )
    if isinstance(value, str) and len(value) > CHUNK:
        chunks = [_str(chunk) for chunk in _chunks(value)]
        return "(\n" + "\n".join(pad + c for c in chunks) + "\n" + " " * indent + ")"
    if isinstance(value, bytes):
        text = base64.b64encode(value).decode()
        chunks = [f'{pad}"{text[i : i + CHUNK]}"' for i in range(0, len(text), CHUNK)]
        return "B64(\n" + "\n".join(chunks) + "\n" + " " * indent + ")"
    if isinstance(value, Token) and len(value.template) > CHUNK:
        return "Token(" + source(value.template, indent, 6, 1) + ")"
    return one


def _one_line(value: Any) -> str:
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return _str(value)
    if isinstance(value, bytes):
        literal = 'b"' + "".join(_byte(b) for b in value) + '"'
        if len(value) > INLINE_BYTES or len(literal) > 2 * INLINE_BYTES:  # mostly unprintable: base64
            return f'B64("{base64.b64encode(value).decode()}")'
        return literal
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_str(k)}: {_one_line(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_one_line(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_one_line(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return _marker(value)


def _marker(value: Any) -> str:
    if isinstance(value, Token):
        return "Token()" if value.template == "{token}" else f"Token({_str(value.template)})"
    if isinstance(value, Cookie):
        return "Cookie()"
    if isinstance(value, Corr):
        return "Corr()" if value.kind == "int" else f"Corr({_str(value.kind)})"
    if isinstance(value, Now):
        extra = [f"digits={value.digits}"] if value.unit == "iso" and value.digits != 3 else []
        extra += [f"offset={_str(value.offset)}"] if value.unit == "iso" and value.offset != "Z" else []
        extra += ["text=True"] if value.text else []
        return f"Now({', '.join([_str(value.unit), *extra])})"
    if isinstance(value, Fresh):
        args = [str(value.n), _str(value.kind)]
        if value.kind == "int":
            args.append(str(value.length))
        elif value.kind == "text":
            args += [
                f"length={value.length}",
                f"prefix={_str(value.prefix)}",
                f"alphabet={_str(value.alphabet)}",
            ]
        return f"Fresh({', '.join(args)})"
    raise TypeError(f"no Python literal for {type(value).__name__}")


def _chunks(text: str) -> list[str]:
    """Split ``text`` into pieces of at most CHUNK characters, after a space where there is one."""
    chunks = []
    while len(text) > CHUNK:
        cut = text.rfind(" ", CHUNK // 2, CHUNK) + 1 or CHUNK
        chunks.append(text[:cut])
        text = text[cut:]
    return [*chunks, text] if text else chunks


def _str(text: str) -> str:
    try:
        text.encode("utf-8")
        return json.dumps(text, ensure_ascii=False)  # JSON's escapes are Python's
    except UnicodeEncodeError:  # lone surrogates cannot be written as UTF-8 source
        return json.dumps(text)


def _byte(b: int) -> str:
    char = chr(b)
    if char in '"\\' or not 0x20 <= b < 0x7F:
        return {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}.get(b, f"\\x{b:02x}")
    return char


def _markers(recordings: Iterable[Recording]) -> Iterable[Any]:
    def walk(value: Any) -> Iterable[Any]:
        if isinstance(value, dict):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                yield from walk(item)
        elif isinstance(value, Token | Cookie | Corr | Now | Fresh):
            yield value

    for r in recordings:
        yield from walk([r.query, r.headers, r.cookies, [s.message for s in r.steps]])
