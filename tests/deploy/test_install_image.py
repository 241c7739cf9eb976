"""The image's install steps, run for real into a clean virtualenv, then a real headless run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_install_script_into_a_fresh_venv_then_run_the_installed_scenario(tmp_path: Path) -> None:
    venv, app = tmp_path / "venv", tmp_path / "app"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHON"] = sys.executable
    installed = subprocess.run(
        [str(ROOT / "scripts" / "install-image.sh"), str(venv), str(app), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert (app / "scenarios" / "echo.py").exists()
    # Installed as a package, not an editable link to the checkout.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import loadtest; print(loadtest.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), where.stdout

    out = tmp_path / "summary.json"
    run = subprocess.run(
        [
            str(venv / "bin" / "locust"),
            "-f",
            str(app / "scenarios" / "echo.py"),
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
    assert "started the embedded target" in run.stderr
