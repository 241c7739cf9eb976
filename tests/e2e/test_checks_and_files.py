"""--ws-check verdicts and exit codes, JUnit XML, and the CSV files, from real locust processes."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.e2e.test_headless import locust
from tests.locust_files import printed_json, stats_rows


def test_passing_checks_exit_zero_and_are_recorded(tmp_path: Path) -> None:
    out, junit = tmp_path / "summary.json", tmp_path / "checks.xml"
    proc = locust(
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
        "--ws-summary",
        str(out),
        "--ws-junit",
        str(junit),
        "--ws-check",
        "rtt_ms.p99<1000",
        "--ws-check",
        "closes.abnormal==0",
        "--ws-check",
        "handshake_failures.total<1",
        "--ws-check",
        "closes.abnormal_ratio<0.01",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads(out.read_text())
    assert s["passed"] is True
    assert [c["name"] for c in s["checks"]] == [
        "rtt_ms.p99<1000",
        "closes.abnormal==0",
        "handshake_failures.total<1",
        "closes.abnormal_ratio<0.01",
    ]
    assert all(c["passed"] and c["limit"] is not None for c in s["checks"])
    assert "PASS  rtt_ms.p99<1000" in proc.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "4" and suite.get("failures") == "0"


def test_a_failing_check_exits_3_and_says_why(tmp_path: Path) -> None:
    out, junit = tmp_path / "summary.json", tmp_path / "checks.xml"
    proc = locust(
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "2s",
        "--ws-summary",
        str(out),
        "--ws-junit",
        str(junit),
        "--ws-embedded-args",
        "--close-every 2 --close-code 1011 --close-after 0.2",
        "--ws-reconnect-base",
        "0.1",
        "--ws-reconnect-cap",
        "0.2",
        "--ws-check",
        "closes.server.1011==0",
        "--ws-check",
        "sessions.peak_concurrent>=4",
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    s = json.loads(out.read_text())
    verdicts = {c["name"]: c for c in s["checks"]}
    assert verdicts["closes.server.1011==0"]["passed"] is False
    assert verdicts["closes.server.1011==0"]["value"] == s["closes"]["server"]["1011"] >= 2
    assert verdicts["sessions.peak_concurrent>=4"]["passed"] is True
    assert s["passed"] is False
    assert "FAIL  closes.server.1011==0" in proc.stdout
    assert "1 of 2 --ws-check conditions failed: exit code 3" in proc.stderr
    failures = ET.parse(junit).getroot().findall("testcase/failure")
    assert len(failures) == 1 and "closes.server.1011" in failures[0].get("message", "")


def test_an_unknown_metric_is_an_error_before_the_run() -> None:
    proc = locust("-u", "1", "-t", "2s", "--ws-check", "rtt_ms.p98<10", timeout_s=30)
    assert proc.returncode == 2
    assert (
        "loadtest: --ws-check 'rtt_ms.p98<10': 'rtt_ms.p98' is not in the summary; nearest valid: rtt_ms.p99,"
        in proc.stderr
    )
    assert "Ramping to" not in proc.stderr


def _rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_files_next_to_locusts(tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    proc = locust(
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "3s",
        "--csv",
        str(prefix),
        "--ws-sample-interval",
        "0.5",
        "--ws-embedded-args",
        "--close-every 2 --close-code 1011 --close-after 0.3",
        "--ws-reconnect-base",
        "0.1",
        "--ws-reconnect-cap",
        "0.2",
    )
    assert Path(f"{prefix}_stats.csv").exists(), proc.stderr[-2000:]  # Locust's own
    closes = _rows(f"{prefix}_ws_closes.csv")
    assert {(r["who"], r["code"]) for r in closes} >= {("server", "1011"), ("client", "1000")}
    assert all(r["meaning"] and r["hint"] for r in closes)
    latency = {r["metric"]: r for r in _rows(f"{prefix}_ws_latency.csv")}
    assert int(latency["rtt"]["count"]) > 0
    history = _rows(f"{prefix}_ws_history.csv")
    assert len(history) >= 4
    assert max(int(r["sessions_connected"]) for r in history) == 2
    assert any(r["closes_server_per_s"] not in ("", "0.0") for r in history)
    assert (
        Path(f"{prefix}_ws_handshake_failures.csv").exists()
        and Path(f"{prefix}_ws_backpressure.csv").exists()
    )


def test_checks_from_locust_conf(tmp_path: Path) -> None:
    (tmp_path / "locust.conf").write_text(
        "headless = true\nusers = 2\nspawn-rate = 2\nrun-time = 2s\n"
        "ws-check = [rtt_ms.p99<1000, closes.abnormal>=1]\nws-summary = s.json\n"
    )
    proc = locust(cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr[-2000:]
    checks = json.loads((tmp_path / "s.json").read_text())["checks"]
    assert [(c["name"], c["passed"]) for c in checks] == [
        ("rtt_ms.p99<1000", True),
        ("closes.abnormal>=1", False),
    ]


def test_locusts_csv_holds_the_replies_read_while_the_users_stop(tmp_path: Path) -> None:
    """Locust rewrites its ``--csv`` files once a second and only closes them at the exit: the
    echo replies a slow target (0.4 s) sends while the users stop were missing from them (9 or
    12 of 15 requests on the code before). The files now hold what the final table and the
    summary hold."""
    prefix, out = tmp_path / "run", tmp_path / "summary.json"
    args = ("-u", "3", "-r", "3", "-t", "2s", "--csv", str(prefix), "--ws-summary", str(out))
    proc = locust(*args, "--ws-embedded-args", "--read-delay 0.4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads(out.read_text())
    rows = stats_rows(prefix)
    assert (
        rows["Aggregated"] == (s["locust"]["requests"], s["locust"]["failures"])
        and s["locust"]["requests"] > 3
    )
    assert rows["echo"][0] == s["rtt_ms"]["count"]
    assert rows["connect"][0] == s["sessions"]["opened"] == 3
    assert s["locust"]["failures"] == 0
    assert _rows(f"{prefix}_failures.csv") == []


def test_locusts_csv_and_json_outputs_agree(tmp_path: Path) -> None:
    """``--json`` and ``--json-file`` read Locust's rows without emptying them: before, the CSV
    written after them had 0 requests per row and the second JSON output was an empty list."""
    prefix = tmp_path / "run"
    args = ("-u", "2", "-r", "2", "-t", "2s", "--csv", str(prefix), "--json", "--json-file", str(prefix))
    proc = locust(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = printed_json(proc.stdout)
    saved = json.loads(Path(f"{prefix}.json").read_text())
    in_csv = {name: requests for name, (requests, _) in stats_rows(prefix).items()}
    assert {e["name"]: e["num_requests"] for e in saved} == {e["name"]: e["num_requests"] for e in printed}
    assert in_csv.pop("Aggregated") == sum(in_csv.values()) > in_csv["connect"] == 2
    assert in_csv == {e["name"]: e["num_requests"] for e in saved}
