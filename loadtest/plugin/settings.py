"""What one run uses, built from Locust's parsed options and checked before any user starts.

:func:`from_parsed` is called at start-up (a bad value stops the process with exit code 2), on
every test start (so the web UI form and, on workers, the master's options apply) and when the
web UI form is submitted (a bad value is refused with the same sentence). Every check that can
fail later, mid-run or at the very end, is made here instead: TLS files are loaded, and output
folders are created and probed for writing, so a typo costs a second, not a finished soak.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from loadtest import option_values
from loadtest.config import SessionOptions, check_tls_files
from loadtest.errors import ConfigError
from loadtest.metrics.backoff import Backoff
from loadtest.plugin.scale import SourceIPs
from loadtest.protocols import config as protocol_options
from loadtest.report import baseline, checks
from loadtest.report.baseline import Rule


@dataclass(frozen=True)
class RunSettings:
    """The validated ``--ws-*`` values of one run."""

    session_options: SessionOptions = field(default_factory=SessionOptions)
    backoff: Backoff = field(default_factory=Backoff)
    source_ips: SourceIPs = field(default_factory=SourceIPs)
    checks: tuple[checks.Check, ...] = ()
    summary_path: str = ""
    report_path: str = ""
    junit_path: str = ""
    csv_prefix: str = ""
    sample_interval_s: float = 2.0
    baseline_path: str = ""
    baseline: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    regressions: tuple[Rule, ...] = ()
    request_events: bool = False  # one Locust request event per request instead of batched rows
    sessions_per_user: int = 1  # unless a user class says otherwise (its sessions_per_user)


def from_parsed(parsed: Any, *, outputs: bool = True) -> RunSettings:
    """Return the settings of ``parsed`` (Locust's options), or raise one clear sentence.

    Args:
        parsed: Locust's parsed options, with the ``--ws-*`` options.
        outputs: check the output paths (False on a worker, which writes none).

    Raises:
        ConfigError: the first unusable value, saying how to fix it.
    """
    session = option_values.session_options(parsed)
    check_tls_files(session)
    if getattr(parsed, "ws_har_speed", 1.0) < 0:
        raise ConfigError("--ws-har-speed must be 0 (no waits) or a positive factor, e.g. 2: twice as fast")
    _check_fanout(parsed)
    protocol_options.check(parsed)
    settings = RunSettings(
        session_options=session,
        backoff=option_values.backoff(parsed),
        source_ips=SourceIPs.parse(parsed.ws_source_ips),
        checks=tuple(checks.parse(text) for text in parsed.ws_check if text.strip()),
        summary_path=parsed.ws_summary,
        report_path=parsed.ws_report,
        junit_path=parsed.ws_junit,
        csv_prefix=getattr(parsed, "csv_prefix", None) or "",
        sample_interval_s=option_values.positive(parsed.ws_sample_interval, "--ws-sample-interval"),
        baseline_path=parsed.ws_baseline,
        baseline=baseline.load(parsed.ws_baseline) if parsed.ws_baseline else None,
        regressions=tuple(baseline.parse_rule(text) for text in parsed.ws_regression if text.strip()),
        request_events=bool(getattr(parsed, "ws_request_events", False)),
        sessions_per_user=_sessions_per_user(parsed),
    )
    if settings.regressions and not settings.baseline_path:
        raise ConfigError("--ws-regression compares with a baseline: give --ws-baseline PREVIOUS.json too")
    if outputs:
        for flag, path in (
            ("--ws-summary", settings.summary_path),
            ("--ws-report", settings.report_path),
            ("--ws-junit", settings.junit_path),
            ("--csv", f"{settings.csv_prefix}_ws_history.csv" if settings.csv_prefix else ""),
        ):
            if path:
                check_writable(path, flag)
    return settings


def _check_fanout(parsed: Any) -> None:
    """Refuse fan-out values that cannot work (the defaults pass; options absent in-process too)."""
    if getattr(parsed, "ws_topics", 1) < 1:
        raise ConfigError("--ws-topics must be 1 or more")
    if getattr(parsed, "ws_publishers", 1) < 1:  # 0 would be Locust's "no fixed count": spawn by weight
        raise ConfigError("--ws-publishers must be 1 or more")
    if getattr(parsed, "ws_publish_rate", 10.0) <= 0:
        raise ConfigError("--ws-publish-rate must be a positive number of messages per second")
    if getattr(parsed, "ws_publish_size", 128) < 0:
        raise ConfigError("--ws-publish-size must be 0 or more bytes")
    for flag in ("--ws-subscribe-settle", "--ws-fanout-grace"):
        if getattr(parsed, flag[2:].replace("-", "_"), 0.0) < 0:
            raise ConfigError(f"{flag} must be 0 or more seconds")


def check_writable(path: str, flag: str) -> None:
    """Make sure ``path`` can be written at the end of the run (its folder is created now).

    Raises:
        ConfigError: the folder cannot be created, is not writable, or the path is a folder.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ConfigError(
            f"{flag} {path!r} is a folder: give a file name, e.g. {os.path.join(path, 'run.json')}"
        )
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{flag} {path!r}: its folder cannot be created ({exc.strerror}): pick another path"
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ConfigError(
            f"{flag} {path!r} is not writable by this user: pick another path or fix its permissions"
        )


def _sessions_per_user(parsed: Any) -> int:
    count = int(getattr(parsed, "ws_sessions_per_user", 1))
    if count < 1:
        raise ConfigError(f"--ws-sessions-per-user must be 1 or more (sessions each user holds), not {count}")
    return count
