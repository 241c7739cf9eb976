"""Secrets given to a run never come out of it: every output file, log line and web answer is read.

Each secret is a distinct random string given by one route a user would take: ``--ws-token``,
a credential header, a cookie, a secret query parameter of ``--host``, and the embedded
target's ``--token``. The run must still use them (the target requires the token), and no byte
of any of them may appear in what the run printed, wrote or served.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from loadtest.report.csv_files import TABLE_FIELDS
from tests.e2e.routes import form_fields
from tests.e2e.test_headless import locust
from tests.e2e.test_lifecycle import wait_for
from tests.integration.sessions import settled_stats
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ECHO = str(ROOT / "scenarios" / "echo.py")


def _secrets() -> dict[str, str]:
    return {
        name: f"S3CRET{name.upper()}{secrets.token_hex(6)}" for name in ("token", "header", "cookie", "sig")
    }


def _leaks(text: str, given: dict[str, str]) -> list[str]:
    return [name for name, value in given.items() if value in text]


def _files_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())


def test_no_secret_in_any_output_file_or_log_line(tmp_path: Path, serve) -> None:
    given = _secrets()
    server = serve("--token", given["token"])
    out = tmp_path / "out"
    proc = locust(
        *("-u", "2", "-r", "2", "-t", "3s", "--host", f"{server.url}/?sig={given['sig']}&x=1"),
        *("--ws-token", given["token"], "--ws-header", f"X-Api-Key: {given['header']}"),
        *("--ws-cookie", f"sid={given['cookie']}", "--ws-summary", str(out / "run.json")),
        *("--ws-report", str(out / "run.html"), "--ws-junit", str(out / "junit.xml")),
        *("--ws-check", "sessions.opened>=2", "--csv", str(out / "run"), "--html", str(out / "locust.html")),
        *("--loglevel", "DEBUG"),
        cwd=tmp_path,
        timeout_s=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert settled_stats(server)["sessions"]["opened"] == 2  # the token reached the target
    summary = json.loads((out / "run.json").read_text())
    assert summary["target"].endswith("/?sig=***&x=1")
    assert summary["run"]["options"]["ws_token"] == "***"
    assert summary["run"]["options"]["ws_header"] == ["X-Api-Key (set)"]
    assert (out / "locust.html").is_file()  # Locust's own report, written after ours
    assert len(list(out.iterdir())) >= 9  # summary, report, junit, 5 of ours and Locust's CSV files
    assert _leaks(proc.stdout + proc.stderr, given) == []
    assert _leaks(_files_text(out), given) == []


def test_the_embedded_targets_token_is_never_printed(tmp_path: Path) -> None:
    token = f"S3CRETEMBEDDED{secrets.token_hex(6)}"
    proc = locust(
        *("-u", "1", "-t", "2s", "--ws-embedded-args", f"--token {token} --verbose", "--ws-token", token),
        *("--ws-summary", str(tmp_path / "run.json")),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "with --token *** --verbose" in proc.stderr
    assert json.loads((tmp_path / "run.json").read_text())["sessions"]["opened"] == 1
    assert token not in proc.stdout + proc.stderr + _files_text(tmp_path)


def _get(base: str, path: str) -> str:
    with urllib.request.urlopen(base + path, timeout=10) as response:  # noqa: S310 (loopback)
        return str(response.read().decode(errors="replace"))


def test_the_web_ui_never_sends_a_secret_to_the_browser(tmp_path: Path, serve) -> None:
    given = _secrets()
    server = serve("--token", given["token"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            ECHO,
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(port),
            "--host",
            f"{server.url}/?sig={given['sig']}",
            "--ws-token",
            given["token"],
            "--ws-header",
            f"X-Api-Key: {given['header']}",
            "--ws-cookie",
            f"sid={given['cookie']}",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    answers: list[str] = []
    try:
        wait_for(lambda: _up(base), 30, "the web UI")
        page = _get(base, "/")
        token_field = form_fields(page)["ws_token"]
        assert token_field["default_value"] == "" and token_field["is_secret"] is True
        assert "A value is set" in token_field["help_text"]
        shown_host = json.loads(page.split("window.templateArgs = ", 1)[1].split("</script>")[0])["host"]
        assert shown_host.endswith("/?sig=***")
        # Start as a person would: the token field left empty, the host as the form shows it.
        form = {"user_count": "2", "spawn_rate": "2", "host": shown_host, "run_time": "2s", "ws_token": ""}
        urllib.request.urlopen(base + "/swarm", data=urllib.parse.urlencode(form).encode(), timeout=10)  # noqa: S310
        wait_for(lambda: json.loads(_get(base, "/ws/data"))["state"] == "stopped", 30, "the stop")
        data = json.loads(_get(base, "/ws/data"))
        assert data["summary"]["sessions"]["opened"] == 2  # the kept token and the real host were used
        paths = ["/", "/ws/", "/ws/data", "/stats/requests", "/stats/report", "/stats/requests/csv"]
        paths += [
            "/stats/failures/csv",
            "/exceptions",
            "/exceptions/csv",
            "/logs",
            "/tasks",
            "/ws/csv/history",
        ]
        paths += [f"/ws/csv/{name}" for name in TABLE_FIELDS]
        answers = [_get(base, path) for path in paths]
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert settled_stats(server)["sessions"]["opened"] == 2
    assert all(_leaks(answer, given) == [] for answer in answers), [_leaks(a, given) for a in answers]
    assert _leaks(output, given) == []


def _up(base: str) -> bool:
    try:
        _get(base, "/")
    except OSError:
        return False
    return True
