"""The installed image (the Dockerfile's install script, run once) and hosts for its containers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.deploy.host import Host
from tests.deploy.image import Image, install
from tests.netns.hosts import unusable_reason


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """Run scripts/install-image.sh once (it compiles hdrhistogram: a C compiler is needed)."""
    pytest.importorskip("dockerfile_parse", reason="pip install -r tests/deploy/requirements.txt")
    built, done = install(tmp_path_factory.mktemp("image"))
    assert done.returncode == 0, done.stderr[-3000:]
    return built


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Callable[[list[str]], Host]]:
    """Make hosts (network namespaces) whose given names resolve to 127.0.0.1; close them after."""
    reason = unusable_reason()
    if reason is None and not os.access("/etc", os.W_OK):
        reason = "/etc/netns/<ns>/hosts cannot be written"
    if reason is not None:
        pytest.skip(f"no network namespaces: {reason}")
    made: list[Host] = []

    def make(names: list[str]) -> Host:
        logs = tmp_path / f"logs{len(made)}"
        logs.mkdir()
        made.append(Host(names, logs))
        return made[-1]

    yield make
    for h in made:
        h.close()
