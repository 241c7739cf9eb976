"""A regression gate in CI: one run is the baseline; a slower run fails it, an equal one passes."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.e2e.test_headless import locust


def _run(
    folder: Path, name: str, host: str, *args: str
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    summary = folder / f"{name}.json"
    proc = locust(
        "-u", "2", "-r", "2", "-t", "3s", "--host", host, "--ws-summary", str(summary), *args, cwd=folder
    )
    assert summary.is_file(), proc.stderr[-3000:]
    return json.loads(summary.read_text()), proc


def test_a_slower_run_fails_the_gate_and_an_equal_one_passes(tmp_path: Path, serve) -> None:
    fast, slow = serve(), serve("--read-delay", "0.05")
    before, proc = _run(tmp_path, "before", fast.url)
    assert proc.returncode == 0 and before["rtt_ms"]["p99"] < 25  # loopback echo: well under 50 ms
    previous = str(tmp_path / "before.json")

    worse, proc = _run(
        tmp_path, "worse", slow.url, "--ws-baseline", previous, "--ws-regression", "rtt_ms.p99:+20%",
        "--ws-report", str(tmp_path / "worse.html"), "--ws-junit", str(tmp_path / "worse.xml"),
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr[-2000:]
    (row,) = worse["baseline"]["compared"]
    assert row["metric"] == "rtt_ms.p99" and row["baseline"] == before["rtt_ms"]["p99"]
    assert row["now"] == worse["rtt_ms"]["p99"] >= 50 and row["passed"] is False and worse["passed"] is False
    assert worse["baseline"]["warnings"] == [
        f"the baseline ran against {fast.url!r}, this run against {slow.url!r}"
    ]  # another target: compared anyway, and said
    assert "FAIL  rtt_ms.p99" in proc.stdout and "warning: the baseline ran against" in proc.stdout
    failures = ET.parse(tmp_path / "worse.xml").getroot().findall("testcase/failure")
    assert len(failures) == 1 and "rtt_ms.p99" in failures[0].get("message", "")
    report = (tmp_path / "worse.html").read_text()
    assert '<section id="s-baseline">' in report and '"baseline_series":[' in report

    same, proc = _run(
        tmp_path, "same", fast.url, "--ws-baseline", previous,
        "--ws-regression", "sessions.peak_concurrent:-10%", "--ws-regression", "closes.abnormal:+0%",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r["passed"] for r in same["baseline"]["compared"]] == [True, True]
    assert same["baseline"]["warnings"] == [] and same["passed"] is True


def test_regression_rules_need_a_baseline(tmp_path: Path, serve) -> None:
    _, proc = _run_refused(tmp_path, serve().url, "--ws-regression", "rtt_ms.p99:+20%")
    assert "--ws-regression compares with a baseline: give --ws-baseline PREVIOUS.json too" in proc.stderr


def _run_refused(folder: Path, host: str, *args: str) -> tuple[None, subprocess.CompletedProcess[str]]:
    proc = locust("-u", "1", "-t", "2s", "--host", host, *args, cwd=folder)
    assert proc.returncode == 2 and "Ramping to" not in proc.stderr, proc.stderr[-2000:]
    return None, proc
