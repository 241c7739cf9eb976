"""Make Locust's ``--csv`` files hold the run's final counts.

Locust's CSV writer rewrites ``<prefix>_stats.csv``, ``_failures.csv`` and ``_exceptions.csv``
once a second from a greenlet, and at the exit only closes them. Rows filed after its last pass
were missing from the files: replies and refusals read while the users stop (the close
handshake, a goodbye), up to a second of requests at the end. Measured on the echo scenario
with a target slow to answer (``--read-delay 0.4``, 3 users, 2 s): the summary and Locust's
console counted 15 requests, its ``_stats.csv`` 9 or 12.

:func:`install` makes ``close_files`` write those three files a last time before closing them;
by then the users have stopped (Locust closes the files after ``runner.quit()`` and the ``quit``
event), so every row is in. The stats history (``_stats_history.csv``) is a time series of the
running state and gets no extra point.
"""

from __future__ import annotations

from typing import Any

from locust import stats


def _write_final(writer: stats.StatsCSVFileWriter) -> None:
    """Rewrite the three whole-run files from the start: header, then the current rows."""
    w = writer
    files = (
        (w.requests_csv_filehandle, w.requests_csv_writer, w.requests_csv_columns, w._requests_data_rows),
        (w.failures_csv_filehandle, w.failures_csv_writer, w.failures_columns, w._failures_data_rows),
        (w.exceptions_csv_filehandle, w.exceptions_csv_writer, w.exceptions_columns, w._exceptions_data_rows),
    )
    for handle, csv_writer, header, data_rows in files:
        if handle.closed:
            continue
        handle.seek(0)
        csv_writer.writerow(header)
        data_rows(csv_writer)
        handle.truncate()


def install() -> None:
    """Patch ``StatsCSVFileWriter.close_files`` once (importing the plugin calls this)."""
    cls: Any = stats.StatsCSVFileWriter
    if getattr(cls.close_files, "_loadtest_final_write", False):
        return
    close = cls.close_files

    def close_files(self: stats.StatsCSVFileWriter) -> None:
        _write_final(self)
        close(self)

    close_files._loadtest_final_write = True  # type: ignore[attr-defined]
    cls.close_files = close_files
