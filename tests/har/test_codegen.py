"""The generated locustfile: short lines, ruff-clean, no secret, exactly the recording it was made from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from loadtest.har import codegen, parse
from loadtest.har.parse import Connection, Frame, Har

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SECRETS = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "hT9xQ2secretvalue", "Zm9vYmFyYmF6c2lnbmF0dXJl")


def generate(har: Har, output: str = "recorded.py", source: str = "x.har") -> tuple[str, list[Any]]:
    plans = codegen.plans(har)
    return codegen.module(har, plans, source, output), plans


def load(text: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "recorded"}
    exec(compile(text, "recorded.py", "exec"), namespace)  # noqa: S102 (our own output)
    return namespace


def test_the_chat_locustfile_holds_exactly_the_recordings_and_no_secret(tmp_path: Path) -> None:
    text, plans = generate(parse.load(FIXTURES / "chat.har"), source="tests/har/fixtures/chat.har")
    namespace = load(text)
    user = namespace["RecordedUser"]
    assert user.recordings == tuple(p.recording for p in plans)  # the literals are faithful
    assert user.scenario_options == ("har",) and (namespace["CHAT"], namespace["PRESENCE"]) == user.recordings
    assert not any(secret in text for secret in SECRETS)
    assert text.splitlines()[0] == '"""Replay of chat.har, written by `loadtest har`: 2 recorded connections.'
    assert (
        "    locust -f recorded.py --host wss://chat.example.com -u 10 -r 10 -t 1m --ws-token TOKEN \\"
        in text
    )
    assert "        --ws-cookie session=VALUE\n" in text
    assert "Not replayed: wss://chat.example.com/ws/notifications: its handshake failed in the" in text
    comments = [line for line in text.splitlines() if line.startswith("#   ")]
    assert comments == [
        "#   query token: not written -> Token() (secret: the --ws-token value)",
        '#   header Authorization: not written -> Token("Bearer {token}") (credential: the --ws-token value)',
        "#   cookie session: not written -> Cookie() (secret cookie: the --ws-cookie session=... value)",
        "#   steps 1, 2, 5 id: per request -> Corr() (correlation: a new value per request; its reply gives "
        "the RTT)",
        '#   steps 1, 2, 5 clientId: 6f1c2a9e-3b7d-4c55-9a0e-2d8b7f... -> Fresh(1, "uuid") (UUID: a new '
        "one per replay)",
        '#   steps 1, 2, 5 ts: 1715679012676 -> Now("ms") (recording time: the time of sending)',
        '#   query t: 1715679012578 -> Now("ms", text=True) (recording time: the time of sending)',
        '#   steps 1-3 reqId: per request -> Corr("text") (correlation: a new value per request; its reply '
        "gives the...",
        '#   steps 2, 3 at: 1715679014581 -> Now("ms") (recording time: the time of sending)',
    ]
    path = tmp_path / "recorded.py"
    path.write_text(text)
    assert max(len(line) for line in text.splitlines()) <= 110
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"), str(path)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


def test_long_and_odd_messages_survive_the_round_trip() -> None:
    frames = [
        Frame(True, 0.1, bytes(range(256)) * 20),  # 5 KiB binary: base64 over lines
        Frame(True, 0.2, b"\x00short\xff"),
        Frame(True, 0.3, json.dumps({"text": "word " * 120, "list": list(range(60)), "e": "é\u2028\\\"'"})),
        Frame(True, 0.4, "not json {"),
        Frame(True, 0.5, '["a", {"b": null, "c": true, "d": 1.5e-7}]'),
        Frame(True, 0.6, '{"big": 123456789012345678901234567890}'),  # beyond 64 bits: sent as text
        Frame(True, 0.7, "x" * 500),
    ]
    har = Har((Connection("ws://h/a-b/1st", 1e9, 1.0, 101, (), (), tuple(frames)),), (), 1)
    text, plans = generate(har)
    assert load(text)["RecordedUser"].recordings == (plans[0].recording,)
    assert plans[0].recording.label == "ws_1st"
    assert [type(s.message).__name__ for s in plans[0].recording.steps] == [
        "bytes", "bytes", "dict", "str", "list", "str", "str"
    ]  # fmt: skip
    assert max(len(line) for line in text.splitlines()) <= 110
    assert 'B64(\n            "AAECAwQF' in text and 'b"\\x00short\\xff"' in text


def test_the_committed_ticker_scenario_is_the_generated_one() -> None:
    har = parse.load(FIXTURES / "ticker.har")
    text, _ = generate(har, "scenarios/recorded_ticker.py", "tests/har/fixtures/ticker.har")
    assert (ROOT / "scenarios" / "recorded_ticker.py").read_text() == text, (
        "regenerate it: loadtest har tests/har/fixtures/ticker.har -o scenarios/recorded_ticker.py"
    )


def test_a_recording_whose_server_compressed_is_replayed_with_compression() -> None:
    document = json.loads((FIXTURES / "ticker.har").read_text())
    plain, _ = generate(parse.parse(document))
    for entry in document["log"]["entries"]:
        if entry["response"]["status"] == 101:
            entry["response"]["headers"].append(
                {
                    "name": "Sec-WebSocket-Extensions",
                    "value": "permessage-deflate; server_no_context_takeover",
                }
            )
    compressed, plans = generate(parse.parse(document))
    assert [p.compressed for p in plans] == [True]
    assert "--ws-compression deflate" in compressed and "--ws-compression" not in plain
