"""Make ``locust -f myfile.py --help`` list the ``--ws-*`` options.

Locust prints ``--help`` before it imports the locustfile, so options that a locustfile's
imports register never show there (locustio/locust#2917). The ``loadtest-help.pth`` file this
package installs runs :func:`install` when Python starts: in a ``locust`` process asked for
``--help`` (and only then) it imports :mod:`loadtest.plugin`, whose parser listener adds the
``--ws-*`` options to the help. Every other process pays for one ``sys.argv`` look-up.
"""

from __future__ import annotations

import os
import sys


def _is_locust_help(argv: list[str], orig_argv: list[str]) -> bool:
    if not ("-h" in argv or "--help" in argv):
        return False
    program = os.path.basename(argv[0]) if argv else ""
    if program in ("locust", "locust.exe"):
        return True
    # python -m locust: the module name is only in the interpreter's original arguments
    return "-m" in orig_argv and orig_argv[orig_argv.index("-m") + 1 :][:1] == ["locust"]


def install() -> None:
    """Register the ``--ws-*`` options with Locust's parser when ``locust --help`` runs."""
    if _is_locust_help(list(getattr(sys, "argv", [])), list(getattr(sys, "orig_argv", []))):
        import loadtest.plugin  # noqa: F401 (registers the init_command_line_parser listener)
