"""What a recording needs to replay: its correlation field, generated values and no secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtest.har import parse
from loadtest.har.detect import correlation, plan
from loadtest.har.kinds import id_like, secret_cookie, secret_name
from loadtest.har.parse import Connection, Frame
from loadtest.har.script import Cookie, Corr, Fresh, Now, Send, Token

FIXTURES = Path(__file__).parent / "fixtures"
STARTED_S = 1_715_679_012.556
SECRETS = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "hT9xQ2secretvalue", "Zm9vYmFyYmF6c2lnbmF0dXJl")


def connection(frames: list[tuple[bool, float, Any]], url: str = "wss://h/ws", **kw: Any) -> Connection:
    def data(value: Any) -> str | bytes:
        return value if isinstance(value, str | bytes) else json.dumps(value)

    return Connection(
        url=url,
        started_s=STARTED_S,
        duration_s=kw.get("duration_s", 10.0),
        status=101,
        headers=tuple(kw.get("headers", ())),
        cookies=tuple(kw.get("cookies", ())),
        frames=tuple(Frame(sent, at, data(value)) for sent, at, value in frames),
    )


def test_the_chat_fixture_becomes_a_recording_with_its_replacements() -> None:
    connections = parse.load(FIXTURES / "chat.har").connections
    chat, presence = plan(connections[0], "chat"), plan(connections[1], "presence")
    r = chat.recording
    assert (r.path, r.correlation, r.close_at_s) == ("/ws/chat", "id", 6.012)
    assert r.query == (("room", "lobby"), ("token", Token()))
    assert r.url == "wss://chat.example.com/ws/chat?room=lobby&token=***"
    assert r.origin == "https://chat.example.com" and r.subprotocols == ("chat.v2",)
    assert r.cookies == {"session": Cookie(), "theme": "dark"}
    assert r.headers["Authorization"] == Token("Bearer {token}")
    assert sorted(r.headers) == [
        "Accept-Encoding",
        "Accept-Language",
        "Authorization",
        "Cache-Control",
        "Pragma",
        "User-Agent",
    ]
    assert r.steps[0] == Send(
        0.12,
        {"type": "join", "id": Corr(), "room": "lobby", "clientId": Fresh(1, "uuid"), "ts": Now("ms")},
        "join",
    )
    assert [s.name for s in r.steps] == ["join", "message", None, None, "message", None]
    assert [type(s.message).__name__ for s in r.steps] == ["dict", "dict", "bytes", "dict", "dict", "bytes"]
    assert (chat.answered, chat.received, chat.binary) == (3, 6, 2)
    assert [(x.name, x.where) for x in chat.replacements] == [
        ("token", ["query"]),
        ("Authorization", ["header"]),
        ("session", ["cookie"]),
        ("id", ["step 1", "step 2", "step 5"]),
        ("clientId", ["step 1", "step 2", "step 5"]),
        ("ts", ["step 1", "step 2", "step 5"]),
    ]
    p = presence.recording
    assert p.correlation == "reqId" and p.query == (("v", "3"), ("t", Now("ms", text=True)))
    assert [s.message for s in p.steps][1] == {"op": "heartbeat", "reqId": Corr("text"), "at": Now("ms")}
    assert not p.uses_token and r.uses_token
    assert not any(secret in repr([chat, presence]) for secret in SECRETS)


def test_correlation_needs_an_id_like_field_with_distinct_values_echoed_later() -> None:
    frames = [
        (True, 0.1, {"op": "sub", "topic": "a", "seq": 1, "channel": "x", "ref": "r1"}),
        (False, 0.2, {"op": "ok", "topic": "a", "seq": 1, "channel": "x"}),
        (True, 0.3, {"op": "sub", "topic": "b", "seq": 2, "channel": "x", "ref": "r2"}),
        (False, 0.25, {"ref": "r2"}),  # before its request: not an answer
        (False, 0.4, {"op": "ok", "topic": "b", "seq": 2, "channel": "x"}),
    ]
    c = connection(frames)
    assert correlation(tuple(sorted(c.frames, key=lambda f: f.at_s))) == ("seq", {0, 3})
    # "topic" is echoed too but is a name, "channel" repeats: neither is a correlation field
    tie = connection([(True, 0.1, {"id": 7, "reqId": 7}), (False, 0.2, {"id": 7, "reqId": 7})])
    assert correlation(tie.frames) == ("id", {0})
    other_type = connection([(True, 0.1, {"id": 1}), (False, 0.2, {"id": "1"})])
    assert correlation(other_type.frames) == (None, set())


def test_uuids_times_and_ids_become_generated_values_names_stay() -> None:
    uuid = "6F1C2A9E-3B7D-4C55-9A0E-2D8B7F4E1C01"
    frames = [
        (True, 0.1, {"user": uuid, "userId": 42, "roomId": "lobby", "msgId": "u-48213", "at": STARTED_S + 0.1,
                     "sentAt": "2024-05-14T09:30:12.656+00:00", "year": 2024, "nested": {"sessionId": uuid}}),
        (True, 0.2, {"userId": 42, "epoch_us": int(STARTED_S * 1e6), "old": 1_600_000_000_000}),
    ]  # fmt: skip
    steps = plan(connection(frames), "x").recording.steps
    assert steps[0].message == {
        "user": Fresh(1, "uuid"),
        "userId": Fresh(2, "int", 9),
        "roomId": "lobby",
        "msgId": Fresh(3, "text", 5, "u-", "digits"),
        "at": Now("s_float"),
        "sentAt": Now("iso", 3, "+00:00"),
        "year": 2024,
        "nested": {"sessionId": Fresh(1, "uuid")},
    }
    assert steps[1].message == {"userId": Fresh(2, "int", 9), "epoch_us": Now("us"), "old": 1_600_000_000_000}
    assert steps[0].name is None  # nothing answered it


def test_secrets_never_reach_the_recording() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLWJvYg"
    frames = [
        (True, 0.1, {"type": "auth", "token": "opaque-credential-1", "password": "hunter2"}),
        (True, 0.2, {"type": "resume", "session": f"Bearer {jwt}", "again": "key=abcdef123456"}),
        (True, 0.3, f"CONNECT\naccept-version:1.2\nAuthorization:Bearer {jwt}\n\n\x00"),
        (True, 0.4, "plain text, nothing secret"),
    ]
    c = connection(
        frames,
        url="wss://u:p@h/ws?access_token=abcdef123456&lang=en",
        headers=[
            ("X-Api-Key", "k-998877"),
            ("Authorization", "Basic dTpw"),
            ("X-Client", "web"),
            (":authority", "h"),
            ("Host", "h"),
            ("Sec-WebSocket-Key", "abc=="),
            ("Upgrade", "websocket"),
        ],
        cookies=[("sid", "s-1"), ("csrftoken", "c-1"), ("theme", "dark"), ("_ga", "GA1.2.3")],
    )
    p = plan(c, "x")
    r = p.recording
    assert r.url == "wss://h/ws?access_token=***&lang=en"
    assert r.query == (("access_token", Token()), ("lang", "en"))
    assert r.headers == {"X-Api-Key": Token(), "Authorization": Token("Basic {token}"), "X-Client": "web"}
    assert r.cookies == {"sid": Cookie(), "csrftoken": Cookie(), "theme": "dark", "_ga": "GA1.2.3"}
    assert [s.message for s in r.steps] == [
        {"type": "auth", "token": Token(), "password": Token()},
        {"type": "resume", "session": Token("Bearer {token}"), "again": Token("key={token}")},
        Token("CONNECT\naccept-version:1.2\nAuthorization:Bearer {token}\n\n\x00"),
        "plain text, nothing secret",
    ]
    text = repr(p)
    secrets = ("abcdef123456", "k-998877", "dTpw", "s-1", "c-1", "opaque-credential-1", "hunter2", jwt, "u:p")
    for secret in secrets:
        assert secret not in text, secret


def test_names() -> None:
    assert all(map(id_like, ["id", "ID", "reqId", "requestID", "user_id", "msg-id", "ref", "seq", "nonce"]))
    assert not any(map(id_like, ["paid", "valid", "android", "identity", "idle", "grid"]))
    assert all(map(secret_name, ["token", "access_token", "X-Auth-Token", "apiKey", "X-Api-Key", "password",
                                 "client_secret", "Authorization", "jwt", "sig"]))  # fmt: skip
    assert not any(map(secret_name, ["type", "room", "tokens_left", "author", "keyboard"]))
    assert all(map(secret_cookie, ["session", "PHPSESSID", "sid", "auth", "csrftoken", "remember_me"]))
    assert not any(map(secret_cookie, ["theme", "lang", "_ga"]))
