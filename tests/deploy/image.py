"""The image without an engine: the Dockerfile's install script run into a folder, and its facts.

``scripts/install-image.sh`` is what the Dockerfile's build stage runs; here it fills a
virtualenv (the image's ``/opt/venv``) and an app folder (the image's ``/app``). The final
stage's ``ENV``, ``WORKDIR``, ``ENTRYPOINT`` and ``CMD`` are read from the Dockerfile itself, so
a process started from :class:`Image` gets what a container of the image would get, with
``/opt/venv`` and ``/app`` standing for those two folders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMAGE_VENV, IMAGE_APP = "/opt/venv", "/app"
#: Docker's PATH for a container whose image does not set one (the python images keep it).
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def clean_env() -> dict[str, str]:
    """Return our environment without the variables that would leak this venv into another."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def final_stage(dockerfile: Path = ROOT / "Dockerfile") -> list[dict[str, Any]]:
    """Return the final stage's instructions (dockerfile-parse's structure, comments dropped)."""
    from dockerfile_parse import DockerfileParser

    instructions = [
        i for i in DockerfileParser(path=str(dockerfile)).structure if i["instruction"] != "COMMENT"
    ]
    starts = [n for n, i in enumerate(instructions) if i["instruction"] == "FROM"]
    return instructions[starts[-1] :]


@dataclass(frozen=True)
class Image:
    """An installed image: ``venv`` stands for /opt/venv, ``app`` for /app (the WORKDIR)."""

    venv: Path
    app: Path
    env: dict[str, str]  # the final stage's ENV, paths mapped, PATH completed
    workdir: str
    entrypoint: list[str]
    cmd: list[str]

    def path(self, image_path: str) -> str:
        """Map an absolute path of the image (under /app or /opt/venv) to ours; others unchanged."""
        for prefix, here in ((IMAGE_APP, self.app), (IMAGE_VENV, self.venv)):
            if image_path == prefix or image_path.startswith(prefix + "/"):
                return str(here) + image_path[len(prefix) :]
        return image_path


def install(where: Path) -> tuple[Image, subprocess.CompletedProcess[str]]:
    """Run the image's install script into ``where``/venv and ``where``/app; read the Dockerfile."""
    from dockerfile_parse import DockerfileParser

    venv, app = where / "venv", where / "app"
    env = clean_env()
    env["PYTHON"] = sys.executable
    done = subprocess.run(
        [str(ROOT / "scripts" / "install-image.sh"), str(venv), str(app), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=where,
    )
    final = final_stage()
    last = {i["instruction"]: i["value"] for i in final}  # the last of each instruction wins
    # The final stage creates /app/reports (RUN install -d ... /app/reports): so do we.
    assert any("/app/reports" in i["value"] for i in final if i["instruction"] == "RUN")
    (app / "reports").mkdir(parents=True, exist_ok=True)
    image_env = dict(DockerfileParser(path=str(ROOT / "Dockerfile")).envs)
    assert image_env["PATH"] == IMAGE_VENV + "/bin:", image_env  # PATH=/opt/venv/bin:$PATH
    image = Image(
        venv=venv,
        app=app,
        env={},
        workdir=last["WORKDIR"],
        entrypoint=json.loads(last["ENTRYPOINT"]),
        cmd=json.loads(last["CMD"]),
    )
    mapped = {k: image.path(v) for k, v in image_env.items() if k != "PATH"}
    mapped["PATH"] = f"{venv}/bin:{BASE_PATH}"
    # HOME: the locust user's home is /app (useradd --home-dir /app); LANG: the python images' own.
    mapped |= {"HOME": str(app), "LANG": "C.UTF-8"}
    return Image(venv, app, mapped, image.workdir, image.entrypoint, image.cmd), done
