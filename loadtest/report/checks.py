"""Pass conditions on the run summary (``--ws-check``), their verdicts and JUnit XML.

A check is ``<metric> <op> <number>``, where the metric is a dotted path into the summary:
``rtt_ms.p99<250``, ``closes.abnormal==0``, ``handshake_failures.total<10``,
``closes.server.1011<=5``. Paths are checked against the summary's shape at start-up, so a typo
is an error before the run, never a silent pass. Inside the maps keyed by code or class
(``closes.server``, ``closes.client``, ``closes.abnormal_reasons``, ``handshake_failures``) a key
that did not occur is 0. A metric with no data (an empty histogram) fails its check.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from loadtest.errors import ConfigError

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_PATTERN = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$"
)
#: Maps whose keys are codes or classes: a key that did not occur reads as 0.
OPEN_MAPS = ("closes.server", "closes.client", "closes.abnormal_reasons", "handshake_failures")


@dataclass(frozen=True)
class Check:
    """One parsed condition."""

    text: str
    metric: str
    op: str
    limit: float

    def verdict(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Return ``{name, metric, op, value, limit, passed}`` for ``summary``."""
        value = resolve(summary, self.metric)
        passed = isinstance(value, (int, float)) and _OPS[self.op](float(value), self.limit)
        return {
            "name": self.text,
            "metric": self.metric,
            "op": self.op,
            "value": value,
            "limit": self.limit,
            "passed": bool(passed),
        }


def resolve(summary: dict[str, Any], metric: str) -> Any:
    """Return the value at a dotted path (0 for an absent key of an open map)."""
    node: Any = summary
    walked: list[str] = []
    for part in metric.split("."):
        if not isinstance(node, dict):
            raise KeyError(metric)
        if part in node:
            node = node[part]
        elif ".".join(walked) in OPEN_MAPS:
            return 0
        else:
            raise KeyError(metric)
        walked.append(part)
    return node


def _leaves(node: Any, prefix: str = "") -> list[str]:
    if not isinstance(node, dict) or prefix in OPEN_MAPS:
        return [prefix] if prefix else []
    return [
        leaf for key, value in node.items() for leaf in _leaves(value, f"{prefix}.{key}" if prefix else key)
    ]


def parse(text: str, template: dict[str, Any]) -> Check:
    """Parse one check and make sure its metric exists in a summary shaped like ``template``.

    Raises:
        ConfigError: not of the form ``metric<op>number``, or an unknown metric.
    """
    match = _PATTERN.match(text)
    if match is None:
        raise ConfigError(
            f"--ws-check {text!r} is not of the form METRIC OP NUMBER (OP one of < <= > >= == !=), "
            "e.g. rtt_ms.p99<250"
        )
    metric, op, limit = match.group(1), match.group(2), float(match.group(3))
    if not _is_number_slot(template, metric):
        close = [leaf for leaf in _leaves(template) if leaf.split(".")[0] == metric.split(".")[0]]
        suggestion = f"; known under {metric.split('.')[0]!r}: {', '.join(close[:12])}" if close else ""
        raise ConfigError(f"--ws-check {text!r} names an unknown metric {metric!r}{suggestion}")
    return Check(text=text.strip(), metric=metric, op=op, limit=limit)


def _is_number_slot(template: dict[str, Any], metric: str) -> bool:
    """Return True when the path exists and holds a number, or None (a histogram with no data yet)."""
    try:
        value = resolve(template, metric)
    except KeyError:
        return False
    return value is None or isinstance(value, (int, float))


def evaluate(checks: list[Check], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the verdict of every check."""
    return [check.verdict(summary) for check in checks]


def render(verdicts: list[dict[str, Any]]) -> str:
    """Return one line per check: value, limit and verdict."""
    lines = []
    for v in verdicts:
        value = "no data" if v["value"] is None else f"{v['value']:g}"
        verdict = "PASS" if v["passed"] else "FAIL"
        lines.append(f" {verdict}  {v['name']:<40} value {value} (limit {v['op']} {v['limit']:g})")
    return "\n".join(lines)


def junit(verdicts: list[dict[str, Any]], *, duration_s: float) -> str:
    """Return the checks as a JUnit XML test suite."""
    failures = sum(not v["passed"] for v in verdicts)
    cases = []
    for v in verdicts:
        body = ""
        if not v["passed"]:
            value = "no data" if v["value"] is None else f"{v['value']:g}"
            message = f"{v['metric']} is {value}, expected {v['op']} {v['limit']:g}"
            body = f"<failure message={quoteattr(message)}>{escape(message)}</failure>"
        cases.append(
            f'  <testcase classname="loadtest.checks" name={quoteattr(v["name"])} time="0">{body}</testcase>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="loadtest.checks" tests="{len(verdicts)}" failures="{failures}" errors="0" '
        f'time="{duration_s:.3f}">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )
