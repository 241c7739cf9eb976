"""Make Locust's ``--csv`` files hold the run's final counts.

Locust's CSV writer rewrites ``<prefix>_stats.csv``, ``_failures.csv`` and ``_exceptions.csv``
once a second from a greenlet, and at the exit only closes them. Rows filed after its last pass
were missing from the files: replies and refusals read while the users stop (the close
handshake, a goodbye), up to a second of requests at the end. Measured on the echo scenario
with a target slow to answer (``--read-delay 0.4``, 3 users, 2 s): the summary and Locust's
console counted 15 requests, its ``_stats.csv`` 9 or 12.

:func:`install` makes ``close_files`` write those three files a last time before closing them;
by then the users have stopped (Locust closes the files after ``runner.quit()`` and the ``quit``
event), so every row is in, a master's workers' last reports too. One catch: Locust's ``--json``
and ``--json-file`` serialize the rows with ``get_stripped_report()``, which empties every row
(it is the workers' report, reused), just before the files are closed. So the rows are taken
as they stand right before that, and that copy is what the last write holds. The stats history
(``_stats_history.csv``) is a time series of the running state and gets no extra point.
"""

from __future__ import annotations

import csv
import io
import weakref
from collections.abc import Callable
from typing import Any

from locust import stats

#: Every CSV writer of the process (Locust makes one), for the copy taken before ``--json``.
_WRITERS: weakref.WeakSet[Any] = weakref.WeakSet()


def _texts(writer: Any) -> list[str]:
    """Return the three whole-run files as they would be written now: header, then the rows."""
    texts = []
    for header, data_rows in (
        (writer.requests_csv_columns, writer._requests_data_rows),
        (writer.failures_columns, writer._failures_data_rows),
        (writer.exceptions_columns, writer._exceptions_data_rows),
    ):
        buffer = io.StringIO()
        csv_writer = csv.writer(buffer)
        csv_writer.writerow(header)
        data_rows(csv_writer)
        texts.append(buffer.getvalue())
    return texts


def _write_final(writer: Any) -> None:
    """Rewrite the three files from the start (the copy taken before ``--json``, if any)."""
    texts = getattr(writer, "_loadtest_final", None) or _texts(writer)
    handles = (
        writer.requests_csv_filehandle,
        writer.failures_csv_filehandle,
        writer.exceptions_csv_filehandle,
    )
    for handle, text in zip(handles, texts, strict=True):
        if not handle.closed:
            handle.seek(0)
            handle.write(text)
            handle.truncate()


def _before_json(serialize: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``print_stats_json`` / ``save_stats_json``: keep the rows they are about to empty."""

    def wrapped(request_stats: Any, *args: Any) -> Any:
        for writer in list(_WRITERS):
            if writer.environment.stats is request_stats and not hasattr(writer, "_loadtest_final"):
                writer._loadtest_final = _texts(writer)
        return serialize(request_stats, *args)

    wrapped._loadtest_wrapped = True  # type: ignore[attr-defined]
    return wrapped


def install() -> None:
    """Patch Locust's CSV writer and JSON output once (importing the plugin calls this)."""
    cls: Any = stats.StatsCSVFileWriter
    if getattr(cls.close_files, "_loadtest_wrapped", False):
        return
    init, close = cls.__init__, cls.close_files

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        _WRITERS.add(self)

    def close_files(self: Any) -> None:
        _write_final(self)
        close(self)

    close_files._loadtest_wrapped = True  # type: ignore[attr-defined]
    cls.__init__, cls.close_files = __init__, close_files
    stats.print_stats_json = _before_json(stats.print_stats_json)
    stats.save_stats_json = _before_json(stats.save_stats_json)
