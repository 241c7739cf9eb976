"""Message payloads that look like an application's: JSON of a given size that compresses as real JSON does.

A filler of one repeated byte compresses ~100:1 and would make permessage-deflate look free;
random bytes do not compress at all. Real messages sit between: repeated keys, a few enumerated
values, numbers and identifiers that vary. :func:`json_message` builds an order-book style
update of about ``size`` bytes (the request's ``id`` added by the session included), from a
seeded generator so runs are repeatable.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

#: Bytes the session adds to a request (``,"id":N``), counted in the size asked for.
ID_BYTES = 12
_SYMBOLS = ("ACME", "GLOBX", "INITECH", "UMBRL", "WAYNE", "STARK", "TYRELL", "CYBDN")
_SIDES = ("bid", "ask")
_VENUES = ("XNAS", "XNYS", "BATS", "ARCX")


def json_message(size: int, seq: int = 0) -> dict[str, Any]:
    """Return a JSON object that serializes to ``size`` bytes (one more or less), ``id`` included.

    Its ``type`` is ``echo``, so the embedded target and echo servers send it back as it is.
    """
    rng = random.Random(seq)
    message: dict[str, Any] = {"type": "echo", "seq": seq, "levels": []}
    room = size - ID_BYTES - len(orjson.dumps(message)) - len(',"note":""')
    levels: list[dict[str, Any]] = message["levels"]
    while True:
        level = {
            "symbol": rng.choice(_SYMBOLS),
            "side": rng.choice(_SIDES),
            "price": round(rng.uniform(10, 500), 2),
            "qty": rng.randrange(1, 5000),
            "venue": rng.choice(_VENUES),
            "order": f"o-{rng.randrange(10**8):08d}",
        }
        cost = len(orjson.dumps(level)) + (1 if levels else 0)
        if cost > room:
            break
        levels.append(level)
        room -= cost
    message["note"] = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(max(0, room)))
    return message


__all__ = ["json_message"]
