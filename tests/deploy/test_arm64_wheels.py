"""Every runtime dependency but hdrhistogram has an arm64 (aarch64) wheel, at the installed version.

The image compiles hdrhistogram from its sdist (it publishes no aarch64 wheel) and installs
everything else with ``--only-binary :all:`` (scripts/install-image.sh). So an arm64 build
works if each other distribution the install chose here, at that exact version, has a wheel
for CPython 3.11 on aarch64 glibc no newer than the image's (bookworm: glibc 2.36). Asked of
PyPI with ``pip download --platform ... --only-binary :all:``; nothing here runs on arm64.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.deploy.image import Image, clean_env

#: The image's glibc (Debian bookworm); pip does not expand manylinux_2_36 to older tags itself.
GLIBC_MINOR = 36
PLATFORMS = [
    "manylinux2014_aarch64",
    *(f"manylinux_2_{minor}_aarch64" for minor in range(17, GLIBC_MINOR + 1)),
]
#: Built here from source (hdrhistogram), the project itself, and the venv's own installer.
NOT_FROM_WHEELS = {"hdrhistogram", "loadtest-ws", "pip"}


def _installed(image: Image) -> dict[str, str]:
    listed = subprocess.run(
        [str(image.venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        check=True,
    )
    return {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(listed.stdout)}


def test_every_installed_dependency_but_hdrhistogram_has_an_aarch64_wheel(
    image: Image, tmp_path: Path
) -> None:
    installed = _installed(image)
    assert "hdrhistogram" in installed and "locust" in installed
    wanted = {name: version for name, version in installed.items() if name not in NOT_FROM_WHEELS}
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    downloaded = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary",
            ":all:",
            *platforms,
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--dest",
            str(tmp_path),
            *(f"{name}=={version}" for name, version in sorted(wanted.items())),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_env(),
    )
    assert downloaded.returncode == 0, downloaded.stderr[-3000:]
    wheels = sorted(p.name for p in tmp_path.glob("*.whl"))
    assert len(wheels) == len(wanted), wheels
    # The compiled ones really are aarch64 builds, not pure-Python stand-ins.
    native = [w for w in wheels if not w.endswith("-none-any.whl")]
    assert native and all("aarch64" in w for w in native), native
    assert any(w.startswith("gevent-") for w in native) and any(w.startswith("pyzmq-") for w in native)
