"""Make Locust's own outputs (``--csv``, ``--json``, ``--html``) hold the run's final counts.

Locust's CSV writer rewrites ``<prefix>_stats.csv``, ``_failures.csv`` and ``_exceptions.csv``
once a second from a greenlet, and at the exit only closes them. Rows filed after its last pass
were missing from the files: replies and refusals read while the users stop (the close
handshake, a goodbye), up to a second of requests at the end. Measured on the echo scenario
with a target slow to answer (``--read-delay 0.4``, 3 users, 2 s): the summary and Locust's
console counted 15 requests, its ``_stats.csv`` 9 or 12. :func:`install` makes ``close_files``
write those three files a last time before closing them; by then the users have stopped
(Locust closes the files after ``runner.quit()`` and the ``quit`` event), so every row is in, a
master's workers' last reports too. The stats history (``_stats_history.csv``) is a time series
of the running state and gets no extra point.

Locust's ``--json`` and ``--json-file`` serialize the rows with ``get_stripped_report()``, which
empties every row as it reads it (it is the workers' periodic report, reused): the CSV files
written after it had no requests, and with both options the file was an empty list. They now
read the rows without emptying them, in the same format.

Locust writes ``--html`` when its main greenlet returns or is interrupted: on Ctrl-C that is
before the users have stopped (measured: 4 echo rows of 24), and on SIGTERM (``docker stop``,
``kill``, a CI job's timeout) it exits from the signal's handler without writing it at all.
:func:`write_html`, called at the ``quit`` event (after the users stopped), writes it with the
final rows whatever ended the run.
"""

from __future__ import annotations

import json
import os
from typing import Any

from locust import stats as locust_stats
from locust.html import get_html_report, process_html_filename
from locust.runners import WorkerRunner


def _write_final(writer: Any) -> None:
    """Rewrite the three whole-run files from the start, as Locust's writer does each second."""
    for handle, csv_writer, header, data_rows in (
        (writer.requests_csv_filehandle, writer.requests_csv_writer, writer.requests_csv_columns,
         writer._requests_data_rows),
        (writer.failures_csv_filehandle, writer.failures_csv_writer, writer.failures_columns,
         writer._failures_data_rows),
        (writer.exceptions_csv_filehandle, writer.exceptions_csv_writer, writer.exceptions_columns,
         writer._exceptions_data_rows),
    ):  # fmt: skip
        if not handle.closed:
            handle.seek(0)
            csv_writer.writerow(header)
            data_rows(csv_writer)
            handle.truncate()


def _serialized(stats: locust_stats.RequestStats) -> list[Any]:
    """Return Locust's JSON rows (``serialize_stats()``'s) without emptying them."""
    entries = stats.entries.values()
    return [entry.serialize() for entry in entries if entry.num_requests or entry.num_failures]


def print_stats_json(stats: locust_stats.RequestStats) -> None:
    """``--json``: as Locust's, the rows kept."""
    print(json.dumps(_serialized(stats), indent=4))


def save_stats_json(stats: locust_stats.RequestStats, filename: str) -> None:
    """``--json-file``: as Locust's, the rows kept."""
    with open(f"{filename}.json", "w") as file:
        json.dump(_serialized(stats), file, indent=4)


def install() -> None:
    """Patch Locust's CSV writer and JSON output once (importing the plugin calls this)."""
    cls: Any = locust_stats.StatsCSVFileWriter
    if getattr(cls.close_files, "_loadtest_wrapped", False):
        return
    close = cls.close_files

    def close_files(self: Any) -> None:
        # A worker has the files too (--processes, or the same --csv in its options): its rows are
        # only the part since its last report, the master's are the run's, so no last write there.
        if not isinstance(self.environment.runner, WorkerRunner):
            _write_final(self)
        close(self)

    close_files._loadtest_wrapped = True  # type: ignore[attr-defined]
    cls.close_files = close_files
    locust_stats.print_stats_json = print_stats_json
    locust_stats.save_stats_json = save_stats_json


def write_html(environment: Any) -> None:
    """Write Locust's ``--html`` report with the final rows (see the module docstring)."""
    options = environment.parsed_options
    if not getattr(options, "html_file", None) or isinstance(environment.runner, WorkerRunner):
        return  # a worker's rows are the part since its last report: the master writes the report
    process_html_filename(options)  # as Locust does: {u}, {r}, {t} in the name
    report = get_html_report(environment, show_download_link=False)
    if directory := os.path.dirname(options.html_file):
        os.makedirs(directory, exist_ok=True)
    with open(options.html_file, "w", encoding="utf-8") as file:
        file.write(report)
