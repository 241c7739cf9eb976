"""``loadtest doctor``: real endpoints on loopback, each broken one way, and what the doctor says."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtest.server.process import EmbeddedServer
from tests.certs import make_chain
from tests.nginx import NGINX
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
LOADTEST = str(Path(sys.executable).parent / "loadtest")


def doctor(
    url: str, *args: str, timeout_s: float = 60
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    proc = subprocess.run(
        [LOADTEST, "doctor", url, "--json", "--timeout", "2", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.startswith("{") else {}, proc


def status(result: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in result["checks"]}


def detail(result: dict[str, Any], name: str) -> str:
    return next(c["detail"] + " | " + c["hint"] for c in result["checks"] if c["name"] == name)


def test_a_healthy_endpoint_passes_every_step(serve) -> None:
    result, proc = doctor(serve().url + "/ws")
    assert proc.returncode == 0
    assert status(result) == {
        "url": "ok", "dns": "ok", "tcp": "ok", "tls": "skip", "upgrade": "ok", "ping": "ok",
        "message": "ok", "close": "ok", "origin": "warn",
    }  # fmt: skip
    assert "pong in" in detail(result, "ping") and '{"type":"pong","id":1}' in detail(result, "message")
    assert "answered our 1000 with 1000" in detail(result, "close")
    assert "no Origin check" in detail(result, "origin")


def test_origin_enforcement_and_the_token(serve) -> None:
    server = serve("--allowed-origin", "https://app.test", "--token", "s3cret")
    result, proc = doctor(server.url, "--ws-origin", "https://app.test", "--ws-token", "s3cret")
    assert proc.returncode == 0, result
    assert status(result)["origin"] == "ok"
    assert "a foreign one gets 403; without Origin: 403" in detail(result, "origin")
    refused, proc = doctor(server.url, "--ws-origin", "https://app.test")  # no token
    assert proc.returncode == 1 and status(refused)["upgrade"] == "fail"
    assert "HTTP 401" in detail(refused, "upgrade") and "check the token" in detail(refused, "upgrade")
    assert "ping" not in status(refused)  # a blocking failure stops the list


def test_the_auth_message(serve) -> None:
    server = serve("--token", "s3cret", "--auth-mode", "message")
    result, proc = doctor(server.url, "--ws-token", "s3cret", "--ws-token-mode", "message")
    assert proc.returncode == 0 and status(result)["auth"] == "ok"
    wrong, proc = doctor(server.url, "--ws-token", "nope", "--ws-token-mode", "message")
    assert proc.returncode == 1 and status(wrong)["auth"] == "fail"


@pytest.mark.parametrize(
    ("url", "failed", "words"),
    [
        ("ws://127.0.0.1:{closed}/", "tcp", "connection refused"),
        ("ws://doctor-nonexistent.invalid/", "dns", "does not resolve"),
        ("127.0.0.1:8765", "url", "has no scheme"),
    ],
)
def test_blocking_failures_stop_the_list(url: str, failed: str, words: str) -> None:
    result, proc = doctor(url.format(closed=free_port()))
    assert proc.returncode == 1
    names = [c["name"] for c in result["checks"]]
    assert names[-1] == failed and status(result)[failed] == "fail" and words in detail(result, failed)


def test_an_http_url_is_checked_as_ws_and_said(serve) -> None:
    server = serve()
    result, proc = doctor(server.url.replace("ws://", "http://"))
    assert proc.returncode == 0 and status(result)["url"] == "warn" and status(result)["upgrade"] == "ok"
    assert "is an http:// URL; checking ws://" in detail(result, "url")


@pytest.fixture
def web_page() -> Iterator[str]:
    """A plain HTTP server answering every GET with an HTML page (not a WebSocket endpoint)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = b"<html><body>hello</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"ws://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_a_web_page_is_named_as_such(web_page: str) -> None:
    result, proc = doctor(web_page)
    assert proc.returncode == 1 and status(result)["upgrade"] == "fail"
    assert "HTTP 200 OK instead of 101: a web page answers here, not a WebSocket endpoint" in detail(
        result, "upgrade"
    )
    assert "the proxy is not upgrading" in detail(result, "upgrade")  # the guide's hint for a 200


def test_tls_certificate_facts_and_failures(tmp_path: Path) -> None:
    chain = make_chain(tmp_path)
    args = ["--certfile", chain.server_cert, "--keyfile", chain.server_key]
    with EmbeddedServer(args) as server:
        result, proc = doctor(server.url, "--ws-ca-file", chain.ca)
        assert proc.returncode == 0, result
        tls = detail(result, "tls")
        assert status(result)["tls"] == "warn"  # the test certificate lives 2 days: renew soon
        assert "certificate for 127.0.0.1, localhost" in tls and "expires in" in tls
        unknown, proc = doctor(server.url)  # without our CA: verification fails, said so
        assert proc.returncode == 1 and status(unknown)["tls"] == "fail"
        assert "certificate verification failed" in detail(unknown, "tls")
        plain, proc = doctor(server.url.replace("wss://", "ws://"))  # ws:// on a TLS port
        assert proc.returncode == 1 and status(plain)["upgrade"] == "fail"


def test_missing_tls_files_are_bad_input() -> None:
    _, proc = doctor("wss://127.0.0.1:1/", "--ws-ca-file", "/nonexistent/ca.pem")
    assert proc.returncode == 2 and "--ws-ca-file '/nonexistent/ca.pem' does not exist" in proc.stderr


def test_the_idle_timeout_of_the_target_and_what_keeps_a_session_alive(serve) -> None:
    server = serve("--idle-timeout", "2", "--idle-ignores-pings")
    result, proc = doctor(
        server.url, "--find-idle-timeout", "--max-idle", "20", "--keepalive-interval", "0.5"
    )
    assert proc.returncode == 0
    assert 1.9 <= result["idle_timeout_s"] <= 2.6, result["idle"]
    assert result["idle"]["keeps_alive"] == {"pings": False, "data": True}


def test_no_idle_timeout_within_the_limit(serve) -> None:
    result, proc = doctor(serve().url, "--find-idle-timeout", "--max-idle", "2")
    assert proc.returncode == 0 and result["idle_timeout_s"] is None and result["idle"]["keeps_alive"] is None


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (.ci/run installs it)")
def test_the_idle_timeout_behind_nginx(serve, nginx) -> None:
    server = serve()
    url = nginx(server.port, read_timeout="2s")
    result, proc = doctor(url, "--find-idle-timeout", "--max-idle", "20", "--keepalive-interval", "0.5")
    assert proc.returncode == 0, result
    assert 1.9 <= result["idle_timeout_s"] <= 2.6, result["idle"]
    assert result["idle"]["probes"]["silent"]["how"].startswith("no close frame")  # nginx just hangs up
    # nginx's proxy_read_timeout counts reads from the upstream: a pong or an echo is one
    assert result["idle"]["keeps_alive"] == {"pings": True, "data": True}
