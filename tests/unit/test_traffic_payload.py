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
    for request_id in (1, 42, 10**12):
        spliced = loop._prefix + b"%d}" % request_id
        assert spliced == orjson.dumps({**template, "id": request_id})
        assert orjson.loads(spliced) == {**template, "id": request_id}


def test_a_template_with_its_own_id_is_dumped_not_spliced() -> None:
    loop = Loop(SimpleNamespace(options=SessionOptions()), ClosedLoop(message={"id": 7}))  # type: ignore[arg-type]
    assert loop._prefix == b""
