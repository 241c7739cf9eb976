"""Fixtures of the protocol tests: the third-party servers, and a scenario run with Locust's rows."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.locust_files import stats_rows
from tests.protocols import rabbitmq
from tests.protocols.servers import ThirdParty
from tests.scenarios.runner import run_scenario


@pytest.fixture
def third_party() -> Iterator[Any]:
    """Start ``tests/protocols/<module>.py`` servers; stop them after the test."""
    started: list[ThirdParty] = []

    def start(module: str, *args: str) -> ThirdParty:
        server = ThirdParty(module, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rabbitmq.RabbitMQ]:
    """A RabbitMQ node with Web STOMP, for the module's tests."""
    if not rabbitmq.available():
        pytest.skip("RabbitMQ is absent: apt-get install rabbitmq-server (.ci/run does)")
    node = rabbitmq.RabbitMQ(tmp_path_factory.mktemp("rabbitmq"))
    yield node
    node.stop()


def rows(prefix: Path) -> dict[str, tuple[int, int]]:
    """Return Locust's rows from its ``--csv`` stats file: name -> (requests, failures)."""
    return {name: row for name, row in stats_rows(prefix).items() if name != "Aggregated"}


def failures(prefix: Path) -> dict[str, str]:
    """Return Locust's failures from its ``--csv`` failures file: name -> error message."""
    with open(f"{prefix}_failures.csv", newline="") as handle:
        return {row["Name"]: row["Error"] for row in csv.DictReader(handle)}


def run(
    scenario: str, tmp_path: Path, *args: str, users: int = 3, seconds: int = 3
) -> tuple[dict[str, Any], dict[str, tuple[int, int]], subprocess.CompletedProcess[str], Path]:
    """Run a scenario headless; return its summary, Locust's rows, the process and the CSV prefix."""
    prefix = tmp_path / f"{scenario}-{len(list(tmp_path.iterdir()))}"
    common = ("-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix))
    summary, proc = run_scenario(scenario, tmp_path, *common, *args)
    return summary, rows(prefix), proc, prefix
