"""Run the embedded target server: ``python -m loadtest.server [options]``."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from loadtest.server import main

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """When started by a load generator, end with it even if it is killed with SIGKILL."""
    parent = os.environ.get("LOADTEST_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        sys.exit(0)


if __name__ == "__main__":
    _die_with_parent()
    sys.exit(main())
