"""Shared bench plumbing: an in-process Locust runner against a real server process."""

from __future__ import annotations

import resource
import time
from typing import Any

import gevent
from locust.env import Environment

from loadtest.plugin.state import state_for


def cpu_s() -> float:
    """Return this process's CPU time (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kib() -> int:
    """Return this process's resident set size in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def raise_nofile(wanted: int) -> int:
    """Raise the open-files soft limit towards ``wanted``; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def start_users(user_class: type, host: str, users: int, spawn_rate: float) -> tuple[Environment, Any]:
    """Start ``users`` users of ``user_class`` in a local runner; return the environment and runner."""
    environment = Environment(user_classes=[user_class], host=host)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=spawn_rate)
    return environment, runner


def wait_for(predicate: Any, timeout_s: float, step_s: float = 0.1) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` passes (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        gevent.sleep(step_s)
    return bool(predicate())


def recorder(environment: Environment) -> Any:
    """Return the environment's recorder."""
    return state_for(environment).recorder
