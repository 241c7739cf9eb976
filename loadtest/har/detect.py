"""Turn a recorded connection into a :class:`~loadtest.har.script.Recording` to replay.

What cannot be replayed as recorded is replaced, and every replacement is listed for a person
to review (the generated file's comments). The rules, in the order they apply to a value:

* **Secrets** never reach the generated file. Query parameters named like a credential
  (``token``, ``access_token``, ``jwt``, ``sig``, ``api_key``...), ``Authorization`` and
  headers named like one (``X-Api-Key``, ``X-Auth-Token``...), message fields named like one
  (``token``, ``password``, ``secret``...), JSON Web Tokens anywhere and any recorded secret
  value found again in a message become :class:`Token` (``--ws-token`` at run time); cookies
  named like a session or credential (``session``, ``sid``, ``auth``, ``csrf``...) become
  :class:`Cookie` (``--ws-cookie NAME=VALUE``). Other headers and cookies are carried over.
* **Correlation**: the top-level field, named like an id (``id``, ``reqId``, ``request_id``,
  ``ref``, ``seq``...), whose values are distinct in the client's messages and come back in the
  same field of a later server message. Messages answered that way in the recording become
  requests (:class:`Corr`); with several candidates, the one answering most wins (``id`` on a tie).
* **UUIDs** become :class:`Fresh` UUIDs (the same recorded UUID, the same new one per replay).
* **Times** within a day of the recording (epoch s, ms or µs numbers, digit strings, ISO 8601
  strings) become :class:`Now` in the same unit.
* **Ids**: other fields named like an id whose value is a number or a string with a digit
  (``42``, ``"u-48213"``) become :class:`Fresh` values of the same shape; word values
  (``"lobby"``) are kept, being names rather than generated ids.

Only the client's messages are replayed; the server's are read to find the correlation field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loadtest.har import kinds
from loadtest.har.parse import Connection, Frame
from loadtest.har.script import Cookie, Corr, Fresh, Now, Recording, Send, Token

#: Headers the handshake writes itself (or that --ws-origin / --ws-subprotocol / cookies carry).
HANDSHAKE_HEADERS = frozenset({
    "host", "connection", "upgrade", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol", "origin", "cookie", "content-length",
})  # fmt: skip
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
SECRET = "not written"
MIN_SECRET_CHARS = 6  # shorter recorded secrets are not searched for in messages


@dataclass
class Replacement:
    """One replaced value, for the person reviewing the generated file.

    Attributes:
        name: the field, parameter, header or cookie.
        recorded: the recorded value as shown (never a secret's).
        becomes: the marker that replaces it.
        why: the rule that applied and what the value is at run time.
        where: ``query``, ``header``, ``cookie`` or the step numbers (1-based).
    """

    name: str
    recorded: str
    becomes: Any
    why: str
    where: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """A recording and what was done to make it."""

    recording: Recording
    replacements: tuple[Replacement, ...]
    received: int  # server messages in the recording
    answered: int  # client messages the recording answered by the correlation field
    binary: int  # binary client messages
    started_s: float  # epoch seconds of the recording
    compressed: bool = False  # the recorded server answered with permessage-deflate


def plan(connection: Connection, label: str) -> Plan:
    """Return the recording to replay ``connection`` and the replacements made."""
    return _Detector(connection).plan(label)


def correlation(frames: tuple[Frame, ...]) -> tuple[str | None, set[int]]:
    """Return the correlation field and the indexes (in ``frames``) of the messages it answered."""
    sent: list[tuple[int, float, dict[str, Any]]] = []
    received: list[tuple[float, dict[str, Any]]] = []
    for index, frame in enumerate(frames):
        obj = kinds.json_message(frame.data) if isinstance(frame.data, str) else None
        if isinstance(obj, dict) and frame.sent:
            sent.append((index, frame.at_s, obj))
        elif isinstance(obj, dict):
            received.append((frame.at_s, obj))
    best: tuple[int, bool, str, set[int]] | None = None
    for key in dict.fromkeys(k for _, _, obj in sent for k in obj):
        if not kinds.id_like(key):
            continue
        values = [(i, at, obj[key]) for i, at, obj in sent if _scalar(obj.get(key))]
        if len({(type(v), v) for _, _, v in values}) < len(values):
            continue  # repeated: a constant, not a per-request value
        answered = {
            i
            for i, at, value in values
            if any(r_at >= at and _same(r.get(key), value) for r_at, r in received)
        }
        candidate = (len(answered), key == "id", key, answered)
        if answered and (best is None or candidate[:2] > best[:2]):
            best = candidate
    return (best[2], best[3]) if best else (None, set())


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and bool(a == b)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


class _Detector:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.started_s = connection.started_s
        self.secrets: list[str] = []
        self.fresh: dict[tuple[Any, ...], Fresh] = {}
        self.notes: dict[tuple[str, str, str], Replacement] = {}
        self.field: str | None = None

    def note(self, name: str, recorded: str, becomes: Any, why: str, where: str) -> None:
        # times differ at every step: one line per field says it
        key = (name, "" if isinstance(becomes, Now) else recorded, repr(becomes))
        entry = self.notes.setdefault(key, Replacement(name, recorded, becomes, why))
        if where not in entry.where:
            entry.where.append(where)

    def plan(self, label: str) -> Plan:
        c = self.connection
        parts = urlsplit(c.url)
        raw_query = parse_qsl(parts.query, keep_blank_values=True)
        query = tuple((k, self.query_value(k, v)) for k, v in raw_query)
        headers, origin, subprotocols, header_cookies = self.headers()
        cookies = self.cookies(header_cookies + list(c.cookies))
        self.field, answered = correlation(c.frames)
        steps: list[Send] = []
        for index, frame in enumerate(c.frames):
            if frame.sent:
                steps.append(self.step(len(steps) + 1, frame, index in answered))
        pairs = zip(raw_query, query, strict=True)
        shown = [(k, "***" if isinstance(v, Token) else raw) for (k, raw), (_, v) in pairs]
        shown_query = urlencode(shown, safe="*")
        recording = Recording(
            label=label,
            url=urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, shown_query, "")),
            path=parts.path or "/",
            query=query,
            headers=headers,
            cookies=cookies,
            origin=origin,
            subprotocols=subprotocols,
            correlation=self.field,
            steps=tuple(steps),
            close_at_s=round(c.duration_s, 3),
        )
        return Plan(
            recording=recording,
            replacements=tuple(self.notes.values()),
            received=sum(1 for f in c.frames if not f.sent),
            answered=len(answered),
            binary=sum(1 for f in c.frames if f.sent and isinstance(f.data, bytes)),
            started_s=c.started_s,
            compressed=c.compressed,
        )

    # -- the handshake -------------------------------------------------------------------------
    def query_value(self, name: str, value: str) -> Any:
        if kinds.secret_name(name) and value:
            self.remember_secret(value)
            self.note(name, SECRET, Token(), "secret: the --ws-token value", "query")
            return Token()
        return self.value(name, value, "query")

    def headers(self) -> tuple[dict[str, Any], str | None, tuple[str, ...], list[tuple[str, str]]]:
        headers: dict[str, Any] = {}
        origin: str | None = None
        subprotocols: tuple[str, ...] = ()
        cookies: list[tuple[str, str]] = []
        for name, value in self.connection.headers:
            lower = name.lower()
            if lower == "origin":
                origin = value
            elif lower == "sec-websocket-protocol":
                subprotocols = tuple(p.strip() for p in value.split(",") if p.strip())
            elif lower == "cookie":
                pairs = (part.partition("=") for part in value.split(";"))
                cookies += [(k.strip(), v.strip()) for k, _, v in pairs]
            elif lower in HANDSHAKE_HEADERS or not _HEADER_NAME.match(name) or "\n" in value or "\r" in value:
                continue  # the handshake's own, HTTP/2 pseudo-headers (":path"), or unusable
            elif any(lower == h.lower() for h in headers):
                continue
            elif lower in ("authorization", "proxy-authorization") or kinds.secret_name(name):
                scheme, space, credential = value.partition(" ")
                template = f"{scheme} {{token}}" if space and scheme.isalpha() else "{token}"
                self.remember_secret(credential if space else value)
                headers[name] = Token(template)
                self.note(name, SECRET, headers[name], "credential: the --ws-token value", "header")
            else:
                headers[name] = value
        return headers, origin, subprotocols, cookies

    def cookies(self, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        cookies: dict[str, Any] = {}
        for name, value in pairs:
            if not name or name in cookies:
                continue
            if kinds.secret_cookie(name):
                cookies[name] = Cookie()
                self.note(
                    name, SECRET, Cookie(), f"secret cookie: the --ws-cookie {name}=... value", "cookie"
                )
            else:
                cookies[name] = value
        return cookies

    def remember_secret(self, value: str) -> None:
        if len(value) >= MIN_SECRET_CHARS and value not in self.secrets:
            self.secrets.append(value)
            self.secrets.sort(key=len, reverse=True)  # the longest first: a token inside another

    # -- messages ------------------------------------------------------------------------------
    def step(self, number: int, frame: Frame, answered: bool) -> Send:
        where = f"step {number}"
        if isinstance(frame.data, bytes):
            return Send(round(frame.at_s, 3), frame.data)
        obj = kinds.json_message(frame.data)
        if obj is None:
            return Send(round(frame.at_s, 3), self.text(frame.data, "(text)", where))
        message = self.walk(obj, "", where, top=True)
        name = kinds.request_name(obj) if answered and isinstance(obj, dict) else None
        return Send(round(frame.at_s, 3), message, name)

    def walk(self, value: Any, key: str, where: str, *, top: bool = False) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                if top and k == self.field and _scalar(v):
                    out[k] = Corr("int" if isinstance(v, int) else "text")
                    why = "correlation: a new value per request; its reply gives the RTT"
                    self.note(k, "per request", out[k], why, where)
                else:
                    out[k] = self.walk(v, k, where)
            return out
        if isinstance(value, list):
            return [self.walk(item, key, where) for item in value]
        if isinstance(value, str) and (kinds.secret_name(key) and value):
            self.remember_secret(value.partition(" ")[2] if value.startswith("Bearer ") else value)
        return self.value(key, value, where)

    def text(self, text: str, name: str, where: str) -> Any:
        """Return a string with recorded secrets and JSON Web Tokens replaced by the token."""
        template = text
        for secret in self.secrets:
            template = template.replace(secret, "{token}")
        template = kinds.JWT.sub("{token}", template)
        if template == text:
            return text
        self.note(name, SECRET, Token(template), "holds a secret: the --ws-token value", where)
        return Token(template)

    def value(self, name: str, value: Any, where: str) -> Any:
        """Return ``value`` or the marker that replaces it (secrets, UUIDs, times, ids)."""
        if isinstance(value, str):
            if value and kinds.secret_name(name):
                token = Token("Bearer {token}" if value.startswith("Bearer ") else "{token}")
                self.note(name, SECRET, token, "credential: the --ws-token value", where)
                return token
            replaced = self.text(value, name, where)
            if replaced is not value:
                return replaced
            if kinds.is_uuid(value):
                return self.fresh_value(name, value, ("uuid", value.lower()), Fresh(0, "uuid"), "UUID", where)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            now = kinds.time_of(value, self.started_s)
            if now is not None:
                self.note(name, str(value), now, "recording time: the time of sending", where)
                return now
            shape = kinds.id_shape(name, value)
            if shape is not None:
                return self.fresh_value(name, str(value), (shape.kind, name, value), shape, "id", where)
        return value

    def fresh_value(
        self, name: str, shown: str, key: tuple[Any, ...], shape: Fresh, why: str, where: str
    ) -> Fresh:
        fresh = self.fresh.get(key)
        if fresh is None:
            fresh = Fresh(len(self.fresh) + 1, shape.kind, shape.length, shape.prefix, shape.alphabet)
            self.fresh[key] = fresh
        self.note(name, shown, fresh, why + ": a new one per replay", where)
        return fresh
