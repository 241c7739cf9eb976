"""The hostile catalogue, handshakes: extensions we never offered, statuses that are not HTTP.

Issue 9, items 7 and 11: a 101 that enables an extension we did not offer fails the handshake
(RFC 6455 §4.1), and the handshake-failure classes are bounded whatever numbers a server sends.
"""

from __future__ import annotations

import random

import gevent
import pytest

from loadtest.metrics.handshake import HANDSHAKE_HINTS
from loadtest.metrics.recorder import Recorder
from tests.conftest import UNIT_S
from tests.hostile.client import drive
from tests.hostile.server import hostile, status, upgrade_with


@pytest.mark.parametrize(
    "header",
    [
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
        "Sec-WebSocket-Extensions: x-unknown",
    ],
)
def test_a_101_with_an_extension_we_did_not_offer_fails_the_handshake(header: str) -> None:
    with hostile(lambda peer: peer.read(UNIT_S), handshake=upgrade_with(header)) as server:
        outcome = drive(server.url)
    assert outcome.summary["handshake_failures"] == {"protocol": 1, "total": 1}
    assert outcome.summary["sessions"]["opened"] == 0
    assert outcome.failures("connect") == [
        "protocol: the server accepted an extension we did not offer (the answer is not a valid "
        "WebSocket upgrade: check the proxy forwards Upgrade/Connection)"
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("HTTP/1.1 -100232253 Odd", "protocol"),
        ("HTTP/1.1 99 Too Low", "protocol"),
        ("HTTP/1.1 600 Too High", "protocol"),
        ("HTTP/1.1 1000000 Huge", "protocol"),
        ("HTTP/1.1 100 Continue", "http_100"),
        ("HTTP/1.1 599 Edge", "http_599"),
    ],
)
def test_a_status_outside_100_599_is_a_protocol_failure(line: str, expected: str) -> None:
    with hostile(lambda peer: None, handshake=status(line)) as server:
        outcome = drive(server.url)
    assert outcome.summary["handshake_failures"] == {expected: 1, "total": 1}
    (message,) = outcome.failures("connect")
    assert message.startswith(f"{expected}: ")
    assert "-100232253" not in message and "1000000" not in message


def test_random_statuses_give_a_bounded_set_of_classes() -> None:
    rng = random.Random(9)
    statuses = [rng.choice([rng.randint(-(2**31), 2**31), rng.randint(100, 599)]) for _ in range(200)]
    answers = iter(statuses)
    with hostile(
        lambda peer: None, handshake=lambda request: status(f"HTTP/1.1 {next(answers)} X")(request)
    ) as server:
        outcomes = [gevent.spawn(drive, server.url) for _ in range(len(statuses))]
        gevent.joinall(outcomes, timeout=20 * UNIT_S, raise_error=True)
    total = Recorder()
    for greenlet in outcomes:
        for name, count in greenlet.value.summary["handshake_failures"].items():
            if name != "total":
                total.keyed["handshake_failures"][name] += count
    classes = total.keyed["handshake_failures"]
    assert sum(classes.values()) == 200
    allowed = {f"http_{n}" for n in range(100, 600)} | set(HANDSHAKE_HINTS)
    assert set(classes) <= allowed
    in_range = sum(1 for s in statuses if 100 <= s <= 599)
    assert classes["protocol"] == 200 - in_range


def test_the_recorder_bounds_classes_and_close_code_keys_by_construction() -> None:
    recorder = Recorder()
    for name in ("http_-5", "http_999", "http_abc", "http_٣٠٠", "made_up", "http_404", "timeout"):
        recorder.on_handshake_failure(name)
    assert dict(recorder.keyed["handshake_failures"]) == {"protocol": 5, "http_404": 1, "timeout": 1}
    for code in (999, 1000, 4999, 5000, 70000):
        recorder.on_open({})
        recorder.on_close("server", code)
    recorder.on_open({})
    recorder.on_close("abnormal", 1006, "a reason nobody defined")
    assert dict(recorder.keyed["closes_server"]) == {"other": 3, "1000": 1, "4999": 1}
    assert dict(recorder.keyed["abnormal_reasons"]) == {"other": 1}
