"""``python -m bench.peers``: run the matrix, print the runs, the table and the targets."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.peers import report
from bench.peers.measure import Accounting
from bench.peers.peers import PEERS
from bench.peers.run import Bench, Sample
from bench.peers.server import EchoServer
from bench.peers.workloads import workloads


def _keys(text: str, known: list[str], what: str) -> list[str]:
    chosen = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in chosen if key not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(known)})")
    return chosen


def _cores(server_core: int, client_core: int) -> tuple[int | None, int | None, str]:
    available = sorted(os.sched_getaffinity(0))
    if server_core in available and client_core in available and server_core != client_core:
        return server_core, client_core, f"server on core {server_core}, each client on core {client_core}"
    return None, None, f"NOT pinned: cores {available} available, {server_core} and {client_core} asked"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: short windows, 200 idle sessions, 1 repeat"
    )
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated: ours,k6,naive,floor")
    parser.add_argument("--workloads", default="a,al,a10,b,bs,c", help="comma-separated: a,al,a10,b,bs,c")
    parser.add_argument("--repeats", type=int, help="runs per (peer, workload); default 3 (1 with --quick)")
    parser.add_argument(
        "--server", choices=("picows", "websockets"), default="picows", help="the echo target"
    )
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument(
        "--proc-accounting", action="store_true", help="count CPU from /proc even if cgroup v2 works"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every sample and median here")
    parser.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    parser.add_argument(
        "--logs", type=Path, metavar="DIR", help="keep the clients' output here (default: a temp dir)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    by_key = workloads(args.quick)
    chosen_workloads = _keys(args.workloads, list(by_key), "workloads")
    chosen_peers = _keys(args.peers, list(PEERS), "peers")
    repeats = args.repeats or (1 if args.quick else 3)
    runnable = []
    for key in chosen_peers:
        missing = PEERS[key].missing()
        if missing:
            print(f"skipping {key}: {missing}")
        else:
            runnable.append(key)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 2,000 sessions need 2,000 descriptors
    server_core, client_core, pinning = _cores(args.server_core, args.client_core)
    accounting = Accounting(force_proc=args.proc_accounting)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="bench-peers-"))
    logs.mkdir(parents=True, exist_ok=True)
    context = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "cpu_accounting": accounting.method,
        "server": args.server,
        "pinning": pinning,
        "repeats": repeats,
        "quick": args.quick,
    }
    for name, value in context.items():
        print(f"{name}: {value}")
    print(f"client logs: {logs}", flush=True)
    samples: list[Sample] = []
    with EchoServer(args.server, server_core, logs / "server.log") as server:
        bench = Bench(server, accounting, client_core, logs)
        for key in chosen_workloads:
            workload = by_key[key]
            for repeat in range(1, repeats + 1):
                shift = (repeat - 1) % max(1, len(runnable))
                for peer in runnable[shift:] + runnable[:shift]:  # no peer always runs first
                    sample = bench.measure(PEERS[peer], workload, repeat)
                    samples.append(sample)
                    print(sample.describe(), flush=True)
    titles = {key: by_key[key].title for key in chosen_workloads}
    rows = report.table(samples, titles, runnable)
    print(f"\nMedians of {repeats} ({accounting.method}):")
    print(report.render_text(rows))
    spread = report.spreads(samples, runnable)
    if spread:
        print("\nRuns behind each median:")
        print("\n".join(spread))
    print("\nIssue 10's targets (ours / other, medians of this run):")
    print("\n".join(report.targets(samples)))
    if args.markdown:
        print()
        print(report.render_markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(report.as_json(samples, context), indent=2))
    failed = [sample for sample in samples if sample.error]
    return 1 if failed or not samples else 0


if __name__ == "__main__":
    sys.exit(main())
