"""Locust's ``default_args_dict()`` is built once per process once the plugin is loaded.

Locust 2.47's worker calls it once per option of every spawn message; each call built and ran
Locust's whole argument parser (see loadtest.plugin.distributed).
"""

from __future__ import annotations

from typing import Any

from locust import argument_parser

import loadtest.plugin  # noqa: F401 (loading the plugin installs the cache)


def test_the_parser_is_built_once_and_the_value_is_locusts(monkeypatch: Any) -> None:
    built: list[int] = []
    real = argument_parser.get_empty_argument_parser

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(argument_parser, "get_empty_argument_parser", counting)
    values = [argument_parser.default_args_dict() for _ in range(100)]
    assert len(built) <= 1  # 0 when an earlier test already filled the cache
    assert all(v is values[0] for v in values)
    assert "spawn_rate" in values[0] and "ws_summary" not in values[0]  # Locust's own options only
