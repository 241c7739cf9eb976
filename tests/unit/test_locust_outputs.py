"""Locust's CSV writer as locust_outputs patches it: a last write at close, none on a worker."""

from __future__ import annotations

from pathlib import Path

from locust import stats as locust_stats
from locust.env import Environment
from locust.runners import WorkerRunner

import loadtest.plugin  # noqa: F401  (importing the plugin installs the patch, as a locustfile does)


class _UnconnectedWorker(WorkerRunner):
    """A worker runner without a master: only its class is read when the files are closed."""

    def __init__(self) -> None:
        self.greenlet = None
        self.exceptions = {}


def _writer(tmp_path: Path, environment: Environment) -> tuple[locust_stats.StatsCSVFileWriter, Path]:
    prefix = str(tmp_path / "run")
    writer = locust_stats.StatsCSVFileWriter(environment, locust_stats.PERCENTILES_TO_REPORT, prefix)
    environment.stats.log_request("WS", "echo", 12, 59)
    environment.stats.log_request("WS", "echo", 14, 59)
    return writer, tmp_path / "run_stats.csv"


def test_closing_writes_the_rows_as_they_stand(tmp_path: Path) -> None:
    environment = Environment(user_classes=[])
    environment.create_local_runner()
    writer, path = _writer(tmp_path, environment)
    writer.close_files()  # the periodic writer never ran: the rows come from the last write alone
    lines = path.read_text().splitlines()
    assert lines[0].startswith("Type,Name,Request Count,Failure Count")
    assert lines[1].startswith("WS,echo,2,0,") and lines[2].startswith(",Aggregated,2,0,")


def test_a_worker_closes_its_files_without_writing_them(tmp_path: Path) -> None:
    environment = Environment(user_classes=[])
    environment.runner = _UnconnectedWorker()
    writer, path = _writer(tmp_path, environment)
    writer.close_files()  # its rows are only the part since its last report to the master
    assert path.read_text() == ""
