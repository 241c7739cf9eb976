"""Scale past one process and one source address: open-file limits and source-address picking.

A session holds one socket, so a process holding N sessions needs N file descriptors plus a
few hundred for Python, Locust and the logs. ``raise_nofile`` raises the soft limit up to the
hard limit (the most an unprivileged process may do) and says how to raise the hard one.

One source address reaches one destination ``(address, port)`` from at most ~28,000 ephemeral
ports (``net.ipv4.ip_local_port_range``); several source addresses (``127.0.0.2-127.0.0.9`` on
loopback, or addresses assigned to the load generator's interfaces) multiply that.
``SourceIPs`` hands them out round-robin, one per session.
"""

from __future__ import annotations

import ipaddress
import resource

from loadtest.errors import ConfigError

__all__ = ["MAX_SOURCE_IPS", "SourceIPs", "nofile_wanted", "parse_source_ips", "raise_nofile"]

#: Most addresses a range may expand to (a typo such as 10.0.0.0-10.255.0.0 must not eat memory).
MAX_SOURCE_IPS = 4096
#: File descriptors kept free beyond the sessions (Python, Locust, logs, the master connection).
NOFILE_RESERVE = 256


def nofile_wanted(users: int) -> int:
    """Return the open-files limit ``users`` sessions need (two per user for reconnects, plus a reserve)."""
    return max(0, users) * 2 + NOFILE_RESERVE


def raise_nofile(wanted: int) -> str | None:
    """Raise the RLIMIT_NOFILE soft limit toward ``wanted``.

    The soft limit is raised to ``min(wanted, hard)``; it is never lowered.

    Args:
        wanted: File descriptors this process will need (see :func:`nofile_wanted`).

    Returns:
        None when the soft limit now covers ``wanted``; otherwise one line saying what the limit
        is and how to raise the hard limit (shell, Docker, Kubernetes).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            return f"could not raise the open-files limit from {soft} to {target}: {exc}"
        soft = target
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return None
    return (
        f"open-files limit is {soft} (hard limit {hard}) but about {wanted} are needed: sessions beyond it "
        f"will fail with 'Too many open files'; raise the hard limit (shell: ulimit -n {wanted}; "
        f"docker: --ulimit nofile={wanted}:{wanted}; Kubernetes: set by the container runtime/node, "
        f"e.g. containerd's LimitNOFILE) or run more worker processes"
    )


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ConfigError(
            f"--ws-source-ips: {text!r} is not an IP address; use addresses like 127.0.0.2, "
            "ranges like 127.0.0.2-127.0.0.9, or ::1, separated by commas."
        ) from None


def parse_source_ips(text: str) -> list[str]:
    """Parse a source-address list: single addresses, ``first-last`` ranges, comma-separated.

    Examples: ``127.0.0.2-127.0.0.9``, ``10.0.0.5,10.0.0.6``, ``::1``, ``fd00::1-fd00::4``.
    Duplicates are dropped, the order is kept.

    Args:
        text: The option's value.

    Returns:
        The addresses, as strings, in the order given.

    Raises:
        ConfigError: On an empty list, a malformed address, a range mixing IPv4 and IPv6, a
            range whose end is before its start, or more than :data:`MAX_SOURCE_IPS` addresses.
    """
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or not all(parts):
        raise ConfigError(
            f"--ws-source-ips: {text!r} has an empty entry; give addresses or ranges separated by commas."
        )
    result: dict[str, None] = {}
    for part in parts:
        first_text, dash, last_text = part.partition("-")
        first = _address(first_text.strip())
        last = _address(last_text.strip()) if dash else first
        if first.version != last.version:
            raise ConfigError(f"--ws-source-ips: the range {part!r} mixes IPv4 and IPv6.")
        count = int(last) - int(first) + 1
        if count < 1:
            raise ConfigError(f"--ws-source-ips: the range {part!r} ends before it starts.")
        if len(result) + count > MAX_SOURCE_IPS:
            raise ConfigError(f"--ws-source-ips: {text!r} has more than {MAX_SOURCE_IPS} addresses.")
        for offset in range(count):
            result[str(first + offset)] = None
    return list(result)


class SourceIPs:
    """Hand out source addresses round-robin, one per session.

    No lock is needed: gevent switches greenlets only on I/O, and ``next`` does none. An empty
    picker returns ``""`` (let the kernel choose), which ``Session(source_ip=...)`` accepts.
    """

    __slots__ = ("_addresses", "_index")

    def __init__(self, addresses: list[str] | tuple[str, ...] = ()) -> None:
        """Keep ``addresses`` (as parsed by :func:`parse_source_ips`)."""
        self._addresses = tuple(addresses)
        self._index = 0

    @classmethod
    def parse(cls, text: str) -> SourceIPs:
        """Return a picker for the option text (empty text: no source binding)."""
        return cls(parse_source_ips(text) if text.strip() else ())

    def __len__(self) -> int:
        """Return how many addresses are in rotation."""
        return len(self._addresses)

    @property
    def addresses(self) -> tuple[str, ...]:
        """Return the addresses in rotation."""
        return self._addresses

    def next(self) -> str:
        """Return the next address in rotation, or ``""`` when there is none."""
        if not self._addresses:
            return ""
        address = self._addresses[self._index]
        self._index = (self._index + 1) % len(self._addresses)
        return address
