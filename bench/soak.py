"""A long soak, as a user runs one: counts against the target's own, and the generator's memory.

    python -m bench.soak [--users 1000] [--minutes 60] [--out reports/soak]
    python -m bench.soak --idle [--users 1000] [--minutes 3]

The default mode starts the embedded target with faults injected (server closes with 1011,
drops without a close frame, handshakes rejected with 503) and a real ``locust --headless``
process holding ``--users`` sessions: half echo every second, half send a protocol heartbeat
every 10 s. The generator's RSS is read from /proc every minute. At the end the summary's counts
are compared with the target's ``/stats``: they must be equal. The RSS slope after the warm-up
(the first quarter of the run) is reported per hour.

``--idle`` holds ``--users`` silent sessions in this process with the garbage collector off and
prints RSS every 10 s: memory that the sampling itself allocates (a new histogram every sample
would be ~0.85 MiB/s) shows as a climb, since nothing collects it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).with_name("soak_locustfile.py")
#: Faults of the target: every Nth session closed with 1011 or dropped, every Nth handshake 503.
FAULTS = ["--close-every", "50", "--close-code", "1011", "--close-after", "20"]
FAULTS += ["--drop-every", "70", "--drop-after", "35", "--reject-every", "40", "--reject-status", "503"]


def rss_mib(pid: int) -> float:
    """Return a process's resident set size in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Return the least-squares slope of (minutes, MiB) points, in MiB per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return 60.0 * cov / var if var else 0.0


def compare(summary: dict[str, Any], stats: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Return (what, ours, target's) for every count both sides have."""
    return [
        ("sessions opened", summary["sessions"]["opened"], stats["sessions"]["opened"]),
        ("handshakes refused with 503", summary["handshake_failures"].get("http_503", 0),
         stats["handshakes"]["rejected"].get("503", 0)),
        ("server closes", summary["closes"]["server"], stats["closes"]["server"]),
        ("client closes", summary["closes"]["client"], stats["closes"]["client"]),
        ("abnormal ends", summary["closes"]["abnormal"], stats["closes"]["abnormal"]),
        ("messages sent -> received", summary["messages"]["sent"], stats["messages"]["received"]),
        ("messages received <- sent", summary["messages"]["received"], stats["messages"]["sent"]),
    ]  # fmt: skip


def soak(users: int, minutes: float, out: Path) -> int:
    """Run the soak; print every minute's RSS and the final comparison; return 0 when all equal."""
    from loadtest.server.process import EmbeddedServer  # plain subprocess: no gevent here

    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    with EmbeddedServer(FAULTS) as server:
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
        cmd += ["--host", server.url, "-u", str(users), "-r", "50", "-t", f"{int(minutes * 60)}s"]
        cmd += ["--ws-summary", str(summary_path), "--ws-reconnect-base", "0.5", "--ws-reconnect-cap", "5"]
        started = time.monotonic()
        with open(out / "locust.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            points: list[tuple[float, float]] = []
            while proc.poll() is None:
                time.sleep(60 - (time.monotonic() - started) % 60)
                if proc.poll() is not None:
                    break
                minute = round((time.monotonic() - started) / 60, 1)
                points.append((minute, rss_mib(proc.pid)))
                print(json.dumps({"minute": minute, "rss_mib": round(points[-1][1], 1)}), flush=True)
            code = proc.wait()
        stats = _settled(server)
    summary = json.loads(summary_path.read_text())
    warm = [p for p in points if p[0] >= minutes / 4]
    result = {
        "users": users,
        "minutes": minutes,
        "locust_exit_code": code,
        "rss_mib_first_last": [round(points[0][1], 1), round(points[-1][1], 1)] if points else None,
        "rss_slope_mib_per_hour_after_warmup": round(slope_per_hour(warm), 2),
        "rss_slope_percent_per_hour": round(100 * slope_per_hour(warm) / warm[0][1], 2) if warm else None,
        "counts": [
            {"what": w, "ours": a, "target": b, "equal": a == b} for w, a, b in compare(summary, stats)
        ],
    }
    (out / "soak.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if all(row["equal"] for row in result["counts"]) else 1


def _settled(server: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    stats: dict[str, Any] = server.stats()
    while stats["sessions"]["current"] and time.monotonic() < deadline:
        time.sleep(0.2)
        stats = server.stats()
    return stats


def idle(users: int, minutes: float) -> int:
    """Hold silent sessions with the garbage collector off; print RSS every 10 s and the slope."""
    code = f"import bench.soak_idle as m; m.main({users}, {minutes})"
    return subprocess.call(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "soak")
    parser.add_argument("--idle", action="store_true", help="silent sessions, garbage collector off")
    args = parser.parse_args()
    if args.idle:
        return idle(args.users, args.minutes or 3.0)
    return soak(args.users, args.minutes or 60.0, args.out)


if __name__ == "__main__":
    sys.exit(main())
