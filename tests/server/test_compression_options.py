"""The embedded target's permessage-deflate options: what is refused, and how they round-trip."""

from __future__ import annotations

import pytest

from loadtest.server.options import ServerOptions, parse_args


def test_the_deflate_choices_round_trip_through_the_command_line() -> None:
    options = parse_args(
        ["--compression", "deflate", "--deflate-server-max-window-bits", "10"]
        + ["--deflate-client-max-window-bits", "9", "--deflate-client-no-context-takeover"]
    )
    assert options.compression == "deflate"
    assert (options.deflate_server_max_window_bits, options.deflate_client_max_window_bits) == (10, 9)
    assert options.deflate_client_no_context_takeover and not options.deflate_server_no_context_takeover
    assert parse_args(options.to_args()) == options


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        ({"compression": "brotli"}, "--compression must be 'off' or 'deflate'"),
        ({"compression": "deflate", "deflate_server_max_window_bits": 8}, "must be from 9 to 15"),
        ({"compression": "deflate", "deflate_client_max_window_bits": 16}, "must be from 9 to 15"),
        ({"deflate_server_no_context_takeover": True}, "needs --compression deflate"),
        ({"deflate_client_max_window_bits": 12}, "--deflate-client-max-window-bits needs --compression"),
    ],
)
def test_bad_choices_are_one_sentence(values: dict, sentence: str) -> None:
    with pytest.raises(ValueError, match=sentence):
        ServerOptions(**values)
