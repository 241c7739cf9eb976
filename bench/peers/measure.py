"""The kernel's accounting of a client's whole process tree: CPU time and resident memory.

A client peer is started pinned to one core and, where the machine lets us create one, in a
cgroup v2 of its own: ``cpu.stat``'s ``usage_usec`` is then every CPU microsecond its processes
and threads used, children (even exited ones) included, counted by the scheduler. Without a
writable cgroup v2 the peer runs in its own process group and CPU is the sum, over the group's
live processes, of ``utime + stime + cutime + cstime`` from ``/proc/PID/stat`` (children that
exited are in their reaper's ``cutime``); its resolution is one clock tick (10 ms).

Resident memory is the sum of ``VmRSS`` over the tree's processes (shared pages counted once
per process, as ``ps`` does); the bench subtracts a run with no sessions from it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: Where a cgroup v2 hierarchy may be mounted: alone, or beside v1 (a "hybrid" machine).
CGROUP2_MOUNTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _cgroup2_root() -> Path | None:
    """Return a cgroup v2 directory we may create groups in, or None."""
    for mount in CGROUP2_MOUNTS:
        if not (mount / "cgroup.procs").exists() or not (mount / "cgroup.subtree_control").exists():
            continue
        probe = mount / f"loadtest-bench-probe-{os.getpid()}"
        try:
            probe.mkdir()
        except OSError:
            continue
        readable = (probe / "cpu.stat").exists()
        probe.rmdir()
        if readable:
            return mount
    return None


class Accounting:
    """How client CPU is counted on this machine (decided once, said in the output)."""

    def __init__(self, force_proc: bool = False) -> None:
        self.root = None if force_proc else _cgroup2_root()
        self._serial = 0

    @property
    def method(self) -> str:
        """Return one line naming the method."""
        if self.root is not None:
            return f"cgroup v2 cpu.stat usage_usec of a group per client run (under {self.root})"
        return "/proc utime+stime+cutime+cstime of the client's process group (10 ms ticks)"

    def new_group(self) -> Path | None:
        """Create a fresh, empty cgroup for one client run (None without cgroup v2)."""
        if self.root is None:
            return None
        self._serial += 1
        group = self.root / f"loadtest-bench-{os.getpid()}-{self._serial}"
        group.mkdir()
        return group


def _pin_and_join(core: int | None, group: Path | None) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))
        if core is not None:
            os.sched_setaffinity(0, {core})

    return setup


def pinned_popen(
    argv: Sequence[str], *, core: int | None, group: Path | None = None, **kwargs: object
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, pinned to ``core``, inside ``group`` if given."""
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        list(argv), preexec_fn=_pin_and_join(core, group), start_new_session=True, **kwargs
    )


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from "state" on: field 3 is index 0


def _vm_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass  # exited between listing and reading: it holds no memory any more
    return 0


class ClientTree:
    """One client peer run: its process tree, CPU and memory as the kernel counts them."""

    def __init__(
        self, argv: Sequence[str], *, accounting: Accounting, core: int | None, env: dict[str, str], log: Path
    ) -> None:
        self.group = accounting.new_group()
        self._log = open(log, "wb")  # noqa: SIM115 (closed in stop())
        self.process = pinned_popen(
            argv,
            core=core,
            group=self.group,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def pids(self) -> list[int]:
        """Return the tree's live process ids."""
        if self.group is not None:
            text = (self.group / "cgroup.procs").read_text()
            return [int(pid) for pid in text.split()]
        pgid, pids = self.process.pid, []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                fields = _proc_stat(int(entry.name))
                if fields is not None and int(fields[2]) == pgid:  # field 5: pgrp
                    pids.append(int(entry.name))
        return pids

    def cpu_us(self) -> int:
        """Return the CPU microseconds the tree has used since it started."""
        if self.group is not None:
            for line in (self.group / "cpu.stat").read_text().splitlines():
                name, value = line.split()
                if name == "usage_usec":
                    return int(value)
            raise RuntimeError(f"no usage_usec in {self.group}/cpu.stat")
        ticks = 0
        for pid in self.pids():
            fields = _proc_stat(pid)
            if fields is not None:  # utime, stime, cutime, cstime: fields 14-17
                ticks += sum(int(value) for value in fields[11:15])
        return ticks * 1_000_000 // CLOCK_TICKS_PER_S

    def rss_kib(self) -> int:
        """Return the sum of VmRSS over the tree's processes."""
        return sum(_vm_rss_kib(pid) for pid in self.pids())

    def alive(self) -> bool:
        """Return True while the peer's main process runs."""
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> int:
        """Stop the tree (SIGTERM, SIGKILL after ``timeout_s``), remove its cgroup; return the exit code."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait(timeout_s)
        self._log.close()
        if self.group is not None:
            kill = self.group / "cgroup.kill"
            if kill.exists() and self.pids():  # a straggler that left the process group
                kill.write_text("1")
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    self.group.rmdir()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        return code
