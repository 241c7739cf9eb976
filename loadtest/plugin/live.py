"""What the web UI shows while a run goes on: the summary so far, its tables and the series."""

from __future__ import annotations

from typing import Any

from loadtest.plugin import run
from loadtest.plugin.state import state_for
from loadtest.report.tables import all_tables, session_row


def snapshot(environment: Any) -> dict[str, Any]:
    """Return ``{summary, tables, sessions, series, checks, state, finished}`` for this runner.

    On a local or master runner. Totals lag by at most one sample interval (and on a master by
    one worker report interval); once the run stopped, its final summary is returned and
    ``state`` is ``stopped`` (``finished`` true); before the first test it is ``idle``.
    """
    state = state_for(environment)
    result = state.result if state.result is not None else run.build_summary(environment)
    return {
        "summary": result,
        "tables": all_tables(result),
        "sessions": session_row(result, connected_now=state.aggregate.total.concurrent),
        "series": list(state.aggregate.series),
        "checks": result.get("checks", [{"name": c.text, "passed": None} for c in state.settings.checks]),
        "state": state.phase,
        "finished": state.finished,
    }
