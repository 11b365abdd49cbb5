"""The ``snnx`` console script: Ctrl-C while snnx (and JAX) are still importing is one line, exit 130.

A console script imports its target module before running anything, and
``import snnx.cli`` loads JAX, which takes seconds. A Ctrl-C in that window
used to print a long traceback, or land in one of JAX's callbacks, where Python
only reports "Exception ignored" and carries on. This module lives outside the
package so that it can install its handler before any of that is imported; once
``snnx.cli.main`` runs, Python's default handling (``KeyboardInterrupt``) is back
and the CLI handles it.
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_while_starting(signum, frame):
    sys.stderr.write("snnx: interrupted\n")
    sys.stderr.flush()
    os._exit(128 + signum)


# installed on import: the console script imports this module before it calls main()
_PREVIOUS = {s: signal.signal(s, _interrupted_while_starting) for s in (signal.SIGINT, signal.SIGTERM)}


def main() -> int:
    from snnx.cli import main as cli_main

    for s, handler in _PREVIOUS.items():
        signal.signal(s, handler)
    return cli_main()
