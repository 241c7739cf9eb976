"""Run a scenario as a user would: a real ``locust --headless`` process, and read its summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_scenario(
    name: str, tmp_path: Path, *args: str, timeout_s: float = 90.0
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Run ``scenarios/<name>.py`` headless with ``args``; return its summary and the process."""
    out = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "scenarios" / f"{name}.py"),
            "--headless",
            "--only-summary",
            "--ws-summary",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
    )
    assert out.exists(), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc
