"""Pass conditions on the run summary (``--ws-check``), their verdicts and JUnit XML.

A check is ``<metric> <op> <number>``, where the metric is a dotted path to any number of the
summary: ``rtt_ms.p99<250``, ``closes.abnormal==0``, ``closes.server.1011<=5``,
``locust.fail_ratio<0.01``, ``process.total.cpu_s<60``. Inside a list, a path step is an index
(``storms.0.fleet_back_s``, also ``first`` and ``last``) or an aggregate over the elements:
``storms.max.fleet_back_s``, ``storms.sum.dropped``, ``storms.min...``, ``storms.avg...``, and
``storms.count`` for the number of elements. Paths are checked against the summary's shape
(:data:`SCHEMA`) before the run, so a typo is an error with the nearest valid paths, never a
silent pass. Inside the maps keyed by code or class (:data:`OPEN_MAPS`) a key that did not occur
is 0. A metric with no data (an empty histogram, a list with no such element) fails its check.
"""

from __future__ import annotations

import difflib
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
#: Path steps that fold a list into one number.
AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "min": min,
    "max": max,
    "sum": sum,
    "avg": lambda values: sum(values) / len(values),
}
_POSITIONS = {"first": 0, "last": -1}


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
        passed = _is_number(value) and _OPS[self.op](float(value), self.limit)
        return {
            "name": self.text,
            "metric": self.metric,
            "op": self.op,
            "value": value,
            "limit": self.limit,
            "passed": bool(passed),
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def resolve(summary: Any, metric: str) -> Any:
    """Return the value at a dotted path (0 for an absent key of an open map, None for no data).

    Raises:
        KeyError: the path does not exist in a summary of this shape.
    """
    return _walk(summary, metric.split("."), "")


def _walk(node: Any, parts: list[str], walked: str) -> Any:
    if not parts:
        return node
    part, rest = parts[0], parts[1:]
    here = f"{walked}.{part}" if walked else part
    if isinstance(node, dict):
        if part in node:
            return _walk(node[part], rest, here)
        if walked in OPEN_MAPS and not rest:
            return 0
        raise KeyError(here)
    if isinstance(node, list):
        if part == "count" and not rest:
            return len(node)
        if part in AGGREGATES:
            values = [v for item in node if _is_number(v := _walk(item, rest, here))]
            return AGGREGATES[part](values) if values else None
        index = _POSITIONS.get(part, int(part) if part.isdigit() else None)
        if index is None:
            raise KeyError(here)
        return _walk(node[index], rest, here) if -len(node) <= index < len(node) else None
    raise KeyError(here)


def _valid_paths(node: Any, prefix: str = "") -> list[str]:
    """Return every path to a number in a summary shaped like ``node`` (lists as in the grammar)."""
    join = (lambda key: f"{prefix}.{key}") if prefix else (lambda key: key)
    if isinstance(node, dict):
        if prefix in OPEN_MAPS:
            return [join("<key>")]
        return [path for key, value in node.items() for path in _valid_paths(value, join(str(key)))]
    if isinstance(node, list):
        element = node[0] if node else {}
        paths = [join("count")]
        for step in ("0", "max", "sum"):
            paths += _valid_paths(element, join(step))
        return paths
    return [prefix] if (node is None or _is_number(node)) and prefix else []


def _schema() -> dict[str, Any]:
    from loadtest.report import summary  # here: summary imports this module's users only

    return summary.schema()


def parse(text: str, schema: dict[str, Any] | None = None) -> Check:
    """Parse one check and make sure its metric exists in a summary of :func:`summary.schema` shape.

    Raises:
        ConfigError: not of the form ``metric<op>number``, or an unknown metric (with the
            nearest valid paths).
    """
    match = _PATTERN.match(text)
    if match is None:
        raise ConfigError(
            f"--ws-check {text!r} is not of the form METRIC OP NUMBER (OP one of < <= > >= == !=), "
            "e.g. rtt_ms.p99<250"
        )
    metric, op, limit = match.group(1), match.group(2), float(match.group(3))
    template = _schema() if schema is None else schema
    try:
        value = resolve(template, metric)
    except KeyError:
        value = "missing"
    if not (value is None or _is_number(value)):
        paths = _valid_paths(template)
        near = difflib.get_close_matches(metric, paths, n=6, cutoff=0.6)
        if not near:
            near = [p for p in paths if p.split(".")[0] == metric.split(".")[0]][:8]
        hint = f"; nearest valid: {', '.join(near)}" if near else f"; sections: {', '.join(template)}"
        what = "is not a number" if value != "missing" else "is not in the summary"
        raise ConfigError(f"--ws-check {text!r}: {metric!r} {what}{hint}")
    return Check(text=text.strip(), metric=metric, op=op, limit=limit)


def evaluate(checks: tuple[Check, ...] | list[Check], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the verdict of every check."""
    return [check.verdict(summary) for check in checks]


def _value_text(value: Any) -> str:
    return "no data" if value is None else f"{value:g}"


def render(verdicts: list[dict[str, Any]]) -> str:
    """Return one line per check: value, limit and verdict."""
    lines = []
    for v in verdicts:
        verdict = "PASS" if v["passed"] else "FAIL"
        lines.append(
            f" {verdict}  {v['name']:<40} value {_value_text(v['value'])} (limit {v['op']} {v['limit']:g})"
        )
    return "\n".join(lines)


def junit(verdicts: list[dict[str, Any]], *, duration_s: float) -> str:
    """Return the checks as a JUnit XML test suite."""
    failures = sum(not v["passed"] for v in verdicts)
    cases = []
    for v in verdicts:
        body = ""
        if not v["passed"]:
            message = f"{v['metric']} is {_value_text(v['value'])}, expected {v['op']} {v['limit']:g}"
            body = f"<failure message={quoteattr(message)}>{escape(message)}</failure>"
        cases.append(
            f'  <testcase classname="loadtest.checks" name={quoteattr(v["name"])} time="0">{body}</testcase>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="loadtest.checks" tests="{len(verdicts)}" failures="{failures}" errors="0" '
        f'time="{duration_s:.3f}">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )
