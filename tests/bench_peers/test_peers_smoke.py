"""``python -m bench.peers --quick``, for real: an echo server process, ours and the floor client.

A smoke test of the bench's plumbing (cgroup or /proc accounting, server counts, the report):
the rows are there and every number is a positive count. No timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import UNIT_S

ROOT = Path(__file__).resolve().parents[2]


def run_bench(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result_path = tmp_path / "peers.json"
    argv = [sys.executable, "-m", "bench.peers", "--quick", "--workloads", "a,al", "--peers", "ours,floor"]
    argv += ["--json", str(result_path), "--logs", str(tmp_path / "logs"), *options]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120 * UNIT_S, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    return run, json.loads(result_path.read_text())


def check(run: subprocess.CompletedProcess[str], result: dict[str, Any]) -> None:
    samples = {(sample["workload"], sample["peer"]): sample for sample in result["samples"]}
    assert sorted(samples) == [("a", "floor"), ("a", "ours"), ("al", "floor"), ("al", "ours")]
    for sample in samples.values():
        assert sample["error"] == ""
        assert sample["messages"] > 0 and sample["cpu_us"] > 0 and sample["sessions"] == 100
        assert sample["metrics"]["cpu_us_per_rt"] == sample["cpu_us"] / sample["messages"]
    lines = run.stdout.splitlines()
    for driven in (False, True):  # A (a @task), then AL (the engine-driven loop)
        title = "A  100 sessions, 1 in flight"
        rows = [line for line in lines if line.startswith(title) and ("engine-driven" in line) == driven]
        assert len(rows) == 1, run.stdout
        ours, floor, ratio = rows[0].split()[-3:]
        assert float(ours) > 0 and float(floor) > 0 and ratio.endswith("x") and float(ratio[:-1]) > 0
    assert "CPU per round trip <= 1.5x k6: not measured in this run" in run.stdout
    assert "engine-driven closed loop (one in flight): CPU per round trip <= 2.0x floor: " in run.stdout


def test_quick_run_with_the_websockets_target(tmp_path: Path) -> None:
    run, result = run_bench(tmp_path, "--server", "websockets")
    assert result["server"] == "websockets"
    check(run, result)


@pytest.mark.skipif(importlib.util.find_spec("picows") is None, reason="needs the bench extra (picows)")
def test_quick_run_with_the_picows_target_and_proc_accounting(tmp_path: Path) -> None:
    run, result = run_bench(tmp_path, "--proc-accounting")
    assert result["server"] == "picows" and result["cpu_accounting"].startswith("/proc")
    check(run, result)
