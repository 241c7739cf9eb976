"""The troubleshooting guide as checks on one endpoint, in the order a person would walk them.

Every check has a status (``ok``, ``warn``, ``fail``, ``skip``), what it saw, and the guide's hint
(``../shared/TROUBLESHOOTING-MAP.md``): the URL, the name, the port, TLS and the certificate,
the upgrade (101, ``Upgrade``/``Connection``, ``Sec-WebSocket-Accept``, subprotocol and
extensions), authentication, Origin enforcement, a protocol ping, a message, and the closing
handshake. A failure of the URL, the name, the port, TLS or the upgrade stops the list: nothing
after it could work.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from loadtest.config import SessionOptions, redact_url, validate_target_url
from loadtest.doctor import probe
from loadtest.errors import ConnectionEnded, HandshakeFailure, TargetURLError
from loadtest.frames import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, ProtocolViolation, parse_close
from loadtest.metrics import close_codes
from loadtest.metrics.handshake import HANDSHAKE_HINTS, hint, http_class

#: A certificate expiring within this many days is a warning.
EXPIRY_WARN_DAYS = 14
#: The Origin a browser page of another site would send.
FOREIGN_ORIGIN = "https://doctor.invalid"


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: str  # ok, warn, fail, skip
    detail: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class Stop(Exception):
    """A blocking failure: the remaining checks cannot run."""


class Doctor:
    """Walk the checks for one URL with the options a load test would use."""

    def __init__(
        self, url: str, options: SessionOptions, *, timeout_s: float = 5.0, message: str = ""
    ) -> None:
        self.url = url
        self.options = options
        self.timeout_s = timeout_s
        self.message = message or orjson.dumps({"type": "ping", "id": 1}).decode()
        self.checks: list[Check] = []
        self.target: probe.Target | None = None
        self.address = ""

    def add(self, name: str, status: str, detail: str, hint_text: str = "") -> Check:
        check = Check(name, status, detail, hint_text)
        self.checks.append(check)
        return check

    def fail(self, name: str, detail: str, hint_text: str) -> Stop:
        self.add(name, "fail", detail, hint_text)
        return Stop(name)

    def run(self) -> list[Check]:
        """Run every check until the first blocking failure; return them all."""
        try:
            self._url()
            self._dns()
            channel, answer = self.open_session(origin=None, record=True)
        except Stop:
            return self.checks
        self._auth(channel)
        self._ping(channel)
        self._message(channel)
        self._close(channel)
        self._origin()
        return self.checks

    # -- the blocking steps ------------------------------------------------------------------------
    def _url(self) -> None:
        url = self.url.strip()
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme in ("http", "https"):
            fixed = ("wss" if scheme == "https" else "ws") + url[len(scheme) :]
            self.add(
                "url",
                "warn",
                f"{redact_url(url)} is an {scheme}:// URL; checking {redact_url(fixed)}",
                "WebSocket URLs start with ws:// or wss:// (new WebSocket() rejects http(s)://)",
            )
            url = fixed
        try:
            validate_target_url(url)
        except TargetURLError as exc:
            raise self.fail("url", str(exc), "use the corrected form") from None
        self.url = url
        self.target = probe.Target.of(url)
        if scheme not in ("http", "https"):
            self.add("url", "ok", redact_url(url))

    def _dns(self) -> None:
        assert self.target is not None
        try:
            addresses, ms = probe.resolve(self.target, self.timeout_s)
        except socket.gaierror as exc:
            raise self.fail(
                "dns", f"{self.target.host} does not resolve ({exc.strerror})", HANDSHAKE_HINTS["dns"]
            ) from None
        self.address = addresses[0]
        numeric = addresses == [self.target.host]
        detail = "a numeric address: no lookup" if numeric else f"{', '.join(addresses[:4])} in {ms} ms"
        self.add("dns", "ok", detail)

    def open_session(self, *, origin: str | None, record: bool) -> tuple[probe.Channel, probe.Answer]:
        """Open a session (TCP, TLS, upgrade); with ``record`` every step is a check.

        Raises:
            Stop: a step failed (recorded as a failed check only with ``record``); its text is
                the HTTP status when the upgrade was answered with one.
        """
        assert self.target is not None
        target, options = self.target, self.options

        def failed(name: str, detail: str, hint_text: str, status: int = 0) -> Stop:
            return self.fail(name, detail, hint_text) if record else Stop(str(status or name))

        try:
            sock, tcp_ms = probe.connect_tcp(self.address, target.port, self.timeout_s)
        except OSError as exc:
            failure = _classify(exc)
            raise failed(
                "tcp", f"{self.address}:{target.port}: {failure.detail}", hint(failure.failure_class)
            ) from None
        if record:
            self.add("tcp", "ok", f"connected to {self.address}:{target.port} in {tcp_ms} ms")
        if target.secure:
            try:
                sock, info, tls_ms = probe.wrap_tls(sock, target, options)
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                failure = _classify(exc)
                raise failed("tls", failure.detail, hint(failure.failure_class)) from None
            if record:
                self._certificate(info, tls_ms)
        elif record:
            self.add("tls", "skip", "ws:// (no TLS)")
        try:
            answer = probe.upgrade(sock, target, options, origin=origin, timeout_s=self.timeout_s)
        except (HandshakeFailure, OSError) as exc:
            sock.close()
            refused = exc if isinstance(exc, HandshakeFailure) else _classify(exc)
            raise failed("upgrade", refused.detail, hint(refused.failure_class)) from None
        if answer.status != 101:
            sock.close()
            raise failed("upgrade", _refusal(answer), hint(http_class(answer.status)), answer.status)
        problem = _upgrade_problem(answer)
        if problem:
            sock.close()
            raise failed("upgrade", problem, HANDSHAKE_HINTS["protocol"])
        if record:
            chosen = answer.headers.get("sec-websocket-protocol", "") or "none"
            extensions = answer.headers.get("sec-websocket-extensions", "") or "none"
            detail = f"101 Switching Protocols in {answer.upgrade_ms} ms; subprotocol {chosen}"
            detail += f"; extensions {extensions}"
            self.add("upgrade", "ok", detail)
        return probe.Channel(sock, answer.body, options.max_message_bytes), answer

    def _certificate(self, info: dict[str, Any], tls_ms: float) -> None:
        names = ", ".join(info.get("names", [])[:4]) or "no names checked (--ws-insecure)"
        detail = f"{info.get('version')} in {tls_ms} ms; certificate for {names}"
        days = info.get("days_left")
        if days is None:
            self.add(
                "tls",
                "ok" if not self.options.insecure else "warn",
                detail,
                "" if not self.options.insecure else "verification is off (--ws-insecure)",
            )
        elif days < EXPIRY_WARN_DAYS:
            self.add(
                "tls",
                "warn",
                f"{detail}; expires in {days:g} days ({info.get('not_after')})",
                "renew the certificate before it expires",
            )
        else:
            self.add("tls", "ok", f"{detail}; valid for {days:g} more days")

    # -- the checks that do not block -----------------------------------------------------------------
    def _auth(self, channel: probe.Channel) -> None:
        if not (self.options.token and self.options.token_mode == "message"):
            return
        channel.send(OP_TEXT, orjson.dumps({"type": "auth", "token": self.options.token}))
        reply = _next_json(channel, self.timeout_s, "auth_result")
        if reply is None:
            self.add(
                "auth", "warn", f"no auth_result within {self.timeout_s:g} s", "check the auth message format"
            )
        elif reply.get("ok") is True:
            self.add("auth", "ok", "the auth message was accepted")
        else:
            self.add(
                "auth",
                "fail",
                "the server refused the auth message",
                "credentials missing or wrong: check the token",
            )

    def _ping(self, channel: probe.Channel) -> None:
        started = time.perf_counter()
        try:
            channel.send(OP_PING, b"doctor")
            while True:
                message = channel.recv(self.timeout_s - (time.perf_counter() - started))
                if message is None:
                    self.add(
                        "ping",
                        "warn",
                        f"no pong within {self.timeout_s:g} s",
                        "the server or a proxy does not answer protocol pings: use app-level heartbeats",
                    )
                    return
                if message[0] == OP_PONG and message[1] == b"doctor":
                    self.add("ping", "ok", f"pong in {probe.ms_since(started)} ms")
                    return
        except (ConnectionEnded, ProtocolViolation) as exc:
            self.add(
                "ping",
                "fail",
                f"the session ended while waiting for the pong ({exc})",
                close_codes.hint(1006),
            )

    def _message(self, channel: probe.Channel) -> None:
        started = time.perf_counter()
        try:
            channel.send(OP_TEXT, self.message.encode())
            while True:
                message = channel.recv(self.timeout_s - (time.perf_counter() - started))
                if message is None:
                    self.add(
                        "message",
                        "warn",
                        f"no answer to {self.message[:60]!r} within {self.timeout_s:g} s",
                        "a server that only pushes never answers: give the message it expects with --message",
                    )
                    return
                if message[0] in (OP_TEXT, 0x2):
                    shown = message[1][:80].decode("utf-8", "replace")
                    self.add("message", "ok", f"an answer in {probe.ms_since(started)} ms: {shown!r}")
                    return
                if message[0] == OP_CLOSE:
                    code, reason = parse_close(message[1])
                    self.add(
                        "message",
                        "fail",
                        f"the server closed with {code} ({close_codes.meaning(code)}) {reason!r}",
                        close_codes.hint(code),
                    )
                    return
        except (ConnectionEnded, ProtocolViolation) as exc:
            self.add(
                "message", "fail", f"the session ended after the message ({exc})", close_codes.hint(1006)
            )

    def _close(self, channel: probe.Channel) -> None:
        started = time.perf_counter()
        try:
            channel.send(OP_CLOSE, (1000).to_bytes(2, "big"))
            while True:
                message = channel.recv(self.timeout_s - (time.perf_counter() - started))
                if message is None:
                    self.add(
                        "close",
                        "warn",
                        f"our close was not answered within {self.timeout_s:g} s",
                        "the server does not complete the closing handshake",
                    )
                    return
                if message[0] == OP_CLOSE:
                    code, _ = parse_close(message[1])
                    status = "ok" if code == 1000 else "warn"
                    self.add(
                        "close",
                        status,
                        f"the server answered our 1000 with {code} in {probe.ms_since(started)} ms",
                        "" if code == 1000 else "a server should echo the client's close code",
                    )
                    return
        except ConnectionEnded:
            self.add(
                "close",
                "warn",
                "the server hung up without answering our close frame (1006)",
                close_codes.hint(1006),
            )
        except ProtocolViolation as exc:
            self.add(
                "close", "fail", f"a protocol violation while closing: {exc}", close_codes.hint(exc.code)
            )
        finally:
            channel.close()

    def _origin(self) -> None:
        try:
            foreign = self._try_origin(FOREIGN_ORIGIN)
            none = self._try_origin(probe.NO_ORIGIN)
        except Stop:
            self.add("origin", "skip", "the second handshake failed (see above)")
            return
        if foreign == 101:
            self.add(
                "origin",
                "warn",
                f"a foreign Origin ({FOREIGN_ORIGIN}) is accepted; without Origin: {none}",
                "no Origin check: any web page can open sessions (cross-site WebSocket hijacking)",
            )
        else:
            self.add(
                "origin",
                "ok",
                f"the server checks Origin: a foreign one gets {foreign}; without Origin: {none}",
                "a load test must send an allowed Origin (--ws-origin)",
            )

    def _try_origin(self, origin: str) -> int:
        try:
            channel, _ = self.open_session(origin=origin, record=False)
        except Stop as stop:
            if str(stop).isdigit():
                return int(str(stop))
            raise
        channel.close()
        return 101


def _classify(exc: BaseException) -> HandshakeFailure:
    from loadtest.transport import classify  # the load test's own classes and wording

    if isinstance(exc, (TimeoutError, socket.timeout)):
        return HandshakeFailure("timeout", "no answer within the timeout")
    return classify(exc)


def _refusal(answer: probe.Answer) -> str:
    kind = answer.headers.get("content-type", "")
    detail = f"HTTP {answer.status} {answer.reason} instead of 101"
    if answer.status == 200 and "html" in kind:
        return f"{detail}: a web page answers here, not a WebSocket endpoint (or a proxy does not upgrade)"
    if answer.status == 426:
        return f"{detail}: Upgrade Required (a proxy spoke HTTP/1.0 or dropped the Upgrade header)"
    return detail + (f" ({kind})" if kind else "")


def _upgrade_problem(answer: probe.Answer) -> str:
    for name, want in (("upgrade", "websocket"), ("connection", "upgrade")):
        if want not in [v.strip().lower() for v in answer.headers.get(name, "").split(",")]:
            return f"101 without '{name.title()}: {want}': the proxy is not upgrading"
    if not answer.accept_ok():
        return "wrong Sec-WebSocket-Accept: not a WebSocket server, or a proxy rewrote the handshake"
    chosen = answer.headers.get("sec-websocket-protocol", "").strip()
    if chosen and chosen not in answer.offered:
        return f"the server chose subprotocol {chosen!r}, which we did not offer"
    if answer.offered and not chosen:
        return f"the server chose none of the subprotocols offered ({', '.join(answer.offered)})"
    extensions = answer.headers.get("sec-websocket-extensions", "").strip()
    if extensions:
        return f"the server turned on an extension we did not offer ({extensions}): RFC 6455 §4.1 fails it"
    return ""


def _next_json(channel: probe.Channel, timeout_s: float, kind: str) -> dict[str, Any] | None:
    started = time.perf_counter()
    while True:
        message = channel.recv(timeout_s - (time.perf_counter() - started))
        if message is None:
            return None
        if message[0] == OP_TEXT:
            try:
                value = orjson.loads(message[1])
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict) and value.get("type") == kind:
                return value
