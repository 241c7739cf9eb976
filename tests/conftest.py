"""Shared fixtures. The whole suite runs gevent-patched, as a Locust process does."""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import signal  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import pytest  # noqa: E402

from loadtest.server.process import EmbeddedServer  # noqa: E402
from tests.nginx import nginx  # noqa: E402, F401 (a fixture: a real nginx in front of a port)

# A shell that starts this suite in the background (scripts/test runs two halves side by side)
# leaves SIGINT ignored, and every Locust process a test starts would inherit that and never see
# the Ctrl-C a test sends it. A handled signal is reset to the default in a child: handle it here.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: Every wait in the tests is a multiple of this unit; raise it on a slow machine.
UNIT_S = float(os.environ.get("LOADTEST_TEST_TIMEOUT_FACTOR", "1"))


@pytest.fixture
def serve() -> Iterator[Callable[..., EmbeddedServer]]:
    """Start embedded target servers on free loopback ports; stop them after the test."""
    servers: list[EmbeddedServer] = []

    def start(*args: str) -> EmbeddedServer:
        server = EmbeddedServer(list(args)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        assert server.stop() == 0, server.stderr  # the target shut down cleanly
