"""The image's install steps, run for real into a clean virtualenv, then a real headless run.

scripts/install-image.sh is what the Dockerfile's build stage runs. It compiles hdrhistogram
from its sdist on every architecture (there is no arm64 wheel), so this test, on x86_64 here,
takes the same path an arm64 build takes: nothing here ran on arm64.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

from tests.deploy.image import Image, clean_env


def _dist_info(image: Image, name: str) -> Path:
    found = sorted(image.venv.glob(f"lib/python*/site-packages/{name}-*.dist-info"))
    assert len(found) == 1, found
    return found[0]


def test_hdrhistogram_is_compiled_from_its_sdist_and_the_rest_come_as_wheels(image: Image) -> None:
    wheel = (_dist_info(image, "hdrhistogram") / "WHEEL").read_text()
    # A wheel built here is tagged for this machine only (linux_x86_64), never manylinux: PyPI's
    # x86_64 wheels were not used.
    assert f"Tag: cp311-cp311-linux_{platform.machine()}" in wheel, wheel
    assert "Generator: setuptools" in wheel
    extension = subprocess.run(
        [str(image.venv / "bin" / "python"), "-c", "import pyhdrh; print(pyhdrh.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=True,
    )
    assert extension.stdout.strip().endswith(".so") and extension.stdout.startswith(str(image.venv))
    # Everything else came from PyPI wheels (--only-binary :all:): their WHEEL files say a
    # platform tag PyPI publishes (manylinux..., any), not a local build's linux_*.
    gevent = (_dist_info(image, "gevent") / "WHEEL").read_text()
    assert "manylinux" in gevent, gevent


def test_install_script_into_a_fresh_venv_then_run_the_installed_scenario(
    image: Image, tmp_path: Path
) -> None:
    assert (image.app / "scenarios" / "echo.py").exists()
    env = clean_env()
    # Installed as a package, not an editable link to the checkout.
    where = subprocess.run(
        [str(image.venv / "bin" / "python"), "-c", "import loadtest; print(loadtest.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.startswith(str(image.venv)), where.stdout

    out = tmp_path / "summary.json"
    run = subprocess.run(
        [
            str(image.venv / "bin" / "locust"),
            "-f",
            str(image.app / "scenarios" / "echo.py"),
            "--headless",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "2s",
            "--ws-summary",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    s = json.loads(out.read_text())
    assert s["sessions"]["opened"] == 2 and s["closes"]["client"] == {"1000": 2}
    assert 0 < s["messages"]["received"] <= s["messages"]["sent"]  # a request may be in flight at the end
    assert s["rtt_ms"]["count"] > 0 and 0 < s["rtt_ms"]["p50"] <= s["rtt_ms"]["max"]  # hdrhistogram's
    assert "started the embedded target" in run.stderr
