"""A user can find every option: ``locust --help``, ``loadtest options``, the docs, ``--version``."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from loadtest.locust_help import _is_locust_help
from loadtest.option_docs import render
from loadtest.options import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)


@pytest.mark.parametrize("how", ["script", "module"])
def test_locust_help_with_a_locustfile_lists_every_option(how: str) -> None:
    start = [str(BIN / "locust")] if how == "script" else [sys.executable, "-m", "locust"]
    proc = _run(*start, "-f", str(ROOT / "scenarios" / "echo.py"), "--help")
    assert proc.returncode == 0, proc.stderr
    listed = set(re.findall(r"(?<![\w-])(--ws-[a-z]+(?:-[a-z]+)*)", proc.stdout))
    assert listed == {option.flag for option in OPTIONS}
    assert "WebSocket sessions:" in proc.stdout and "WebSocket scenario options: burst:" in proc.stdout


def test_the_help_hook_only_wakes_up_for_locust_help() -> None:
    assert _is_locust_help(["/venv/bin/locust", "-f", "x.py", "--help"], [])
    assert _is_locust_help(["-m", "-h"], ["/usr/bin/python3", "-m", "locust", "-h"])
    assert not _is_locust_help(["/venv/bin/locust", "-f", "x.py"], [])
    assert not _is_locust_help(["/venv/bin/pytest", "--help"], [])
    assert not _is_locust_help(["-m", "--help"], ["python3", "-m", "pytest", "--help"])
    proc = _run(sys.executable, "-c", "import sys; print('locust' in sys.modules, 'gevent' in sys.modules)")
    assert proc.stdout.split() == ["False", "False"]  # a plain interpreter imports nothing of ours


def test_loadtest_options_lists_every_option_with_its_variable() -> None:
    proc = _run(str(BIN / "loadtest"), "options")
    assert proc.returncode == 0, proc.stderr
    for option in OPTIONS:
        assert option.flag in proc.stdout and option.env_var in proc.stdout


def test_docs_options_md_is_the_generated_table() -> None:
    proc = _run(str(BIN / "loadtest"), "options", "--markdown")
    assert proc.stdout == render(markdown=True)
    docs = (ROOT / "docs" / "options.md").read_text()
    assert proc.stdout in docs, "regenerate it: loadtest options --markdown (see docs/options.md)"


def test_version_names_this_package_and_what_it_runs_on() -> None:
    proc = _run(str(BIN / "loadtest"), "--version")
    assert proc.returncode == 0
    assert re.fullmatch(
        r"loadtest \d+\.\d+\.\d+ \(locust [\d.]+, websocket-client [\d.]+, gevent [\d.]+, websockets [\d.]+, "
        r"Python 3\.\d+\.\d+\)\n",
        proc.stdout,
    ), proc.stdout


def test_the_wheel_carries_the_help_hook_and_the_chart_library(tmp_path: Path) -> None:
    proc = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(tmp_path), timeout_s=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("loadtest_ws-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "loadtest-help.pth" in names and "loadtest/locust_help.py" in names
    assert {"loadtest/report/page.js", "loadtest/report/vendor/LICENSE"} <= names
    assert any(n.startswith("loadtest/report/vendor/echarts") and n.endswith(".js") for n in names)
