"""Free loopback ports for the processes a test starts."""

from __future__ import annotations

import random
import socket

#: Ports are picked below the kernel's ephemeral range (``ip_local_port_range``, 32768 and up
#: here), so a port handed out here cannot be taken meanwhile by a server that binds port 0.
_RANGE = (20000, 32000)
_handed_out: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now (and not handed out before)."""
    for _ in range(200):
        port = random.randint(*_RANGE)
        if port in _handed_out:
            continue
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            probe.close()
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")
