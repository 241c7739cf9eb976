"""The echo scenario's message: the size asked for, and JSON that compresses as JSON does."""

from __future__ import annotations

import zlib

import orjson
import pytest

from loadtest.payload import json_message


@pytest.mark.parametrize("size", [64, 100, 512, 4096, 65536])
def test_the_message_has_the_size_asked_for_once_the_session_adds_its_id(size: int) -> None:
    for seq in (0, 1, 99):
        message = json_message(size, seq)
        message["id"] = 100000  # the session's ids have six digits after a few hundred thousand
        assert abs(len(orjson.dumps(message)) - size) <= 1
        assert message["type"] == "echo"


def test_it_is_repeatable_and_varies_with_seq() -> None:
    assert json_message(1024, 5) == json_message(1024, 5) != json_message(1024, 6)


def test_it_compresses_like_json_not_like_filler_or_noise() -> None:
    data = orjson.dumps(json_message(4096, 3))
    ratio = len(zlib.compress(data)) / len(data)
    assert 0.1 < ratio < 0.5, ratio
