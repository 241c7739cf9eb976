"""The Dockerfile and .dockerignore say what docs/distributed.md promises.

No image is built or run here (no container engine); see docs/distributed.md. What the build
stage runs, scripts/install-image.sh, is run for real by test_install_image.py; compose.yaml
and the Kubernetes manifests have their own test modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


# -- Dockerfile ------------------------------------------------------------------------------------
def _dockerfile() -> list[dict[str, Any]]:
    dockerfile_parse = pytest.importorskip(
        "dockerfile_parse", reason="pip install -r tests/deploy/requirements.txt"
    )
    parser = dockerfile_parse.DockerfileParser(path=str(ROOT / "Dockerfile"))
    return [i for i in parser.structure if i["instruction"] != "COMMENT"]


def _final_stage(instructions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    starts = [n for n, i in enumerate(instructions) if i["instruction"] == "FROM"]
    return instructions[starts[-1] :]


def test_dockerfile_is_multi_stage_on_python_slim_bookworm() -> None:
    froms = [i["value"] for i in _dockerfile() if i["instruction"] == "FROM"]
    assert len(froms) >= 2, froms
    # Bookworm, pinned: the release (gcc 12, glibc 2.36) the build steps and wheels were checked on.
    assert all(f.split()[0] == "python:3.11-slim-bookworm" for f in froms)
    assert froms[0].lower().endswith(" as build")


def test_dockerfile_build_stage_has_a_compiler_before_the_install_and_the_runtime_has_none() -> None:
    instructions = _dockerfile()
    final_start = len(instructions) - len(_final_stage(instructions))
    runs = [(n, i["value"]) for n, i in enumerate(instructions) if i["instruction"] == "RUN"]
    compiler = [
        n for n, run in runs if "apt-get install" in run and " gcc " in f" {run} " and "libc6-dev" in run
    ]
    install = [n for n, run in runs if "scripts/install-image.sh" in run]
    assert compiler and install and compiler[0] < install[0] < final_start, runs
    assert not any("apt-get" in run for n, run in runs if n >= final_start)


def test_dockerfile_runs_the_one_install_script_in_the_build_stage() -> None:
    instructions = _dockerfile()
    runs = [i["value"] for i in instructions if i["instruction"] == "RUN"]
    assert any("scripts/install-image.sh /opt/venv /app" in run for run in runs)
    copies = [i["value"] for i in _final_stage(instructions) if i["instruction"] == "COPY"]
    assert "--from=build /opt/venv /opt/venv" in copies
    assert any(c.startswith("--from=build") and c.endswith("/app /app") for c in copies)


def test_dockerfile_final_stage_is_non_root_unbuffered_locust() -> None:
    final = _final_stage(_dockerfile())
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    env = " ".join(i["value"] for i in final if i["instruction"] == "ENV")
    assert "PYTHONUNBUFFERED=1" in env and "/opt/venv/bin" in env
    exposed = {p for i in final if i["instruction"] == "EXPOSE" for p in i["value"].split()}
    assert {"8089", "5557"} <= exposed
    entrypoint = [i["value"] for i in final if i["instruction"] == "ENTRYPOINT"]
    assert [json.loads(e) for e in entrypoint] == [["locust"]]
    cmd = [json.loads(i["value"]) for i in final if i["instruction"] == "CMD"]
    assert cmd == [["-f", "/app/scenarios/echo.py"]]


def test_dockerignore_keeps_what_the_build_copies() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"
    }
    assert {".git", ".venv", "tests"} <= ignored
    assert not ignored & {"loadtest", "scenarios", "scripts", "pyproject.toml", "README.md"}
