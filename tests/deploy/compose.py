"""compose.yaml rendered by a real Compose implementation, with only the variables a test gives.

``docker compose config`` (Compose v2, the docker CLI plugin) or ``docker-compose config``
(Debian's package: Compose v1.29, Python; or a v2 binary by that name) resolves the file
exactly as ``up`` would, interpolation included, and needs no engine. The render sees no
variable but PATH, HOME and the ones given, and no ``.env`` file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.image import ROOT

COMPOSE_FILE = ROOT / "compose.yaml"


def implementations() -> dict[str, list[str]]:
    """Return ``{"docker-compose 1.29.2": argv, ...}`` for every Compose that answers here."""
    found: dict[str, list[str]] = {}
    candidates = []
    if docker := shutil.which("docker"):
        candidates.append([docker, "compose"])
    if docker_compose := shutil.which("docker-compose"):
        candidates.append([docker_compose])
    for argv in candidates:
        version = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True, timeout=30)
        if version.returncode == 0 and version.stdout.strip():
            found[" ".join([Path(argv[0]).name, *argv[1:], version.stdout.strip()])] = argv
    return found


def render(argv: list[str], variables: dict[str, str], scratch: Path) -> dict[str, Any]:
    """Return ``config``'s output for ``variables`` (nothing else from our environment)."""
    yaml = pytest.importorskip("yaml", reason="pip install -r tests/deploy/requirements.txt")
    empty = scratch / "empty.env"
    empty.write_text("")
    out = subprocess.run(
        [
            *argv,
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(empty),
            "-f",
            str(COMPOSE_FILE),
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=scratch,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(scratch), **variables},
    )
    assert out.returncode == 0, out.stderr
    config: dict[str, Any] = yaml.safe_load(out.stdout)
    return config
