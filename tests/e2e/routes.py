"""Give ``--ws-*`` options to real Locust processes by one route, run, and collect what happened.

Routes: the command line, ``LOCUST_WS_*`` variables, ``locust.conf``, ``[tool.locust]`` in
``pyproject.toml``, the web UI form (the page is read, the form submitted as the browser does),
and a master with plain workers (only the master is given the options). Every route runs the
same locustfile against the same target for a few seconds and returns the run's summary, the
target's own counts and the files the run wrote.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.options import BY_DEST, OPTIONS, Option
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ROUTES = ("cli", "env", "conf", "toml", "web", "workers")

Values = dict[str, Any]  # option dest -> value (str, number, bool, or list for repeatable options)


@dataclass
class Outcome:
    """What one run produced."""

    summary: dict[str, Any]
    server: dict[str, Any] | None  # the target's /stats (None when Locust started the target)
    folder: Path
    output: str  # stdout + stderr of every process
    route: str
    form_fields: set[str] = field(default_factory=set)  # --ws-* fields the web UI form showed


@dataclass(frozen=True)
class Run:
    """One run: a scenario, its target, users, duration and the options under test."""

    scenario: str
    host: str  # "" lets Locust start the embedded target
    values: Values
    folder: Path
    users: int = 2
    run_time_s: int = 3


def _text(value: Any) -> str:
    return "true" if value is True else str(value)


def cli_args(values: Values) -> list[str]:
    """Return the options as command-line arguments."""
    args: list[str] = []
    for dest, value in values.items():
        flag = BY_DEST[dest].flag
        if isinstance(value, list):
            for item in value:
                args += [flag, _text(item)]
        elif value is True:
            args.append(flag)
        else:
            args += [flag, _text(value)]
    return args


def env_vars(values: Values) -> dict[str, str]:
    """Return the options as ``LOCUST_WS_*`` variables (lists in configargparse's ``[a, b]`` form)."""
    env = {}
    for dest, value in values.items():
        option: Option = BY_DEST[dest]
        env[option.env_var] = f"[{', '.join(map(_text, value))}]" if isinstance(value, list) else _text(value)
    return env


def conf_text(values: Values) -> str:
    """Return a ``locust.conf`` setting the options."""
    lines = []
    for dest, value in values.items():
        key = BY_DEST[dest].config_key
        lines.append(
            f"{key} = [{', '.join(map(_text, value))}]"
            if isinstance(value, list)
            else f"{key} = {_text(value)}"
        )
    return "\n".join(lines) + "\n"


def toml_text(values: Values) -> str:
    """Return a ``pyproject.toml`` whose ``[tool.locust]`` table sets the options."""
    lines = ["[tool.locust]"]
    for dest, value in values.items():
        lines.append(f"{BY_DEST[dest].config_key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _locust(run: Run, *extra: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(ROOT / "scenarios" / f"{run.scenario}.py"), *extra]


def _headless(run: Run) -> list[str]:
    args = [
        "--headless",
        "--only-summary",
        "-u",
        str(run.users),
        "-r",
        str(run.users),
        "-t",
        f"{run.run_time_s}s",
    ]
    return args + (["--host", run.host] if run.host else [])


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env["PYTHONPATH"] = str(ROOT)
    return {**env, **(extra or {})}


def _finish(proc: subprocess.Popen[str], timeout_s: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        out += f"\n[test harness: killed after {timeout_s:.0f} s]"
    return out


def _spawn(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def run_headless(run: Run, route: str) -> str:
    """Run Locust headless with the options given by ``route`` (cli, env, conf or toml)."""
    cwd = run.folder / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    cmd, env = _locust(run, *_headless(run)), _env()
    if route == "cli":
        cmd += cli_args(run.values)
    elif route == "env":
        env.update(env_vars(run.values))
    elif route == "conf":
        (cwd / "locust.conf").write_text(conf_text(run.values))
    elif route == "toml":
        (cwd / "pyproject.toml").write_text(toml_text(run.values))
    else:
        raise ValueError(route)
    return _finish(_spawn(cmd, cwd, env), run.run_time_s + 40)


def run_workers(run: Run) -> str:
    """Run a headless master given the options on its command line, and two plain workers."""
    port = free_port()
    master_args = ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
    master_cmd = _locust(run, *_headless(run), *master_args, "--expect-workers", "2", *cli_args(run.values))
    master = _spawn(master_cmd, run.folder, _env())
    workers = [
        _spawn(
            _locust(run, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)),
            run.folder,
            _env(),
        )
        for _ in range(2)
    ]
    out = _finish(master, run.run_time_s + 60)
    return out + "".join(_finish(worker, 20) for worker in workers)


def _get(url: str, timeout_s: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (loopback)
        body: bytes = response.read()
        return body


def form_fields(page: str) -> dict[str, Any]:
    """Return the ``extra_options`` of the template arguments embedded in Locust's page."""
    match = re.search(r"window\.templateArgs\s*=\s*(\{.*?\})\s*</script>", page, re.S)
    assert match, "Locust's page has no templateArgs"
    args: dict[str, Any] = json.loads(match.group(1))
    extra: dict[str, Any] = args.get("extra_options", {})
    return extra


def form_value(value: Any) -> str:
    """Return a value as the form sends it (lists comma-joined, checkboxes ``true``)."""
    return ",".join(map(_text, value)) if isinstance(value, list) else _text(value)


def run_web(run: Run, wait: Callable[[Callable[[], bool], float], None]) -> tuple[str, set[str]]:
    """Start Locust's web UI, read its form, submit it with the options, wait for the stop, quit."""
    port = free_port()
    cmd = _locust(run, "--web-host", "127.0.0.1", "--web-port", str(port))
    if run.host:
        cmd += ["--host", run.host]
    proc = _spawn(cmd, run.folder, _env())
    base = f"http://127.0.0.1:{port}"
    page = ""
    try:

        def page_up() -> bool:
            nonlocal page
            try:
                page = _get(base + "/").decode()
            except (urllib.error.URLError, ConnectionError):
                return False
            return True

        wait(page_up, 30.0)
        shown = set(form_fields(page))
        host = run.host or json.loads(_get(base + "/ws/data"))["summary"]["target"]
        form = {"user_count": str(run.users), "spawn_rate": str(run.users), "host": host}
        form |= {"run_time": f"{run.run_time_s}s", **{k: form_value(v) for k, v in run.values.items()}}
        data = urllib.parse.urlencode(form).encode()
        answer = json.loads(urllib.request.urlopen(base + "/swarm", data=data, timeout=10).read())  # noqa: S310
        assert answer.get("success") is True, answer

        def stopped() -> bool:
            return bool(json.loads(_get(base + "/ws/data"))["state"] == "stopped")

        wait(stopped, run.run_time_s + 30.0)
    finally:
        proc.send_signal(signal.SIGTERM)
    return _finish(proc, 20), shown


def wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``condition`` every 0.1 s until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting after {timeout_s:.0f} s"
        time.sleep(0.1)


def execute(run: Run, route: str) -> tuple[str, set[str]]:
    """Run ``run`` with its options given by ``route``; return the output and the form's fields."""
    if route == "web":
        return run_web(run, wait_until)
    if route == "workers":
        return run_workers(run), set()
    return run_headless(run, route), set()


def form_fields_for(scenario: str) -> list[str]:
    """Return the ``--ws-*`` fields the form must show for a scenario (its declared groups only)."""
    declared = {
        "burst_send": "burst",
        "heartbeat_idle": "heartbeat",
        "reconnect_storm": "storm",
        "recorded_ticker": "har",
        "fanout": "fanout",
        "socketio_chat": "socketio",
        "graphql_subscription": "graphql",
        "stomp_topic": "stomp",
    }.get(scenario)
    return sorted(
        o.dest
        for o in OPTIONS
        if o.in_web_ui and (o.group in ("session", "reconnect", "output") or o.group == declared)
    )
