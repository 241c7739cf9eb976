"""The engine-driven loop splices each request's id into its template's JSON: the same bytes as a dump."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from loadtest.config import SessionOptions
from loadtest.traffic import ClosedLoop, Loop


@pytest.mark.parametrize(
    "template",
    [{"type": "echo", "payload": "hello"}, {}, {"a": [1, {"b": None}], "é": 'ü\n"x"'}, {"n": 1.5}],
)
def test_the_spliced_request_is_the_dumped_one(template: dict[str, Any]) -> None:
    loop = Loop(SimpleNamespace(options=SessionOptions()), ClosedLoop(message=template))  # type: ignore[arg-type]
    (prefix,) = loop._prefixes
    for request_id in (1, 42, 10**12):
        spliced = prefix + b"%d}" % request_id
        assert spliced == orjson.dumps({**template, "id": request_id})
        assert orjson.loads(spliced) == {**template, "id": request_id}


def test_a_template_with_its_own_id_is_dumped_not_spliced() -> None:
    loop = Loop(SimpleNamespace(options=SessionOptions()), ClosedLoop(message={"id": 7}))  # type: ignore[arg-type]
    assert loop._prefixes == ()


def test_variants_are_spliced_each_in_its_turn() -> None:
    variants = ({"type": "echo", "seq": 0}, {"type": "echo", "seq": 1, "x": "y"})
    loop = Loop(SimpleNamespace(options=SessionOptions()), ClosedLoop(message=variants[0], variants=variants))  # type: ignore[arg-type]
    assert [p + b"5}" for p in loop._prefixes] == [orjson.dumps({**v, "id": 5}) for v in variants]
