"""Reading Chrome's HAR format: connections, frames, offsets, and one sentence for bad files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from loadtest.errors import HarError
from loadtest.har import parse

FIXTURES = Path(__file__).parent / "fixtures"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcxNTY4MjYxMn0."
    "Zm9vYmFyYmF6c2lnbmF0dXJl"
)


def chat_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / "chat.har").read_text())
    return document


def test_chat_har_has_two_connections_and_one_failed_handshake() -> None:
    har = parse.load(FIXTURES / "chat.har")
    assert har.entries == 5
    assert [c.shown_url for c in har.connections] == [
        "wss://chat.example.com/ws/chat?room=lobby&token=***",
        "wss://chat.example.com/ws/presence?v=3&t=1715679012578",
    ]
    assert har.skipped == (
        ("wss://chat.example.com/ws/notifications", "its handshake failed in the recording (status 0)"),
    )
    chat, presence = har.connections
    assert chat.url.endswith(f"token={JWT}")  # the parsed connection keeps it; only outputs redact
    assert chat.status == 101 and chat.started_s == pytest.approx(1715679012.556)
    assert chat.duration_s == pytest.approx(6.0124)  # the entry's time (ms), not the last message
    assert [f.sent for f in chat.frames] == [False, True, False, True, False, False] + [True, False, True] + [
        True,
        False,
        True,
    ]
    assert [round(f.at_s, 3) for f in chat.frames if f.sent] == [0.12, 1.052, 2.301, 3.006, 4.498, 5.117]
    binary = [f.data for f in chat.frames if isinstance(f.data, bytes)]
    assert [len(b) for b in binary] == [208, 48, 48]  # two sent, one received: base64 decoded
    assert binary[0][:8] == b"\x89PNG\r\n\x1a\n" and binary[2] == bytes(range(48))
    assert ("Authorization", f"Bearer {JWT}") in chat.headers
    assert chat.cookies == (("session", "s%3AhT9xQ2secretvalue.kP0"), ("theme", "dark"))
    assert len(presence.frames) == 7 and presence.duration_s == pytest.approx(4.4987)


def test_error_and_control_frames_are_left_out_and_frames_are_put_in_time_order() -> None:
    document = chat_document()
    entry = document["log"]["entries"][3]  # presence
    started = entry["_webSocketMessages"][0]["time"] - 0.052
    entry["_webSocketMessages"] = [
        {"type": "send", "time": started + 2.0, "opcode": 1, "data": "second"},
        {"type": "error", "time": started + 1.5, "opcode": -1, "data": "net::ERR_CONNECTION_RESET"},
        {"type": "receive", "time": started + 1.6, "opcode": 9, "data": ""},
        {"type": "send", "time": started + 1.0, "opcode": 1, "data": "first"},
        {"type": "send", "time": started - 5.0, "opcode": 1, "data": "before the start"},
    ]
    connection = parse.parse(document).connections[1]
    assert [(f.data, round(f.at_s, 3)) for f in connection.frames] == [
        ("before the start", 0.0),
        ("first", 1.0),
        ("second", 2.0),
    ]


def test_an_open_connection_without_end_time_lasts_until_its_last_message() -> None:
    document = chat_document()
    document["log"]["entries"][3]["time"] = -1  # Chrome's value for a socket still open at export
    assert parse.parse(document).connections[1].duration_s == pytest.approx(4.033)


def _error(document: Any) -> str:
    with pytest.raises(HarError) as caught:
        parse.parse(document, "x.har")
    return str(caught.value)


def test_bad_documents_are_one_sentence() -> None:
    assert _error({"entries": []}) == (
        "x.har is not a HAR file (it has no log.entries list): export it from DevTools (Network panel, "
        "Export HAR)"
    )
    no_ws = json.loads((FIXTURES / "no_websocket.har").read_text())
    assert _error(no_ws) == (
        "x.har has no WebSocket connection (3 entries, none with _resourceType websocket): record with "
        "DevTools open before the page opens its WebSocket, then export the HAR again"
    )
    only_failed = chat_document()
    only_failed["log"]["entries"] = only_failed["log"]["entries"][4:]
    assert _error(only_failed).startswith(
        "x.har has no WebSocket connection that opened (every handshake failed in the recording)"
    )
    bad_binary = chat_document()
    bad_binary["log"]["entries"][2]["_webSocketMessages"][6]["data"] = "not base64!"
    assert _error(bad_binary) == (
        "x.har, WebSocket entry 1, message 7 is binary (opcode 2) but its data is not base64: export it "
        "from DevTools (Network panel, Export HAR)"
    )
    no_time = copy.deepcopy(chat_document())
    no_time["log"]["entries"][2]["startedDateTime"] = "yesterday"
    assert _error(no_time).startswith("x.har, WebSocket entry 1 has no valid startedDateTime ('yesterday')")
    for message in (_error(no_ws), _error(bad_binary), _error({})):
        assert "\n" not in message and message.count(". ") == 0


def test_files_that_cannot_be_read_or_are_not_json(tmp_path: Path) -> None:
    with pytest.raises(HarError, match=r"^cannot read .*missing.har: No such file or directory$"):
        parse.load(tmp_path / "missing.har")
    broken = tmp_path / "broken.har"
    broken.write_text('{"log": {"entries": [}}')
    with pytest.raises(HarError) as caught:
        parse.load(broken)
    assert str(caught.value) == (
        f"{broken} is not valid JSON (Expecting value at line 1, column 22): export it from DevTools "
        "(Network panel, Export HAR)"
    )
