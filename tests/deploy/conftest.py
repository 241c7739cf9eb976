"""The installed image: the Dockerfile's install script, run once per session."""

from __future__ import annotations

import pytest

from tests.deploy.image import Image, install


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """Run scripts/install-image.sh once (it compiles hdrhistogram: a C compiler is needed)."""
    pytest.importorskip("dockerfile_parse", reason="pip install -r tests/deploy/requirements.txt")
    built, done = install(tmp_path_factory.mktemp("image"))
    assert done.returncode == 0, done.stderr[-3000:]
    return built
