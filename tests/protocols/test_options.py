"""Protocol options and locustfiles the run refuses before any user starts (exit 2, one sentence)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.scenarios.runner import ROOT


def _locust(locustfile: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", locustfile, "--headless", "-u", "1", "-t", "2s", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_two_protocols_need_a_host() -> None:
    proc = _locust(str(ROOT / "tests" / "protocols" / "two_protocols.py"))
    assert proc.returncode == 2
    assert (
        "loadtest: the user classes speak socketio and stomp, and the embedded target speaks one protocol: "
        "give --host, or run them separately"
    ) in proc.stderr


@pytest.mark.parametrize(
    ("scenario", "args", "sentence"),
    [
        (
            "stomp_topic",
            ("--ws-stomp-heartbeat", "10"),
            "--ws-stomp-heartbeat: a heart-beat header that is not two numbers: '10': write it as CX,CY",
        ),
        (
            "graphql_subscription",
            ("--ws-graphql-document", "fragment F on Query { hello }"),
            "--ws-graphql-document: the document has no operation (query, mutation or subscription)",
        ),
        (
            "socketio_chat",
            ("--ws-socketio-path", "socket.io"),
            "--ws-socketio-path 'socket.io' must start with '/'",
        ),
    ],
)
def test_bad_protocol_options(scenario: str, args: tuple[str, ...], sentence: str) -> None:
    proc = _locust(str(ROOT / "scenarios" / f"{scenario}.py"), *args)
    assert proc.returncode == 2 and sentence in proc.stderr, proc.stderr[-2000:]
