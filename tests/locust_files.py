"""Read Locust's own outputs in tests: its ``--csv`` stats rows and the JSON list ``--json`` prints."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def stats_rows(prefix: str | Path) -> dict[str, tuple[int, int]]:
    """Return ``<prefix>_stats.csv`` as name -> (requests, failures), ``Aggregated`` included."""
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {
            row["Name"]: (int(row["Request Count"]), int(row["Failure Count"]))
            for row in csv.DictReader(handle)
        }


def printed_json(stdout: str) -> list[dict[str, Any]]:
    """Return the rows ``--json`` printed: Locust's last JSON list on stdout, indented."""
    entries, _ = json.JSONDecoder().raw_decode(stdout[stdout.rindex("\n[\n") + 1 :])
    return list(entries)
