"""Idle heartbeat sessions at scale: one worker process, then many processes and source addresses.

    python -m bench.idle_scale one --users 8000                  # one process: RSS and CPU per session
    python -m bench.idle_scale fleet --users 50000 --processes 6 --servers 6 --run-time 150
    python -m bench.idle_scale fleet --users 400 --sessions-per-user 250 --rate 2 ...  # 100,000 sessions

``one`` runs N heartbeat users in this process (a local runner, like bench.idle_memory) against
one embedded server and reports RSS per session and CPU per 1,000 sessions while idle.

``fleet`` starts S embedded servers (one process each, on loopback ports) and runs
``locust --processes P -f bench/idle_scale.py`` against them: each user picks a server and a
source address (127.0.0.2-127.0.0.9) round-robin. It samples the servers' CPU and ``/stats``
every 5 s and says which side was the bottleneck: servers near 100% CPU and handshake timeouts
mean the target, not the load generator, limited the run.

This file is also the locustfile ``fleet`` runs (``HeartbeatUser``), configured by the
environment: BENCH_TARGETS (comma-separated ws:// URLs), BENCH_SOURCE_IPS, BENCH_HEARTBEAT_S,
BENCH_SESSIONS_PER_USER (each user holds that many sessions, all pinged at once).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust import constant, events, task  # noqa: E402

from loadtest import WebSocketUser  # noqa: E402
from loadtest.exchange import heartbeat_each  # noqa: E402
from loadtest.plugin import lost, scale  # noqa: E402
from loadtest.plugin import user as user_module  # noqa: E402
from loadtest.server.process import EmbeddedServer  # noqa: E402

HEARTBEAT_S = float(os.environ.get("BENCH_HEARTBEAT_S", "10"))
SESSIONS_PER_USER = int(os.environ.get("BENCH_SESSIONS_PER_USER", "1"))
PONG_TIMEOUT_S = 10.0
_TARGETS = itertools.cycle([t for t in os.environ.get("BENCH_TARGETS", "").split(",") if t] or [""])
_SOURCES = scale.SourceIPs.parse(os.environ.get("BENCH_SOURCE_IPS", ""))

if len(_SOURCES):
    # Bind each new session to the next address (unless --ws-source-ips already chose one).
    _Session = user_module.Session

    def _session_with_source(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("source_ip"):
            kwargs["source_ip"] = _SOURCES.next()
        return _Session(*args, **kwargs)

    user_module.Session = _session_with_source  # type: ignore[assignment,misc]


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    lost.install(environment)  # idempotent; reports workers lost under CPU starvation


class HeartbeatUser(WebSocketUser):
    """Holds its sessions and sends a protocol ping on each every BENCH_HEARTBEAT_S seconds."""

    wait_time = constant(HEARTBEAT_S)
    sessions_per_user = SESSIONS_PER_USER

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        target = next(_TARGETS)
        if target:
            self.host = target

    @task
    def heartbeat(self) -> None:
        if SESSIONS_PER_USER == 1:
            session = self.wait_open()
            if session is not None:
                session.ping()
            return
        beating = self.sessions
        answered = heartbeat_each(beating, name="ping", timeout_s=PONG_TIMEOUT_S)
        for session, came in zip(beating, answered, strict=True):
            if not came and session.is_open:
                session.declare_dead("dead")


# -- measurement helpers ---------------------------------------------------------------------------
def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _tree(pid: int) -> list[int]:
    """Return ``pid`` and its children (Locust's forked workers), from /proc."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                pids.append(int(entry.name))
    return pids


def _rss_of(pids: list[int]) -> int:
    """Return the summed VmRSS of ``pids`` in KiB (processes gone meanwhile count 0)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _ticks_of(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += _cpu_ticks(pid)
        except OSError:
            continue
    return total


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(users: int, hold_s: float, rate: float) -> dict[str, Any]:
    """Hold ``users`` heartbeat users (BENCH_SESSIONS_PER_USER sessions each) in this process.

    Returns RSS and CPU per session.
    """
    from locust.env import Environment

    seats = SESSIONS_PER_USER
    sessions = users * seats
    warning = scale.raise_nofile(scale.nofile_wanted(sessions + seats))
    with EmbeddedServer([]) as server:
        environment = Environment(user_classes=[HeartbeatUser], host=server.url)
        runner = environment.create_local_runner()
        from loadtest.plugin.state import state_for

        rec = state_for(environment).recorder
        runner.start(1, spawn_rate=1)
        deadline = time.monotonic() + 10
        while rec.concurrent < seats and time.monotonic() < deadline:
            gevent.sleep(0.1)
        gc.collect()
        before = _rss_kib()
        started = time.monotonic()
        runner.start(users + 1, spawn_rate=rate)
        deadline = time.monotonic() + 180
        while rec.concurrent < sessions + seats and time.monotonic() < deadline:
            gevent.sleep(0.5)
        ramp_s = time.monotonic() - started
        gc.collect()
        after = _rss_kib()
        cpu0, held0 = _cpu_s(), rec.concurrent
        gevent.sleep(hold_s)
        idle_cpu = _cpu_s() - cpu0
        held = rec.concurrent
        runner.quit()
        stats = server.stats()
    return {
        "mode": "one",
        "users": users,
        "sessions_per_user": seats,
        "sessions": sessions,
        "heartbeat_s": HEARTBEAT_S,
        "nofile_warning": warning,
        "open_before_hold": held0 - seats,
        "open_after_hold": held - seats,
        "ramp_s": round(ramp_s, 1),
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_session": round((after - before) / sessions, 2),
        "cpu_s_per_1000_sessions_per_s": round(idle_cpu / hold_s / (sessions / 1000), 5),
        "server_sessions_opened": stats["sessions"]["opened"],
    }


def run_fleet(args: argparse.Namespace) -> dict[str, Any]:
    """Run locust --processes against several servers; sample servers; return the verdict."""
    warning = scale.raise_nofile(resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    servers = [EmbeddedServer([], startup_timeout=30).start() for _ in range(args.servers)]
    samples: list[dict[str, Any]] = []
    try:
        env = dict(os.environ)
        env["BENCH_TARGETS"] = ",".join(s.url for s in servers)
        env["BENCH_SOURCE_IPS"] = args.source_ips
        env["BENCH_HEARTBEAT_S"] = str(HEARTBEAT_S)
        env["BENCH_SESSIONS_PER_USER"] = str(args.sessions_per_user)
        summary_path = Path(tempfile.mkdtemp()) / "summary.json"
        cmd = [sys.executable, "-m", "locust", "-f", __file__, "--headless"]
        cmd += ["--processes", str(args.processes), "-u", str(args.users), "-r", str(args.rate)]
        # Start only once every worker is connected: Locust's default (one) gave the first worker
        # every user while the others were still starting (EMFILE at 20,000 descriptors).
        cmd += ["--expect-workers", str(args.processes), "--expect-workers-max-wait", "180"]
        cmd += [
            "-t",
            f"{args.run_time}s",
            "--stop-timeout",
            "30",
            "--ws-sessions-per-user",
            str(args.sessions_per_user),
        ]
        port = _free_port()  # never Locust's default 5557: another run may own it
        cmd += ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
        cmd += ["--master-port", str(port)]
        cmd += ["--ws-summary", str(summary_path), "--host", servers[0].url, "--only-summary"]
        started = time.monotonic()
        ticks = {s.pid: _cpu_ticks(s.pid) for s in servers if s.pid}
        hz = os.sysconf("SC_CLK_TCK")
        usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # Locust's log goes to a file, read at the end: a pipe nobody reads for minutes fills up
        # and blocks the master mid-run (then its workers look lost).
        log_path = summary_path.with_name("locust.log")
        log = log_path.open("w")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
        last = time.monotonic()
        generator_ticks = 0
        while proc.poll() is None and time.monotonic() - started < args.run_time + 120:
            gevent.sleep(5)
            now = time.monotonic()
            point: dict[str, Any] = {"t": round(now - started, 1), "server_current": 0, "server_cpu_pct": []}
            generator = _tree(proc.pid)
            cur_ticks = _ticks_of(generator)
            if generator_ticks:
                point["generator_cpu_pct"] = round(100 * (cur_ticks - generator_ticks) / hz / (now - last))
            generator_ticks = cur_ticks
            point["generator_processes"] = len(generator)
            point["generator_rss_mib"] = round(_rss_of(generator) / 1024)
            point["server_rss_mib"] = round(_rss_of([s.pid for s in servers if s.pid]) / 1024)
            point["load_average_1m"] = round(os.getloadavg()[0], 1)
            for server in servers:
                assert server.pid is not None
                cur = _cpu_ticks(server.pid)
                point["server_cpu_pct"].append(round(100 * (cur - ticks[server.pid]) / hz / (now - last)))
                ticks[server.pid] = cur
                try:
                    point["server_current"] += server.stats()["sessions"]["current"]
                except OSError as exc:
                    point["stats_error"] = f"{type(exc).__name__}: {exc}"
            last = now
            samples.append(point)
            print(json.dumps(point), file=sys.stderr, flush=True)
        if proc.poll() is None:
            proc.terminate()  # the master ends its forked workers
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(timeout=60)
        log.close()
        stderr = log_path.read_text()
        usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        stats = [s.stats() for s in servers]
    finally:
        for server in servers:
            server.stop()
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    held = max((p["server_current"] for p in samples), default=0)
    sessions = args.users * args.sessions_per_user
    holding = [p for p in samples if p["server_current"] >= 0.99 * sessions]
    reached = holding[0]["t"] if holding else None
    per_1000 = sessions / 1000
    busy = max((max(p["server_cpu_pct"]) for p in samples), default=0)
    failures = summary.get("handshake_failures", {})
    generator_cpu = usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime
    verdict = []
    if held < sessions:
        verdict.append(f"held at most {held} of {sessions} sessions")
    if busy >= 90:
        verdict.append(f"a server process reached {busy}% CPU: the target is the bottleneck")
    if failures.get("timeout") and busy >= 90:
        verdict.append(f"{failures['timeout']} handshakes timed out: the servers could not answer in time")
    elif failures.get("timeout"):
        verdict.append(
            f"{failures['timeout']} handshakes timed out while no server passed {busy}% CPU: "
            "the load generator (CPU-starved workers) is the bottleneck"
        )
    lost_workers = summary.get("workers", {}).get("lost") or []
    if lost_workers:
        verdict.append(f"{len(lost_workers)} worker(s) missed heartbeats and were lost (CPU starvation)")
    return {
        "mode": "fleet",
        "users": args.users,
        "sessions_per_user": args.sessions_per_user,
        "sessions": sessions,
        "processes": args.processes,
        "servers": args.servers,
        "source_ips": args.source_ips,
        "heartbeat_s": HEARTBEAT_S,
        "nofile_warning": warning,
        "exit_code": proc.returncode,
        "max_server_sessions_held": held,
        "reached_99pct_at_s": reached,
        "held_99pct_for_s": round(holding[-1]["t"] - holding[0]["t"], 1) if holding else 0,
        "holding_generator_cpu_pct_mean": round(
            sum(p.get("generator_cpu_pct", 0) for p in holding) / len(holding), 1
        )
        if holding
        else None,
        "holding_generator_cpu_pct_per_1000": round(
            sum(p.get("generator_cpu_pct", 0) for p in holding) / len(holding) / per_1000, 3
        )
        if holding
        else None,
        "holding_generator_rss_mib_max": max((p["generator_rss_mib"] for p in holding), default=None),
        "holding_generator_rss_mib_per_1000": round(
            max(p["generator_rss_mib"] for p in holding) / per_1000, 2
        )
        if holding
        else None,
        "holding_server_rss_mib_max": max((p["server_rss_mib"] for p in holding), default=None),
        "server_peak_concurrent_sum": sum(s["sessions"]["peak_concurrent"] for s in stats),
        "max_server_cpu_pct": busy,
        "server_opened": sum(s["sessions"]["opened"] for s in stats),
        "summary_sessions": summary.get("sessions"),
        "handshake_failures": failures,
        "connect_ms": summary.get("connect_ms"),
        "workers_lost": lost_workers,
        "generator_cpu_s": round(generator_cpu, 1),
        "samples": samples,
        "verdict": "; ".join(verdict) or "all sessions held; no bottleneck seen",
        "locust_log": str(log_path),
        "locust_stderr_tail": stderr[-1500:],
    }


def main() -> None:
    """Parse the command line and run one measurement."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    one = sub.add_parser("one")
    one.add_argument("--users", type=int, default=8000)
    one.add_argument("--hold", type=float, default=30.0)
    one.add_argument("--rate", type=float, default=1000.0)
    fleet = sub.add_parser("fleet")
    fleet.add_argument("--users", type=int, default=50000)
    fleet.add_argument("--sessions-per-user", type=int, default=1)
    fleet.add_argument("--processes", type=int, default=6)
    fleet.add_argument("--servers", type=int, default=6)
    fleet.add_argument("--source-ips", default="127.0.0.2-127.0.0.9")
    fleet.add_argument("--rate", type=float, default=1000.0)
    fleet.add_argument("--run-time", type=int, default=150)
    args = parser.parse_args()
    result = run_one(args.users, args.hold, args.rate) if args.mode == "one" else run_fleet(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
