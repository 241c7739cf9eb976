"""What a recorded name or value is: a credential, an id, a UUID, a time, a request's name.

The rules :mod:`loadtest.har.detect` applies, kept apart so each reads in one sitting. They look
at names and values only, never at a protocol: a person reviews what they matched (the generated
file lists every replacement).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from loadtest.config import SECRET_PARAMETERS
from loadtest.har.script import Fresh, Now

_SECRET_WORDS = {w.replace("_", "") for w in SECRET_PARAMETERS} | {
    "accesstoken", "authtoken", "idtoken", "refreshtoken", "sessiontoken", "authorization",
    "passwd", "pwd", "clientsecret", "credential", "credentials", "bearer",
}  # fmt: skip
_SECRET_SUFFIXES = ("token", "secret", "password", "apikey", "signature")
_SECRET_COOKIE_PARTS = ("sess", "sid", "auth", "token", "jwt", "key", "secret", "pass", "csrf", "xsrf",
                        "login", "remember", "cred", "ident")  # fmt: skip
_ID_WORDS = {"id", "uid", "uuid", "guid", "ref", "seq", "nonce", "cid", "rid", "tag"}
_ID_CAMEL = re.compile(r"[a-z0-9](?:Id|ID|Ref|Seq)$")
_ID_SNAKE = re.compile(r"[_-](?:id|ref|seq)$", re.IGNORECASE)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$")
_OPAQUE = re.compile(r"^(?=.*\d)[A-Za-z0-9_.:-]{2,64}$")
_PREFIX = re.compile(r"^[A-Za-z]+[_.:-]")
_NAME_KEYS = ("type", "op", "action", "event", "method", "cmd", "command", "kind")
_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,40}$")
NEAR_S = 86_400.0  # "close to the recording's time": within a day


def secret_name(name: str) -> bool:
    """Return True when a field, parameter or header name says it holds a credential."""
    norm = re.sub(r"[^a-z0-9]", "", name.lower())
    norm = norm[1:] if name.lower().startswith("x-") else norm
    return norm in _SECRET_WORDS or norm.endswith(_SECRET_SUFFIXES)


def secret_cookie(name: str) -> bool:
    """Return True when a cookie name says it is a session or a credential."""
    return any(part in name.lower() for part in _SECRET_COOKIE_PARTS)


def id_like(name: str) -> bool:
    """Return True for names of ids: ``id``, ``reqId``, ``user_id``, ``ref``, ``seq``, ``nonce``..."""
    return name.lower() in _ID_WORDS or bool(_ID_CAMEL.search(name) or _ID_SNAKE.search(name))


def is_uuid(value: str) -> bool:
    """Return True for a UUID in its 8-4-4-4-12 form."""
    return bool(_UUID.match(value))


def id_shape(name: str, value: Any) -> Fresh | None:
    """Return the shape of a generated id for an id-like field's number or opaque string, or None.

    Numbers get at least 9 digits (ids must differ per user); strings keep a leading word and
    separator (``u-``) and the kind of characters after it. Words (``"lobby"``) are no ids.
    """
    if not id_like(name) or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fresh(0, "int", min(18, max(9, len(str(abs(value))))))
    if not isinstance(value, str) or not _OPAQUE.match(value):
        return None
    prefix = m.group(0) if (m := _PREFIX.match(value)) else ""
    tail = value[len(prefix) :]
    alphabet = "digits" if tail.isdigit() else "hex" if re.fullmatch("[0-9a-f]+", tail) else "alnum"
    return Fresh(0, "text", len(tail), prefix, alphabet)


def time_of(value: Any, started_s: float) -> Now | None:
    """Return the :class:`Now` for a time within a day of ``started_s`` (epoch s), or None."""
    text = isinstance(value, str)
    if text and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        for unit, scale in (("s", 1.0), ("ms", 1e3), ("us", 1e6)):
            if abs(value / scale - started_s) <= NEAR_S:
                if unit != "s" and not isinstance(value, int):
                    return None
                return Now("s_float" if isinstance(value, float) else unit, text=text)
        return None
    match = _ISO.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    epoch = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if abs(epoch - started_s) > NEAR_S:
        return None
    return Now("iso", len(match.group(1) or ""), match.group(2) or "")


def request_name(message: dict[str, Any]) -> str:
    """Return a low-cardinality Locust name for a request: its ``type`` (``op``, ``action``...)."""
    names = (v for k in _NAME_KEYS if isinstance(v := message.get(k), str) and _NAME.match(v))
    return next(names, "request")


def json_message(text: str) -> Any:
    """Return the JSON object or array in ``text``, or None to send it as the recorded text."""
    if text[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text, parse_constant=_no_constant)  # exact: big integers stay integers
        orjson.dumps(value)  # what the replay sends with: no integer beyond 64 bits
    except (ValueError, TypeError):
        return None
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
