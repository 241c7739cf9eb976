"""What a generated locustfile holds: recorded connections, their steps, and values made at run time.

Pure data and rendering, no I/O and no Locust, so ``loadtest har`` stays fast and this is tested
without sockets. :mod:`loadtest.har.detect` builds these objects from a HAR,
:mod:`loadtest.har.codegen` writes them as Python source, :mod:`loadtest.har.replay` renders them
for every replay.

Values that must differ per user or per run are markers in the recorded messages, rendered anew
for every replay by :class:`Values`:

* :class:`Token`: the ``--ws-token`` value where the recording had a secret (never stored).
* :class:`Cookie`: the ``--ws-cookie NAME=VALUE`` value of a secret cookie (never stored).
* :class:`Now`: the time of sending, in the recorded value's format (epoch s/ms/µs or ISO 8601).
* :class:`Fresh`: generated value number ``n``: the same recorded value gets the same generated
  value everywhere in one replay (URL and messages), and a new one in the next replay.
* :class:`Corr`: the correlation value of a request: unique per message of a session, so the
  reply carrying it gives the round-trip time.
"""

from __future__ import annotations

import base64
import random
import string
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "B64",
    "Cookie",
    "Corr",
    "Fresh",
    "Now",
    "Recording",
    "Send",
    "Token",
    "Values",
]

ALPHABETS = {
    "digits": string.digits,
    "hex": "0123456789abcdef",
    "alnum": string.ascii_lowercase + string.digits,
}


@dataclass(frozen=True)
class Token:
    """The ``--ws-token`` value, in a recorded format: ``Token()``, ``Token("Bearer {token}")``."""

    template: str = "{token}"

    def render(self, token: str) -> str:
        """Return the template with ``{token}`` replaced by ``token``."""
        return self.template.replace("{token}", token)


@dataclass(frozen=True)
class Cookie:
    """A secret cookie: its value comes from ``--ws-cookie NAME=VALUE`` (omitted when not given)."""


@dataclass(frozen=True)
class Now:
    """The time of sending, in the unit of the recorded value.

    Attributes:
        unit: ``s`` (int seconds), ``s_float``, ``ms``, ``us`` (epoch) or ``iso`` (ISO 8601).
        digits: ISO 8601 only: digits of the fraction of a second (0: none).
        offset: ISO 8601 only: ``Z``, ``+HH:MM``/``-HH:MM``, or ``""`` (none written).
        text: the recorded value was a string of digits (e.g. a query parameter).
    """

    unit: str
    digits: int = 3
    offset: str = "Z"
    text: bool = False


@dataclass(frozen=True)
class Fresh:
    """Generated value number ``n`` of a replay, shaped like the recorded one.

    Attributes:
        n: the same number is the same value within one replay.
        kind: ``uuid``, ``int`` (``length`` digits) or ``text`` (``prefix`` then ``length``
            characters of ``alphabet``: digits, hex or alnum).
    """

    n: int
    kind: str
    length: int = 0
    prefix: str = ""
    alphabet: str = "alnum"


@dataclass(frozen=True)
class Corr:
    """The correlation value of this message (``int`` or ``text``), unique in its session."""

    kind: str = "int"


def B64(text: str) -> bytes:  # noqa: N802 (reads as a literal in generated files)
    """Return the bytes of a base64 literal (binary frames longer than a line)."""
    return base64.b64decode(text)


@dataclass(frozen=True)
class Send:
    """One client message at ``at_s`` seconds after the open.

    Attributes:
        message: a JSON value (sent as JSON text), ``str`` (text), ``bytes`` (binary) or a
            :class:`Token` (text holding the token).
        name: the Locust request name when the recording answered this message by the correlation
            field: the replay waits for the reply and records its RTT. None: fire and forget.
    """

    at_s: float
    message: Any
    name: str | None = None


@dataclass(frozen=True)
class Recording:
    """One recorded WebSocket connection, ready to replay.

    Attributes:
        label: short name, in the ``replay <label>`` Locust row.
        url: the recorded URL with secrets shown as ``***`` (for people; the host is ``--host``).
        path: the recorded path, joined to ``--host``.
        query: recorded query parameters, in order (values may be markers).
        headers: handshake headers carried over (the handshake's own are not).
        cookies: cookies carried over; a :class:`Cookie` value comes from ``--ws-cookie``.
        origin, subprotocols: used unless ``--ws-origin`` / ``--ws-subprotocol`` are given.
        correlation: the field replies echo (``id``: ``session.request`` matches; others: the replay).
        steps: the client's messages, in order.
        close_at_s: when the recorded connection ended; the replay closes then.
        close_code: the code of that close (browsers' HAR files record none: 1000).
    """

    label: str
    url: str
    path: str
    steps: tuple[Send, ...]
    close_at_s: float
    query: tuple[tuple[str, Any], ...] = ()
    headers: dict[str, Any] = field(default_factory=dict)
    cookies: dict[str, Any] = field(default_factory=dict)
    origin: str | None = None
    subprotocols: tuple[str, ...] = ()
    correlation: str | None = None
    close_code: int = 1000

    @property
    def uses_token(self) -> bool:
        """Return True when the recording had a secret that ``--ws-token`` stands for."""
        return _has_token([self.query, self.headers, [step.message for step in self.steps]])


def _has_token(value: Any) -> bool:
    if isinstance(value, Token):
        return True
    if isinstance(value, dict):
        return any(_has_token(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_token(v) for v in value)
    return False


class Values:
    """The values of one replay: markers rendered with the token, the clock and a random source.

    Args:
        token: the ``--ws-token`` value ("" when not given).
        rng: the random source (injectable for tests).
        clock: epoch seconds (injectable for tests).
    """

    def __init__(
        self,
        token: str = "",
        *,
        rng: random.Random | None = None,
        clock: Any = time.time,
    ) -> None:
        self.token = token
        self.rng = rng or random.Random()
        self.clock = clock
        self._fresh: dict[int, Any] = {}
        self._corr = self.rng.randrange(1 << 20, 1 << 24)  # unique per session from here on

    def render(self, value: Any) -> Any:
        """Return ``value`` with every marker replaced (JSON values, strings, markers)."""
        if isinstance(value, dict):
            return {key: self.render(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.render(item) for item in value]
        if isinstance(value, Token):
            return value.render(self.token)
        if isinstance(value, Now):
            return self.now(value)
        if isinstance(value, Fresh):
            if value.n not in self._fresh:
                self._fresh[value.n] = self._make(value)
            return self._fresh[value.n]
        if isinstance(value, Corr):
            self._corr += 1
            return self._corr if value.kind == "int" else f"{self._corr:x}"
        return value

    def now(self, now: Now) -> Any:
        """Return the current time in the unit of ``now``."""
        epoch_s = float(self.clock())
        stamp: Any
        if now.unit == "iso":
            moment = datetime.fromtimestamp(epoch_s, UTC)
            if now.offset not in ("Z", ""):
                sign = -1 if now.offset[0] == "-" else 1
                hours, minutes = int(now.offset[1:3]), int(now.offset[4:6])
                moment = moment.astimezone(timezone(timedelta(minutes=sign * (hours * 60 + minutes))))
            text = moment.strftime("%Y-%m-%dT%H:%M:%S")
            if now.digits:
                text += "." + f"{moment.microsecond:06d}"[: now.digits].ljust(now.digits, "0")
            return text + now.offset
        if now.unit == "s_float":
            stamp = round(epoch_s, 3)
        else:
            stamp = int(epoch_s * {"s": 1, "ms": 1_000, "us": 1_000_000}[now.unit])
        return str(stamp) if now.text else stamp

    def _make(self, fresh: Fresh) -> Any:
        rng = self.rng
        if fresh.kind == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if fresh.kind == "int":
            digits = max(1, fresh.length)
            return rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)
        alphabet = ALPHABETS.get(fresh.alphabet, ALPHABETS["alnum"])
        return fresh.prefix + "".join(rng.choice(alphabet) for _ in range(max(1, fresh.length)))

    def query(self, pairs: tuple[tuple[str, Any], ...]) -> str:
        """Return the query string of ``pairs``; a token parameter without a token is left out."""
        rendered = [(k, self.render(v)) for k, v in pairs if not (isinstance(v, Token) and not self.token)]
        return urlencode([(k, v if isinstance(v, str) else str(v)) for k, v in rendered])
