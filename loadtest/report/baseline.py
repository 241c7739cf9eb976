"""Comparing a run with an earlier one (``--ws-baseline``) and failing on regressions (``--ws-regression``).

A rule is ``METRIC:+N%`` or ``METRIC:-N%``: the metric is any number of the summary, by the same
dotted paths as ``--ws-check`` (``rtt_ms.p99``, ``storms.max.fleet_back_s``...). ``+`` is for
metrics where higher is worse (latency, failures): the run fails when the metric grew by more
than N percent. ``-`` is for metrics where lower is worse (throughput, sessions held): it fails
when the metric dropped by more than N percent. From a baseline of 0, a ``+`` rule allows no
growth at all and a ``-`` rule always holds; a metric without data on either side fails its rule.

Without rules, a baseline still puts the usual numbers side by side (informational, never
failing). Summaries from different targets or locustfiles are compared anyway, with a warning.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import orjson

from loadtest.errors import ConfigError
from loadtest.report import checks

_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*:\s*([+-])\s*(\d+(?:\.\d+)?)\s*%\s*$")

#: Compared side by side when a baseline is given without rules.
DEFAULT_METRICS = (
    "rtt_ms.p50",
    "rtt_ms.p99",
    "connect_ms.p99",
    "sessions.peak_concurrent",
    "handshake_failures.total",
    "closes.abnormal_ratio",
    "throughput.messages_received_per_s",
    "locust.fail_ratio",
    "process.total.cpu_s",
)


@dataclass(frozen=True)
class Rule:
    """``METRIC:+N%`` (higher is worse) or ``METRIC:-N%`` (lower is worse)."""

    text: str
    metric: str
    worse_when_higher: bool
    limit_pct: float


def parse_rule(text: str) -> Rule:
    """Parse one ``--ws-regression`` rule and check its metric exists.

    Raises:
        ConfigError: not of the form ``METRIC:+N%`` / ``METRIC:-N%``, or an unknown metric.
    """
    match = _RULE.match(text)
    if match is None:
        raise ConfigError(
            f"--ws-regression {text!r} is not of the form METRIC:+N% (higher is worse) or METRIC:-N% "
            "(lower is worse), e.g. rtt_ms.p99:+20%"
        )
    metric, sign, limit = match.groups()
    try:
        checks.parse(f"{metric}<0")  # the same paths as --ws-check, with the same suggestions
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(f"--ws-check '{metric}<0'", f"--ws-regression {text!r}")) from None
    return Rule(text=text.strip(), metric=metric, worse_when_higher=sign == "+", limit_pct=float(limit))


def load(path: str) -> dict[str, Any]:
    """Read a summary written by ``--ws-summary``.

    Raises:
        ConfigError: the file is missing, not JSON, or not a run summary.
    """
    if not os.path.isfile(path):
        raise ConfigError(
            f"--ws-baseline {path!r} does not exist: give the --ws-summary file of an earlier run"
        )
    try:
        with open(path, "rb") as handle:
            document = orjson.loads(handle.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"--ws-baseline {path!r} is not readable JSON ({exc})") from None
    if not isinstance(document, dict) or not str(document.get("schema", "")).startswith("loadtest.summary/"):
        raise ConfigError(
            f"--ws-baseline {path!r} is not a loadtest run summary (no loadtest.summary schema)"
        )
    return document


def _value(summary: dict[str, Any], metric: str) -> float | None:
    try:
        value = checks.resolve(summary, metric)
    except (KeyError, IndexError, TypeError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _change_pct(base: float, now: float) -> float | None:
    if base == 0:
        return 0.0 if now == 0 else None
    return round((now - base) / abs(base) * 100.0, 2)


def _passed(rule: Rule, base: float | None, now: float | None) -> bool:
    if base is None or now is None:
        return False
    if rule.worse_when_higher:
        return now <= base + abs(base) * rule.limit_pct / 100.0
    return now >= base - abs(base) * rule.limit_pct / 100.0


def compare(
    baseline: dict[str, Any], now: dict[str, Any], rules: tuple[Rule, ...], path: str
) -> dict[str, Any]:
    """Return the summary's ``baseline`` section: every rule (or the default metrics) side by side."""
    compared = []
    if rules:
        for rule in rules:
            base, current = _value(baseline, rule.metric), _value(now, rule.metric)
            compared.append(
                {
                    "metric": rule.metric,
                    "rule": rule.text,
                    "baseline": base,
                    "now": current,
                    "change_pct": None if base is None or current is None else _change_pct(base, current),
                    "limit_pct": rule.limit_pct if rule.worse_when_higher else -rule.limit_pct,
                    "passed": _passed(rule, base, current),
                }
            )
    else:
        for metric in DEFAULT_METRICS:
            base, current = _value(baseline, metric), _value(now, metric)
            change = None if base is None or current is None else _change_pct(base, current)
            compared.append(
                {
                    "metric": metric,
                    "rule": "",
                    "baseline": base,
                    "now": current,
                    "change_pct": change,
                    "limit_pct": None,
                    "passed": None,
                }  # fmt: skip
            )
    return {
        "path": path,
        "target": baseline.get("target", ""),
        "started_at": (baseline.get("run") or {}).get("started_at"),
        "compared": compared,
        "warnings": _warnings(baseline, now),
        "passed": all(row["passed"] is not False for row in compared),
    }


def _warnings(baseline: dict[str, Any], now: dict[str, Any]) -> list[str]:
    warnings = []
    base_run, run = baseline.get("run") or {}, now.get("run") or {}
    both_embedded = base_run.get("embedded_target") and run.get("embedded_target")  # a new port each run
    if baseline.get("target") != now.get("target") and not both_embedded:
        warnings.append(
            f"the baseline ran against {baseline.get('target')!r}, this run against {now.get('target')!r}"
        )
    base_file = os.path.basename(str(base_run.get("locustfile", "")))
    this_file = os.path.basename(str(run.get("locustfile", "")))
    if base_file != this_file or base_run.get("user_classes") != run.get("user_classes"):
        warnings.append(
            f"the baseline ran {base_file or '?'} ({', '.join(base_run.get('user_classes') or []) or '?'}), "
            f"this run {this_file or '?'} ({', '.join(run.get('user_classes') or []) or '?'})"
        )
    if baseline.get("schema") != now.get("schema"):
        warnings.append(
            f"the baseline's summary schema is {baseline.get('schema')!r}, this run's {now.get('schema')!r}"
        )
    return warnings


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:g}"


def render(section: dict[str, Any]) -> str:
    """Return the comparison for the console: one line per metric, then the warnings."""
    lines = [f" baseline {section['path']}:"]
    for row in section["compared"]:
        change = "n/a" if row["change_pct"] is None else f"{row['change_pct']:+.1f}%"
        verdict = "    " if row["passed"] is None else ("PASS" if row["passed"] else "FAIL")
        limit = "" if row["limit_pct"] is None else f" (limit {row['limit_pct']:+g}%)"
        lines.append(
            f" {verdict}  {row['metric']:<36} {_number(row['baseline']):>12} -> {_number(row['now']):<12} "
            f"{change}{limit}"
        )
    lines += [f" warning: {warning}" for warning in section["warnings"]]
    return "\n".join(lines)


def verdicts(section: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the rules as check verdicts (for JUnit), one per rule."""
    return [
        {
            "name": f"{row['rule']} vs baseline",
            "metric": row["metric"],
            "op": "<=" if row["limit_pct"] >= 0 else ">=",
            "value": row["change_pct"],
            "limit": row["limit_pct"],
            "passed": row["passed"],
        }
        for row in section["compared"]
        if row["passed"] is not None
    ]
